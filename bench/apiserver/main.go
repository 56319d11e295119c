// Command apiserver benchmarks a bosun control plane from the outside. Each
// scenario starts its own `bosun server` process on a free port with a fresh
// data dir, drives it over HTTPS with client-go, stops it and removes the dir,
// then prints what it measured next to the target the figure is judged
// against. Figures depend on the machine and on what else runs on it, so the
// one-minute load average is printed next to each.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the sizes of every scenario; the defaults are the sizes the
// targets are stated for.
type options struct {
	bin        string
	timeout    time.Duration
	coldRuns   int
	idleWait   time.Duration
	writers    int
	creates    int
	listPods   int
	listCalls  int
	watchers   int
	updates    int
	updateRate float64
	watchPods  int
	watchConns int
}

// scenario runs against servers it starts itself and returns the rows of
// the final table; details go to out as it runs.
type scenario struct {
	name string
	run  func(ctx context.Context, o options, out io.Writer) ([]row, error)
}

var scenarios = []scenario{
	{"coldstart", coldStart},
	{"create", createThroughput},
	{"list", listPods},
	{"watch", watchLatency},
}

// row is one line of the final table.
type row = benchserver.Row

var (
	judged = benchserver.Judged
	info   = benchserver.Info
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	var only string
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/bosun", "bosun binary to start")
	fs.StringVar(&only, "scenarios", "coldstart,create,list,watch", "comma-separated scenarios to run, in this order")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "abort a scenario that takes longer")
	fs.IntVar(&o.coldRuns, "cold-runs", 5, "coldstart: fresh starts to measure")
	fs.DurationVar(&o.idleWait, "idle-wait", 5*time.Second, "coldstart: wait after ready before reading RSS")
	fs.IntVar(&o.writers, "writers", 16, "create, list: concurrent writers")
	fs.IntVar(&o.creates, "creates", 20000, "create: objects of each kind to create")
	fs.IntVar(&o.listPods, "list-pods", 10000, "list: pods to create before listing")
	fs.IntVar(&o.listCalls, "list-calls", 20, "list: LIST calls of each kind to time")
	fs.IntVar(&o.watchers, "watchers", 100, "watch: concurrent watchers")
	fs.IntVar(&o.updates, "updates", 1000, "watch: updates to deliver to every watcher")
	fs.Float64Var(&o.updateRate, "update-rate", 200, "watch: updates per second")
	fs.IntVar(&o.watchPods, "watch-pods", 10, "watch: pods the updates rotate over")
	fs.IntVar(&o.watchConns, "watch-conns", 1, "watch: HTTP/2 connections the watchers share (the writer has its own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("bosun binary: %w (build it with: go build -o bin/bosun ./cmd/bosun)", err)
	}

	var selected []scenario
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		i := indexOf(name)
		if i < 0 {
			return fmt.Errorf("unknown scenario %q (known: coldstart, create, list, watch)", name)
		}
		selected = append(selected, scenarios[i])
	}

	var rows []row
	var failed []string
	for _, sc := range selected {
		load := benchserver.LoadAverage()
		fmt.Fprintf(stdout, "== %s (load %.2f)\n", sc.name, load)
		sctx, cancel := context.WithTimeout(ctx, o.timeout)
		got, err := sc.run(sctx, o, stdout)
		cancel()
		for i := range got {
			got[i].Load = load
		}
		rows = append(rows, got...)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("aborted after %s: %w", o.timeout, err)
			}
			fmt.Fprintf(stdout, "   ERROR: %v\n", err)
			e := benchserver.Errored(sc.name, err)
			e.Load = load
			rows = append(rows, e)
			failed = append(failed, sc.name)
		}
		if ctx.Err() != nil {
			break
		}
	}

	fmt.Fprintln(stdout)
	benchserver.PrintTable(stdout, rows)
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

func indexOf(name string) int {
	for i, sc := range scenarios {
		if sc.name == name {
			return i
		}
	}
	return -1
}
