// Command agent benchmarks bosun's node agent from the outside: it starts a
// control plane (`bosun server --disable-agent`) and a `bosun agent`
// process joined to it, each with a fresh data dir under one temporary
// directory, imports the test images (package test/images) so no pull is
// timed, and drives the node with bare Pods through client-go. The agent
// runs as its own process so its CPU time and resident memory, read from
// /proc, are its own; its containerd (a child) and the shims are measured
// apart. At the end the processes are stopped and `bosun uninstall`
// removes the containers, mounts, interfaces and rules of both data dirs.
//
// Scenarios, in this order, on the same node:
//
//	idle      no pods: agent and runtime use over -steady
//	startup   -pods pods created at once, -runs times with no probe and
//	          once with an httpGet readiness probe every second: per pod,
//	          create request to the Ready condition seen through a watch;
//	          the pods are deleted (and gone) between runs
//	probes    -pods pods with httpGet liveness and readiness probes at the
//	          default period (10 s): agent CPU over -steady
//	capacity  the node filled to -max-pods: time to all Ready, then agent
//	          and runtime use over -steady
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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

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

type options struct {
	bin      string
	pods     int
	maxPods  int
	runs     int
	steady   time.Duration
	timeout  time.Duration
	logLevel string
	keep     bool
	// ingress scenario
	ingressRounds   int
	ingressDuration time.Duration
	ingressConns    int
}

// scenario runs on the shared node and returns rows of the final table;
// details go to out as it runs.
type scenario struct {
	name string
	run  func(ctx context.Context, n *node, o options, out io.Writer) ([]row, error)
}

var scenarios = []scenario{
	{"idle", idle},
	{"startup", podStartup},
	{"probes", probeIdle},
	{"capacity", capacity},
	{"ingress", ingressThroughput},
}

// row is one line of the final table.
type row = benchserver.Row

