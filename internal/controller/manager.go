// Package controller runs bosun's built-in control loops. Each loop lives
// in its own sub-package with a Run(ctx) error method and a pure reconcile
// that tests call directly; this package gives them what they share — one
// informer factory, an event recorder per component, a clock — and runs
// them under leader election so that only one server's loops act at a time.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Context is what every control loop is given.
type Context struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Metadata reads objects of any resource as metadata only, for loops
	// that need nothing else (the garbage collector); may be nil.
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	Clock     clock.WithTicker
	Log       *slog.Logger

	mu          sync.Mutex
	broadcaster record.EventBroadcaster
}

// NewContext builds a Context with a shared informer factory.
func NewContext(client kubernetes.Interface, dyn dynamic.Interface, log *slog.Logger) *Context {
	return &Context{
		Client:    client,
		Dynamic:   dyn,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Clock:     clock.RealClock{},
		Log:       log,
	}
}

// Recorder returns an event recorder reporting as component. Events are
// deduplicated and counted as Kubernetes does.
func (c *Context) Recorder(component string) record.EventRecorder {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broadcaster == nil {
		c.broadcaster = record.NewBroadcaster()
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Client.CoreV1().Events("")})
	}
	return c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// Shutdown stops the event broadcaster.
func (c *Context) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broadcaster != nil {
		c.broadcaster.Shutdown()
	}
}

// Loop is one control loop.
type Loop struct {
	Name string
	Run  func(ctx context.Context) error
}

// RunLoops runs loops until ctx ends. A loop registers the informers it
// needs from c.Informers, then calls c.Informers.Start itself (starting is
// idempotent) and waits for their caches. A loop's error stops nothing
// else; it is logged and the loop is restarted after a pause.
func RunLoops(ctx context.Context, c *Context, loops []Loop) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := l.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil && !errors.Is(err, context.Canceled) {
					c.Log.Error("control loop failed; restarting", "loop", l.Name, "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	wg.Wait()
	c.Informers.Shutdown()
}

// LeaderOptions tunes leader election.
type LeaderOptions struct {
	// Lease is the kube-system Lease name, e.g. "bosun-controller-manager".
	Lease         string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// RunElected runs lead whenever this process holds the lease, until ctx
// ends. The lease is released on a clean stop so another server takes
// over at once.
func RunElected(ctx context.Context, client kubernetes.Interface, o LeaderOptions, log *slog.Logger, lead func(ctx context.Context)) error {
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s_%d_%d", host, os.Getpid(), time.Now().UnixNano())
	if o.LeaseDuration == 0 {
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "kube-system", o.Lease, client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   o.LeaseDuration,
			RenewDeadline:   o.RenewDeadline,
			RetryPeriod:     o.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            o.Lease,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: lead,
				OnStoppedLeading: func() { log.Info("lost leadership", "lease", o.Lease) },
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
	}
	return ctx.Err()
}
