package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/controller/namespace"
	"github.com/bosun-sh/bosun/internal/pki"
)

// startControllers runs the built-in control loops as API clients of
// this server.
func startControllers(ctx context.Context, wg *sync.WaitGroup, serverURL string, b *pki.Bundle, log *slog.Logger) error {
	cfg := &rest.Config{
		Host:            serverURL,
		TLSClientConfig: rest.TLSClientConfig{CAData: b.CAPEM, CertData: b.AdminCertPEM, KeyData: b.AdminKeyPEM},
		QPS:             200,
		Burst:           400,
		UserAgent:       "bosun-controller-manager",
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("controller stopped", "controller", name, "err", err)
			}
		}()
	}
	run("namespace", namespace.New(client, dyn, log.With("controller", "namespace")).Run)
	return nil
}
