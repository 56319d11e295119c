// Command proxy benchmarks the node's service proxy (internal/agent/proxy)
// in-process: it runs the proxy against a fake clientset holding 1,000
// Services with two endpoints each, in a network namespace of its own (it
// re-executes itself in one, so it needs root), and changes one
// EndpointSlice at a time. For each change it measures the time from the
// write to the client to the proxy's report that the kernel accepted the
// update; it prints p50, p99 and max next to the time of a full write of
// the same table.
//
// A fake clientset rather than a bosun server keeps the figure to the
// proxy's own work: informer delivery from a real server adds a watch
// event's latency, the same for any proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bosun-sh/bosun/internal/agent/proxy"
)

// inNetns marks the re-executed process, already in its own namespace.
const inNetns = "BOSUN_BENCH_PROXY_NETNS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	services := fs.Int("services", 1000, "Services, each with one port and one EndpointSlice")
	endpoints := fs.Int("endpoints", 2, "endpoints per Service")
	changes := fs.Int("changes", 300, "EndpointSlice changes to time, one at a time")
	pace := fs.Duration("pace", 20*time.Millisecond, "pause between one change being applied and the next write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv(inNetns) == "" {
		if os.Geteuid() != 0 {
			return errors.New("needs root: it loads nftables rules in a network namespace of its own")
		}
		// A fresh namespace per run: the rules never touch the host's,
		// and die with the process.
		cmd := exec.CommandContext(ctx, "/proc/self/exe", args...)
		cmd.Env = append(os.Environ(), inNetns+"=1")
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		return cmd.Run()
	}

	nodeIPs := []netip.Addr{netip.MustParseAddr("192.168.1.10")}
	svcs, sls := objects(*services, *endpoints)

	// The full write on its own, for comparison.
	full := proxy.Ruleset(svcs, sls, proxy.Node{Name: "bench", IPs: nodeIPs})
	var fullTimes []time.Duration
	for range 5 {
		start := time.Now()
		if err := proxy.Apply(ctx, full); err != nil {
			return err
		}
		fullTimes = append(fullTimes, time.Since(start))
	}
	if err := proxy.Remove(ctx); err != nil {
		return err
	}

	client := fake.NewClientset()
	for _, s := range svcs {
		if _, err := client.CoreV1().Services(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for _, s := range sls {
		if _, err := client.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}

	type report struct {
		at   time.Time
		full bool
	}
	applied := make(chan report, 16)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		errc <- proxy.RunWith(pctx, client, proxy.Options{NodeName: "bench", NodeIPs: nodeIPs,
			Applied: func(full bool) { applied <- report{time.Now(), full} }}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}()
	wait := func() (report, error) {
		select {
		case r := <-applied:
			return r, nil
		case err := <-errc:
			return report{}, fmt.Errorf("proxy stopped: %w", err)
		case <-time.After(30 * time.Second):
			return report{}, errors.New("no update applied within 30s")
		}
	}
	first, err := wait()
	if err != nil {
		return err
	}
	firstSync := first.at.Sub(start)

	var lat []time.Duration
	fulls := 0
	for i := range *changes {
		s := sls[i%len(sls)]
		// Move one endpoint to a new address, as a replaced pod does.
		s.Endpoints[0].Addresses = []string{podIP(len(sls)**endpoints + i)}
		written := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			return err
		}
		r, err := wait()
		if err != nil {
			return err
		}
		if r.full {
			fulls++
		}
		lat = append(lat, r.at.Sub(written))
		time.Sleep(*pace)
	}
	cancel()
	<-errc

	slices.Sort(lat)
	slices.Sort(fullTimes)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(out, "services %d x %d endpoints, %d changes (%d needed a full write)\n", *services, *endpoints, len(lat), fulls)
	fmt.Fprintf(out, "change written -> rules in kernel: p50 %v  p99 %v  max %v  (target p99 <= 1s)\n",
		pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Fprintf(out, "full write of the table (nft -f, %d KiB): median %v  max %v\n",
		len(full)>>10, fullTimes[len(fullTimes)/2].Round(time.Millisecond), fullTimes[len(fullTimes)-1].Round(time.Millisecond))
	fmt.Fprintf(out, "first sync from start: %v\n", firstSync.Round(time.Millisecond))
	return nil
}

// objects returns n ClusterIP Services in namespace bench, each with one
// EndpointSlice of eps ready endpoints.
func objects(n, eps int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var sls []*discoveryv1.EndpointSlice
	port, proto := int32(8080), corev1.ProtocolTCP
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		svcs = append(svcs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: corev1.ServiceSpec{
				ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports:     []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
			},
		})
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "bench", Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}},
		}
		for j := range eps {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{podIP(i*eps + j)}})
		}
		sls = append(sls, s)
	}
	return svcs, sls
}

// podIP is the i-th address of 10.244.0.0/16.
func podIP(i int) string {
	return fmt.Sprintf("10.244.%d.%d", i/250%256, i%250+1)
}
