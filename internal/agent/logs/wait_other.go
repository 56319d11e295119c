//go:build !linux

package logs

import (
	"context"
	"time"
)

// waiter blocks until a log file may have grown. Without inotify it just
// sleeps a short while.
type waiter struct{}

func newWaiter(path string) (*waiter, error) { return &waiter{}, nil }

func (w *waiter) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(min(timeout, 250*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (w *waiter) close() {}
