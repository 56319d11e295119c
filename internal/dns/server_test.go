package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func clusterObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.ServiceSpec{
				ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Ports: []corev1.ServicePort{{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432}},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "shop"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "alias", Namespace: "shop"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.shop.svc.cluster.local"},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "shop"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Ports: []corev1.ServicePort{{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432}},
			},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "db-abc", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("pg"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(5432))}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.5"}, Hostname: ptr("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.244.0.6"}, Hostname: ptr("db-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.244.0.7"}, Hostname: ptr("db-2"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
			},
		},
	}
}

// fakeUpstream is a resolver on loopback answering every A query with
// 192.0.2.1 and counting the queries it saw.
func fakeUpstream(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	var count atomic.Int32
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		count.Add(1)
		m := new(mdns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "missing.example.org." {
			m.Rcode = mdns.RcodeNameError
			m.Ns = []mdns.RR{mustRR(t, "example.org. 60 IN SOA ns.example.org. h.example.org. 1 2 3 4 30")}
		} else if r.Question[0].Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{mustRR(t, r.Question[0].Name+" 300 IN A 192.0.2.1")}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), &count
}

func mustRR(t testing.TB, s string) mdns.RR {
	t.Helper()
	rr, err := mdns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// startServer runs a Server on loopback and returns its address once it
// answers for the objects given.
func startServer(t testing.TB, upstream string) (*Server, string) {
	s, addr, _ := startServerClient(t, upstream)
	return s, addr
}

func startServerClient(t testing.TB, upstream string) (*Server, string, *fake.Clientset) {
	t.Helper()
	client := fake.NewSimpleClientset(clusterObjects()...)
	s, err := New(client, Config{Upstreams: []string{upstream}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := pc.LocalAddr().String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := query(addr, "db-0.db.shop.svc.cluster.local.", mdns.TypeA)
		if err == nil && len(r.Answer) == 1 {
			return s, addr, client
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func query(addr, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func TestForwardCaches(t *testing.T) {
	upstream, count := fakeUpstream(t)
	_, addr := startServer(t, upstream)
	for i := 0; i < 2; i++ {
		r, err := query(addr, "cached.example.org.", mdns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != 1 {
			t.Fatalf("answer %d: %v", i, r.Answer)
		}
	}
	if n := count.Load(); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
}

func TestInformerUpdates(t *testing.T) {
	upstream, _ := fakeUpstream(t)
	_, addr, client := startServerClient(t, upstream)
	ctx := context.Background()
	if err := client.CoreV1().Services("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sl, err := client.DiscoveryV1().EndpointSlices("shop").Get(ctx, "db-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl.Endpoints[1].Conditions.Ready = ptr(false)
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer int
	}{
		{name: "deleted service", qname: "web.shop.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "deleted service ptr forwarded", qname: "10.0.96.10.in-addr.arpa.", qtype: mdns.TypePTR},
		{name: "unready pod gone", qname: "db-1.db.shop.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "unready pod left headless answer", qname: "db.shop.svc.cluster.local.", qtype: mdns.TypeA, answer: 1},
		{name: "unready pod ptr forwarded", qname: "6.0.244.10.in-addr.arpa.", qtype: mdns.TypePTR},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Informer events arrive asynchronously; poll until they land.
			deadline := time.Now().Add(5 * time.Second)
			for {
				r, err := query(addr, tc.qname, tc.qtype)
				if err == nil && r.Rcode == tc.rcode && len(r.Answer) == tc.answer && !r.Authoritative == strings.HasSuffix(tc.qname, ".arpa.") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("got %v (err %v), want rcode %s with %d answers", r, err, mdns.RcodeToString[tc.rcode], tc.answer)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	upstream, _ := fakeUpstream(t)
	_, addr := startServer(t, upstream)
	m := new(mdns.Msg)
	m.SetQuestion("web.shop.svc.cluster.local.", mdns.TypeA)
	c := &mdns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 {
		t.Fatalf("answer over tcp: %v", r.Answer)
	}
}

func TestRun(t *testing.T) {
	client := fake.NewSimpleClientset()
	s, err := New(client, Config{Upstreams: []string{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), "256.0.0.1:0"); err == nil {
		t.Error("Run on a bad address returned nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, "127.0.0.1:0") }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRejectsBadDomain(t *testing.T) {
	if _, err := New(fake.NewSimpleClientset(), Config{Domain: "bad..domain", Upstreams: []string{}}); err == nil {
		t.Error("New accepted an invalid domain")
	}
}

func TestCacheExpiresAndBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newAnswerCache(2, func() time.Time { return now })
	msg := func(name string, ttl uint32) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		rr, _ := mdns.NewRR(name + " 60 IN A 192.0.2.1")
		rr.Header().Ttl = ttl
		m.Answer = []mdns.RR{rr}
		return m
	}
	c.put("a", msg("a.", 10))
	now = now.Add(4 * time.Second)
	if m := c.get("a"); m == nil || m.Answer[0].Header().Ttl != 6 {
		t.Fatalf("get a after 4s = %v, want TTL 6", m)
	}
	now = now.Add(6 * time.Second)
	if m := c.get("a"); m != nil {
		t.Fatalf("expired entry returned: %v", m)
	}
	c.put("a", msg("a.", 10))
	c.put("b", msg("b.", 10))
	c.put("c", msg("c.", 10))
	if c.get("a") != nil {
		t.Error("least recently used entry kept past the bound")
	}
	if c.get("b") == nil || c.get("c") == nil {
		t.Error("recent entries evicted")
	}
	c.put("z", msg("z.", 0))
	if c.get("z") != nil {
		t.Error("zero TTL answer cached")
	}
}

func FuzzHandle(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.shop.svc.cluster.local.", mdns.TypeA},
		{"_pg._tcp.db.shop.svc.cluster.local.", mdns.TypeSRV},
		{"5.0.244.10.in-addr.arpa.", mdns.TypePTR},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", mdns.TypePTR},
		{"cluster.local.", mdns.TypeSOA},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	x := newIndex("cluster.local")
	for _, o := range clusterObjects() {
		switch o := o.(type) {
		case *corev1.Service:
			x.setService(serviceFromAPI(o))
		case *discoveryv1.EndpointSlice:
			sl, _ := sliceFromAPI(o)
			x.setSlice(o.Namespace+"/"+o.Name, sl)
		}
	}
	s := &Server{index: x, log: slog.New(slog.DiscardHandler), fwd: &forwarder{cache: newAnswerCache(10, time.Now)}}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		resp := s.handle(context.Background(), m)
		if resp == nil {
			t.Fatal("nil response")
		}
		if _, err := resp.Pack(); err != nil && len(m.Question) == 1 {
			// Answers built from the index must always encode.
			if strings.HasSuffix(strings.ToLower(m.Question[0].Name), "cluster.local.") {
				t.Fatalf("packing answer to %v: %v", m.Question[0], err)
			}
		}
	})
}

func TestLargeAnswerTruncatedOverUDP(t *testing.T) {
	upstream, _ := fakeUpstream(t)
	s, addr := startServer(t, upstream)
	sl := &slice{service: "shop/db"}
	for i := range 100 {
		sl.endpoints = append(sl.endpoints, endpoint{ip: net.IPv4(10, 245, 0, byte(i)), ready: true})
	}
	s.index.setSlice("shop/db-big", sl)

	m := new(mdns.Msg)
	m.SetQuestion("db.shop.svc.cluster.local.", mdns.TypeA)
	udp := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := udp.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Errorf("100 records over plain UDP not truncated (%d answers)", len(r.Answer))
	}
	tcp := &mdns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err = tcp.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 102 {
		t.Errorf("tcp: truncated %v with %d answers, want 102", r.Truncated, len(r.Answer))
	}
	m.SetEdns0(4096, false)
	r, _, err = udp.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 102 || r.IsEdns0() == nil {
		t.Errorf("udp with EDNS: truncated %v, %d answers, opt %v", r.Truncated, len(r.Answer), r.IsEdns0())
	}
}

func TestForwardJoinsConcurrentMisses(t *testing.T) {
	release := make(chan struct{})
	var count atomic.Int32
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		count.Add(1)
		<-release
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{mustRR(t, r.Question[0].Name+" 300 IN A 192.0.2.1")}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	up.NotifyStartedFunc = func() { close(started) }
	go up.ActivateAndServe()
	<-started
	t.Cleanup(func() { up.Shutdown() })

	f := &forwarder{upstreams: []string{pc.LocalAddr().String()}, timeout: 2 * time.Second, cache: newAnswerCache(10, time.Now)}
	const n = 5
	errs := make(chan error, n)
	for i := range n {
		go func() {
			req := new(mdns.Msg)
			req.SetQuestion("burst.example.org.", mdns.TypeA)
			req.Id = uint16(i)
			r, err := f.forward(context.Background(), req)
			if err == nil && (r.Id != uint16(i) || len(r.Answer) != 1) {
				err = fmt.Errorf("reply %v for id %d", r, i)
			}
			errs <- err
		}()
	}
	// Give the callers a moment to join the in-flight query; one that
	// comes later finds the answer in the cache, so the count holds either
	// way.
	time.Sleep(200 * time.Millisecond)
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := count.Load(); got != 1 {
		t.Errorf("upstream asked %d times, want 1", got)
	}
}

// FuzzPodIP checks that a label podIP accepts names the address it came
// from: writing the address back in dashed form parses to the same one.
func FuzzPodIP(f *testing.F) {
	for _, s := range []string{"10-244-0-9", "fd00-10--9", "1-2-3", "--ffff-1-2-3-4", "300-1-1-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		ip := podIP(label)
		if ip == nil {
			return
		}
		dashed := strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
		if back := podIP(dashed); !back.Equal(ip) {
			t.Fatalf("podIP(%q) = %v, but its dashed form %q gives %v", label, ip, dashed, back)
		}
	})
}
