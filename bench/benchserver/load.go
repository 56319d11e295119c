package benchserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// CreateAll calls create for 0..n-1 from `writers` goroutines and returns
// the wall time and each call's latency. The first error stops everything.
func CreateAll(ctx context.Context, writers, n int, create func(ctx context.Context, i int) error) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				s := time.Now()
				if err := create(ctx, i); err != nil {
					cancel(fmt.Errorf("object %d: %w", i, err))
					return
				}
				lat[i] = time.Since(s)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if err := context.Cause(ctx); err != nil {
		return elapsed, nil, err
	}
	return elapsed, lat, nil
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 1) of d; it
// sorts d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d))*p+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}
