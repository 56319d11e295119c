// Command security measures what authentication, authorization and
// admission cost on a pod create. Each round starts two fresh `bosun
// server` processes (control plane only, no agent), one with the default
// --authorization-mode=Node,RBAC and one with AlwaysAllow, which keeps
// authentication and admission. On both it sets up a namespace the way a
// team gets one — a ServiceAccount bound to the edit ClusterRole, a
// LimitRange, a ResourceQuota and the baseline Pod Security level — and
// creates pods with the ServiceAccount's bearer token: one at a time to
// time each request, then from several writers for throughput. The same
// creates with the admin's client certificate (system:masters, which skips
// RBAC) give a reference line. The two servers take turns batch by batch,
// so the machine's other work weighs on both modes alike and the
// difference is what authorization adds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "security:", err)
		os.Exit(1)
	}
}

// options are the sizes of a run.
type options struct {
	bin     string
	timeout time.Duration
	rounds  int
	warmup  int
	creates int
	writers int
}

// The modes compared, by the value of --authorization-mode.
const (
	modeRBAC  = "Node,RBAC"
	modeAllow = "AlwaysAllow"
)

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("security", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/bosun", "bosun binary to start")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "abort a round that takes longer")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds of both modes; the order alternates from round to round")
	fs.IntVar(&o.warmup, "warmup", 200, "pod creates before measuring, on each server")
	fs.IntVar(&o.creates, "creates", 2000, "pod creates in each measured phase")
	fs.IntVar(&o.writers, "writers", 8, "concurrent writers in the throughput phases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.rounds < 1 || o.creates < 1 || o.writers < 1 || o.warmup < 0 {
		return errors.New("-rounds, -creates and -writers must be positive, -warmup not negative")
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("bosun binary: %w (build it with: go build -o bin/bosun ./cmd/bosun)", err)
	}

	res := map[string]*modeResult{modeRBAC: {}, modeAllow: {}}
	var loads []float64
	for r := range o.rounds {
		// Alternating which mode starts spreads what the order itself
		// costs (the first server started, the first batch) over both.
		order := []string{modeRBAC, modeAllow}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		loads = append(loads, benchserver.LoadAverage())
		fmt.Fprintf(out, "== round %d/%d, %s then %s (load %.2f)\n", r+1, o.rounds, order[0], order[1], loads[r])
		rctx, cancel := context.WithTimeout(ctx, o.timeout)
		err := round(rctx, o, order, res, out)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("aborted after %s: %w", o.timeout, err)
			}
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}

	fmt.Fprintln(out)
	printSummary(out, o, loads, res[modeRBAC], res[modeAllow])
	return ctx.Err()
}
