// Command scheduler benchmarks bosun's scheduler from the outside, through
// the real API server: each shape starts its own `bosun server` (API
// server, controllers and scheduler in one process), registers simulated
// nodes from this process (package simnode), creates pending pods through
// the API from many writers and watches them get bound. It reports pods
// per second from the first create to the last binding seen, and the
// server's CPU seconds over that time.
//
// Shapes:
//
//	basic          5,000 nodes, 10,000 pods requesting 100m cpu and 100Mi
//	anti-affinity  1,000 nodes, 1,000 pods that each refuse a node holding
//	               another (required anti-affinity over the hostname)
//	spread         1,000 nodes in 10 zones, 5,000 pods spread with
//	               maxSkew 1 DoNotSchedule over the zone
//	deployment     500 nodes, a 3,000-replica Deployment created as
//	               `kubectl apply` creates it; time to availableReplicas
//	heartbeats     5,000 nodes and no pods for 60 s: the server's CPU
//	               use in steady state
//
// -nodes and -pods override a shape's sizes (for a quick check).
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

// options are the flags; zero sizes take the shape's own.
type options struct {
	bin      string
	nodes    int
	pods     int
	writers  int
	timeout  time.Duration
	duration time.Duration
}

// shape is one benchmark with its default sizes.
type shape struct {
	name  string
	nodes int
	pods  int
	zones int
	run   func(ctx context.Context, e *env, o options, out io.Writer) error
}

var shapes = []shape{
	{name: "basic", nodes: 5000, pods: 10000, run: schedulePods(podBasic)},
	{name: "anti-affinity", nodes: 1000, pods: 1000, run: schedulePods(podAntiAffinity)},
	{name: "spread", nodes: 1000, pods: 5000, zones: 10, run: schedulePods(podSpread)},
	{name: "deployment", nodes: 500, pods: 3000, run: deploymentRollout},
	{name: "heartbeats", nodes: 5000, run: heartbeats},
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	var only string
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/bosun", "bosun binary to start")
	fs.StringVar(&only, "shape", "basic", "comma-separated shapes: basic, anti-affinity, spread, deployment, heartbeats")
	fs.IntVar(&o.nodes, "nodes", 0, "simulated nodes (0: the shape's)")
	fs.IntVar(&o.pods, "pods", 0, "pods, or Deployment replicas (0: the shape's)")
	fs.IntVar(&o.writers, "writers", 32, "concurrent pod creators")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "abort a shape that takes longer")
	fs.DurationVar(&o.duration, "duration", time.Minute, "heartbeats: how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("bosun binary: %w (build it with: go build -o bin/bosun ./cmd/bosun)", err)
	}
	var failed []string
	for name := range strings.SplitSeq(only, ",") {
		sh, ok := findShape(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown shape %q", name)
		}
		so := o
		if so.nodes == 0 {
			so.nodes = sh.nodes
		}
		if so.pods == 0 {
			so.pods = sh.pods
		}
		fmt.Fprintf(out, "== %s: %d nodes, %d pods (load %.2f)\n", sh.name, so.nodes, so.pods, benchserver.LoadAverage())
		sctx, cancel := context.WithTimeout(ctx, o.timeout)
		err := runShape(sctx, sh, so, out)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("aborted after %s: %w", o.timeout, err)
			}
			fmt.Fprintf(out, "   ERROR: %v\n", err)
			failed = append(failed, sh.name)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("shapes failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

func findShape(name string) (shape, bool) {
	for _, s := range shapes {
		if s.name == name {
			return s, true
		}
	}
	return shape{}, false
}

// runShape starts a server and the simulated nodes, then the shape.
func runShape(ctx context.Context, sh shape, o options, out io.Writer) error {
	s, err := benchserver.StartReady(ctx, o.bin)
	if err != nil {
		return err
	}
	defer s.Stop()
	e, err := newEnv(ctx, s, o.nodes, sh.zones)
	if err != nil {
		return err
	}
	defer e.close()
	fmt.Fprintf(out, "   %d nodes Ready after %s\n", o.nodes, e.nodesReady.Round(time.Millisecond))
	return sh.run(ctx, e, o, out)
}
