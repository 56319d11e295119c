package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

const createTarget = 1500 // objects/s

// createThroughput creates o.creates small ConfigMaps, then (on another
// fresh server) o.creates ~3 KiB Pods, from o.writers goroutines sharing
// one clientset.
func createThroughput(ctx context.Context, o options, out io.Writer) ([]row, error) {
	podJSON, _ := json.Marshal(benchPod(0))
	cmJSON, _ := json.Marshal(benchConfigMap(0))
	kinds := []struct {
		name   string
		size   int
		create func(ctx context.Context, cs kubernetes.Interface, i int) error
	}{
		{"configmaps", len(cmJSON), func(ctx context.Context, cs kubernetes.Interface, i int) error {
			_, err := cs.CoreV1().ConfigMaps(namespace).Create(ctx, benchConfigMap(i), metav1.CreateOptions{})
			return err
		}},
		{"pods", len(podJSON), func(ctx context.Context, cs kubernetes.Interface, i int) error {
			_, err := cs.CoreV1().Pods(namespace).Create(ctx, benchPod(i), metav1.CreateOptions{})
			return err
		}},
	}
	var rows []row
	for _, k := range kinds {
		rate, err := createKind(ctx, o, out, k.name, k.size, k.create)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", k.name, err)
		}
		rows = append(rows, judged(fmt.Sprintf("create %d %s (%d B as JSON), %d writers", o.creates, k.name, k.size, o.writers),
			fmt.Sprintf("%.0f /s", rate), fmt.Sprintf(">= %d /s", createTarget), rate >= createTarget))
	}
	return rows, nil
}

func createKind(ctx context.Context, o options, out io.Writer, name string, size int, create func(context.Context, kubernetes.Interface, int) error) (float64, error) {
	s, _, cs, err := start(ctx, o.bin)
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	if err := createNamespace(ctx, cs); err != nil {
		return 0, err
	}
	m := meter(s)
	elapsed, lat, err := benchserver.CreateAll(ctx, o.writers, o.creates, func(ctx context.Context, i int) error { return create(ctx, cs, i) })
	if err != nil {
		return 0, err
	}
	rate := float64(o.creates) / elapsed.Seconds()
	r, _ := s.RSS()
	fmt.Fprintf(out, "   %s: %d objects of %d B JSON in %s = %.0f /s; per-call latency p50 %s, p99 %s, max %s; server RSS after %s\n",
		name, o.creates, size, elapsed.Round(time.Millisecond), rate,
		ms(benchserver.Percentile(lat, 0.5)), ms(benchserver.Percentile(lat, 0.99)), ms(benchserver.Percentile(lat, 1)), mib(float64(r)))
	fmt.Fprintf(out, "   %s\n", m)
	return rate, nil
}
