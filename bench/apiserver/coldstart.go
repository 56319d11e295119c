package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

const (
	coldStartTarget = time.Second
	idleRSSTarget   = 80 << 20
)

// coldStart starts a server on a fresh data dir o.coldRuns times, timing
// process start to the first /readyz `ok`, and reads its RSS after it has
// idled for o.idleWait.
func coldStart(ctx context.Context, o options, out io.Writer) ([]row, error) {
	var ready []time.Duration
	var rss []uint64
	for i := range o.coldRuns {
		d, r, parts, err := coldStartOnce(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(out, "   run %d: ready after %s, idle RSS %s (%s)\n", i+1, ms(d), mib(float64(r)), parts)
		ready = append(ready, d)
		rss = append(rss, r)
	}
	med, worst := benchserver.Percentile(ready, 0.5), slices.Max(ready)
	maxRSS := slices.Max(rss)
	slices.Sort(rss)
	fmt.Fprintf(out, "   ready: median %s, max %s; idle RSS: median %s, max %s\n", ms(med), ms(worst), mib(float64(rss[len(rss)/2])), mib(float64(maxRSS)))
	n := fmt.Sprint(o.coldRuns)
	return []row{
		judged("cold start to /readyz, median of "+n, ms(med), "<= 1 s", med <= coldStartTarget),
		judged("cold start to /readyz, max of "+n, ms(worst), "<= 1 s", worst <= coldStartTarget),
		judged(fmt.Sprintf("idle RSS %s after ready, max of %s", o.idleWait, n), mib(float64(maxRSS)), "<= 80 MiB", maxRSS <= idleRSSTarget),
	}, nil
}

// coldStartOnce returns the time to ready, the idle RSS and how that RSS
// splits between heap and mapped binary.
func coldStartOnce(ctx context.Context, o options) (time.Duration, uint64, string, error) {
	s, err := benchserver.Start(o.bin)
	if err != nil {
		return 0, 0, "", err
	}
	defer s.Stop()
	d, err := s.WaitReady(ctx)
	if err != nil {
		return 0, 0, "", err
	}
	if err := s.Idle(ctx, o.idleWait); err != nil {
		return 0, 0, "", err
	}
	r, err := s.RSS()
	if err != nil {
		return 0, 0, "", err
	}
	return d, r, rssSplit(s), nil
}