var (
	judged = benchserver.Judged
	info   = benchserver.Info
)

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	var o options
	var only string
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/bosun", "bosun binary to start")
	fs.StringVar(&only, "scenarios", "idle,startup,probes,capacity", "comma-separated scenarios to run, in this order")
	fs.IntVar(&o.pods, "pods", 30, "startup, probes: pods created at once")
	fs.IntVar(&o.maxPods, "max-pods", 110, "capacity: pods on the node (its pod capacity)")
	fs.IntVar(&o.runs, "runs", 2, "startup: runs without probes (the readiness-probe line is one run)")
	fs.DurationVar(&o.steady, "steady", 30*time.Second, "idle, probes, capacity: how long to measure CPU")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "abort the whole benchmark after this long")
	fs.StringVar(&o.logLevel, "agent-log-level", "info", "the agent's --log-level (its log is agent.log in the temporary directory)")
	fs.IntVar(&o.ingressRounds, "ingress-rounds", 3, "ingress: wrk runs against each proxy, alternating")
	fs.DurationVar(&o.ingressDuration, "ingress-duration", 10*time.Second, "ingress: length of one wrk run")
	fs.IntVar(&o.ingressConns, "ingress-conns", 50, "ingress: wrk's open connections")
	fs.BoolVar(&o.keep, "keep", false, "leave the data dirs, containers and logs behind (for debugging); prints how to remove them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("bosun binary: %w (build it with: go build -o bin/bosun ./cmd/bosun)", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("the node agent needs root (containers, mounts, network)")
	}
	var selected []scenario
	for name := range strings.SplitSeq(only, ",") {
		i := indexOf(strings.TrimSpace(name))
		if i < 0 {
			return fmt.Errorf("unknown scenario %q (known: idle, startup, probes, capacity, ingress)", name)
		}
		selected = append(selected, scenarios[i])
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fmt.Fprintf(stdout, "== node (load %.2f)\n", benchserver.LoadAverage())
	n, err := startNode(ctx, o.bin, o.logLevel, o.keep, stdout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.close(o.keep, stdout); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	var rows []row
	var failed []string
	for _, sc := range selected {
		load := benchserver.LoadAverage()
		fmt.Fprintf(stdout, "== %s (load %.2f)\n", sc.name, load)
		got, err := sc.run(ctx, n, o, stdout)
		for i := range got {
			got[i].Load = load
		}
		rows = append(rows, got...)
		if err == nil {
			err = n.agent.alive()
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = fmt.Errorf("aborted after %s: %w", o.timeout, err)
			}
			fmt.Fprintf(stdout, "   ERROR: %v\n", err)
			e := benchserver.Errored(sc.name, err)
			e.Load = load
			rows = append(rows, e)
			failed = append(failed, sc.name)
			if n.agent.alive() != nil || ctx.Err() != nil {
				break
			}
		}
	}

	fmt.Fprintln(stdout)
	benchserver.PrintTable(stdout, rows)
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s (agent log: %s)", strings.Join(failed, ", "), n.agent.logPath)
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

func idle(ctx context.Context, n *node, o options, out io.Writer) ([]row, error) {
	s, err := n.measure(ctx, o.steady)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   no pods, over %s: %s\n", s.d.Round(time.Second), s)
	return []row{
		info("idle, no pods: agent", fmt.Sprintf("%.4f cores, RSS %s", s.agentCores, mib(s.agentRSS))),
		info("idle, no pods: containerd", fmt.Sprintf("%.4f cores, RSS %s", s.runtimeCores, mib(s.runtimeRSS))),
	}, nil
}

// podStartup runs the startup batches: first without probes (the headline
// figure), then with a readiness probe every second.
func podStartup(ctx context.Context, n *node, o options, out io.Writer) ([]row, error) {
	var rows []row
	kinds := []struct {
		label string
		p     probes
		runs  int
	}{
		{"no probe", noProbes, o.runs},
		{"readiness probe 1 s", readiness1s, 1},
	}
	for _, k := range kinds {
		for i := range k.runs {
			run := fmt.Sprintf("start-%d-%d", k.p, i+1)
			s, err := n.startPods(ctx, o.pods, run, k.p, 3*time.Minute)
			if err != nil {
				return rows, fmt.Errorf("%s, run %d: %w", k.label, i+1, err)
			}
			ready, bound, running := spreadOf(s.ready), spreadOf(s.bound), spreadOf(s.running)
			fmt.Fprintf(out, "   %s, run %d: %d pods, create to Ready %s; all Ready after %s\n",
				k.label, i+1, o.pods, ready, ms(s.allReady))
			fmt.Fprintf(out, "     create to bound p50 %s, max %s; to running p50 %s, max %s\n",
				ms(bound.p50), ms(bound.max), ms(running.p50), ms(running.max))
			fmt.Fprintf(out, "     %s\n", s.cpu)
			name := fmt.Sprintf("startup %d pods, %s, run %d", o.pods, k.label, i+1)
			if k.p == noProbes {
				rows = append(rows, judged(name, ready.String(), "p50 ≤ 1s, p99 ≤ 2s", ready.p50 <= time.Second && ready.p99 <= 2*time.Second))
			} else {
				rows = append(rows, info(name, ready.String()))
			}
			gone, err := n.deletePods(ctx, run)
			if err != nil {
				return rows, err
			}
			fmt.Fprintf(out, "     deleted; all gone after %s\n", ms(gone))
			// Sandboxes are still being torn down when the pods leave the
			// API; let that finish before the next batch is timed.
			if err := sleep(ctx, 2*time.Second); err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

func probeIdle(ctx context.Context, n *node, o options, out io.Writer) ([]row, error) {
	const run = "probes"
	s, err := n.startPods(ctx, o.pods, run, bothProbes, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   %d pods with liveness and readiness probes (period 10 s) all Ready after %s (%s)\n", o.pods, ms(s.allReady), spreadOf(s.ready))
	fmt.Fprintf(out, "     %s\n", s.cpu)
	// Let the start-up work (status writes, first probes) finish.
	if err := sleep(ctx, 5*time.Second); err != nil {
		return nil, err
	}
	u, err := n.measure(ctx, o.steady)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   over %s: %s\n", u.d.Round(time.Second), u)
	rows := []row{info(fmt.Sprintf("%d pods with probes: agent", o.pods), fmt.Sprintf("%.4f cores, RSS %s", u.agentCores, mib(u.agentRSS)))}
	gone, err := n.deletePods(ctx, run)
	if err != nil {
		return rows, err
	}
	fmt.Fprintf(out, "   deleted; all gone after %s\n", ms(gone))
	return rows, sleep(ctx, 2*time.Second)
}

func capacity(ctx context.Context, n *node, o options, out io.Writer) ([]row, error) {
	nd, err := n.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if pods, ok := nd.Status.Allocatable["pods"]; ok && pods.Value() < int64(o.maxPods) {
		fmt.Fprintf(out, "   note: the node allows %d pods, fewer than -max-pods %d\n", pods.Value(), o.maxPods)
	}
	// Pods of other namespaces (none, normally) count against the node's
	// capacity too.
	on, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", nodeName).String()})
	if err != nil {
		return nil, err
	}
	count := o.maxPods - len(on.Items)
	s, err := n.startPods(ctx, count, "capacity", noProbes, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	ready := spreadOf(s.ready)
	fmt.Fprintf(out, "   %d pods created at once (%d on the node already): all Ready after %s; create to Ready %s\n",
		count, len(on.Items), ms(s.allReady), ready)
	fmt.Fprintf(out, "     %s\n", s.cpu)
	if err := sleep(ctx, 5*time.Second); err != nil {
		return nil, err
	}
	u, err := n.measure(ctx, o.steady)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   over %s: %s\n", u.d.Round(time.Second), u)
	name := fmt.Sprintf("%d pods", o.maxPods)
	return []row{
		info(name+": all Ready", fmt.Sprintf("%s after the first create (%s)", ms(s.allReady), ready)),
		judged(name+": agent RSS", fmt.Sprintf("%s (anon %s, max %s)", mib(u.agentRSS), mib(u.agentAnon), mib(u.agentMaxRSS)), "≤ 60 MiB", u.agentMaxRSS <= 60<<20),
		info(name+": agent CPU", fmt.Sprintf("%.4f cores", u.agentCores)),
		info(name+": containerd + shims", fmt.Sprintf("%.4f cores, RSS %s summed over %d processes", u.runtimeCores, mib(u.runtimeRSS), u.runtimeProcs)),
	}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
