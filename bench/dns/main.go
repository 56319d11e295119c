// Command dns measures the cluster DNS server: queries per second and
// latency for Service names (answered from the index) and for names
// outside the cluster answered from the forwarding cache, from concurrent
// UDP clients. Without -addr it runs the server in-process over a fake
// clientset holding -services Services, with a loopback upstream whose
// answers the cache keeps; with -addr it queries a running server, whose
// Services must be named as -namespace and svcN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bosun-sh/bosun/bench/benchserver"
	"github.com/bosun-sh/bosun/internal/dns"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dns:", err)
		os.Exit(1)
	}
}

type options struct {
	addr      string
	services  int
	namespace string
	clients   int
	duration  time.Duration
	forward   int
}

func run(out io.Writer, args []string) error {
	var o options
	fs := flag.NewFlagSet("bench-dns", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "", "host:port of a running cluster DNS server (default: run one in-process)")
	fs.IntVar(&o.services, "services", 1000, "Services queried (and, in-process, created)")
	fs.StringVar(&o.namespace, "namespace", "bench", "namespace of the svcN Services")
	fs.IntVar(&o.clients, "clients", 2*runtime.GOMAXPROCS(0), "concurrent UDP clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario sends queries")
	fs.IntVar(&o.forward, "forward-names", 100, "distinct names outside the cluster queried from the cache")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	addr := o.addr
	if addr == "" {
		var err error
		if addr, err = startInProcess(ctx, o); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "dns: %s, %d clients, %s per scenario, GOMAXPROCS %d (load generator and server share the machine)\n",
		addr, o.clients, o.duration, runtime.GOMAXPROCS(0))

	svcNames := make([]string, o.services)
	for i := range svcNames {
		svcNames[i] = fmt.Sprintf("svc%d.%s.svc.cluster.local.", i, o.namespace)
	}
	fwdNames := make([]string, o.forward)
	for i := range fwdNames {
		fwdNames[i] = fmt.Sprintf("host%d.bench.example.", i)
	}

	var rows []benchserver.Row
	for _, sc := range []struct {
		name  string
		names []string
	}{
		{fmt.Sprintf("service names (%d Services)", o.services), svcNames},
		{fmt.Sprintf("forwarded names from cache (%d names)", o.forward), fwdNames},
	} {
		// Warm: every name asked once, so the second scenario measures
		// the cache and not the upstream.
		if err := warm(addr, sc.names); err != nil {
			rows = append(rows, benchserver.Errored(sc.name, err))
			continue
		}
		r, err := load(addr, sc.names, o.clients, o.duration)
		if err != nil {
			rows = append(rows, benchserver.Errored(sc.name, err))
			continue
		}
		load := benchserver.LoadAverage()
		rows = append(rows,
			benchserver.Row{Name: sc.name + ": queries/s", Measured: fmt.Sprintf("%.0f", r.qps), Load: load},
			benchserver.Row{Name: sc.name + ": latency p50", Measured: r.p50.Round(time.Microsecond).String(), Load: load},
			benchserver.Row{Name: sc.name + ": latency p99", Measured: r.p99.Round(time.Microsecond).String(), Load: load},
			benchserver.Row{Name: sc.name + ": failed queries", Measured: fmt.Sprint(r.failed), Load: load},
		)
	}
	benchserver.PrintTable(out, rows)
	return nil
}

// startInProcess runs a dns.Server over a fake clientset with o.services
// Services and a loopback upstream, and returns its address once it
// answers for the last Service.
func startInProcess(ctx context.Context, o options) (string, error) {
	objs := make([]k8sruntime.Object, 0, o.services)
	for i := range o.services {
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		objs = append(objs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc%d", i), Namespace: o.namespace},
			Spec: corev1.ServiceSpec{
				ClusterIP: ip, ClusterIPs: []string{ip},
				Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
			},
		})
	}
	upstream, err := startUpstream(ctx)
	if err != nil {
		return "", err
	}
	srv, err := dns.New(fake.NewSimpleClientset(objs...), dns.Config{
		Upstreams: []string{upstream},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return "", err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return "", err
	}
	go srv.Serve(ctx, pc, ln)
	addr := pc.LocalAddr().String()
	last := fmt.Sprintf("svc%d.%s.svc.cluster.local.", o.services-1, o.namespace)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := exchange(addr, last); err == nil && len(r.Answer) == 1 {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("in-process server did not answer for its Services within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startUpstream is a resolver on loopback answering every A query with
// 192.0.2.1 for an hour, so forwarded answers stay cached.
func startUpstream(ctx context.Context) (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 3600}, A: net.IPv4(192, 0, 2, 1)}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	return pc.LocalAddr().String(), nil
}

func warm(addr string, names []string) error {
	for _, n := range names {
		if _, err := exchange(addr, n); err != nil {
			return err
		}
	}
	return nil
}

func exchange(addr, name string) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, mdns.TypeA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
		return nil, fmt.Errorf("%s: %s with %d answers", name, mdns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return r, nil
}

type result struct {
	qps      float64
	p50, p99 time.Duration
	failed   int
}

// load runs clients goroutines, each with its own UDP socket and one query
// in flight, cycling through names until d has passed.
func load(addr string, names []string, clients int, d time.Duration) (result, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    int
		wg        sync.WaitGroup
		errOnce   error
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := mdns.Dial("udp", addr)
			if err != nil {
				mu.Lock()
				errOnce = err
				mu.Unlock()
				return
			}
			defer conn.Close()
			var mine []time.Duration
			bad := 0
			m := new(mdns.Msg)
			for j := i; time.Now().Before(stop); j++ {
				m.SetQuestion(names[j%len(names)], mdns.TypeA)
				t0 := time.Now()
				_ = conn.SetDeadline(t0.Add(2 * time.Second))
				if err := conn.WriteMsg(m); err != nil {
					bad++
					continue
				}
				r, err := conn.ReadMsg()
				if err != nil || r.Id != m.Id || len(r.Answer) == 0 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if errOnce != nil {
		return result{}, errOnce
	}
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no query answered (%d failed)", failed)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(float64(len(latencies)-1)*p)] }
	return result{
		qps:    float64(len(latencies)) / elapsed.Seconds(),
		p50:    pct(0.50),
		p99:    pct(0.99),
		failed: failed,
	}, nil
}
