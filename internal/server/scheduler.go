package server

import (
	"context"
	"log/slog"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/scheduler"
)

// startScheduler runs the scheduler as an API client of this server,
// while it holds the bosun-scheduler lease (its own, so that it can
// fail over independently of the controllers).
func startScheduler(ctx context.Context, wg *sync.WaitGroup, serverURL string, b *pki.Bundle, log *slog.Logger) error {
	rc, err := componentConfig(serverURL, b, rbac.SchedulerUser, nil, "bosun-scheduler", 5000, 10000)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	log = log.With("component", scheduler.Name)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = controller.RunElected(ctx, client, controller.LeaderOptions{Lease: "bosun-scheduler"}, log, func(ctx context.Context) {
			c := controller.NewContext(client, nil, log)
			defer c.Shutdown()
			controller.RunLoops(ctx, c, []controller.Loop{
				{Name: "scheduler", Run: scheduler.New(client, c.Recorder(scheduler.Name), c.Clock, log).Run},
			})
		})
	}()
	return nil
}
