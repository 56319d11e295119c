package dns

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkHandleServiceA measures answering a Service name with 1,000
// Services indexed, without the network.
func BenchmarkHandleServiceA(b *testing.B) {
	x := newIndex("cluster.local")
	for i := range 1000 {
		x.setService(serviceFromAPI(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc%d", i), Namespace: "bench"},
			Spec:       corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/256, i%256)},
		}))
	}
	s := &Server{index: x, log: slog.New(slog.DiscardHandler), fwd: &forwarder{cache: newAnswerCache(10, time.Now)}}
	req := new(mdns.Msg)
	req.SetQuestion("svc500.bench.svc.cluster.local.", mdns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if r := s.handle(context.Background(), req); len(r.Answer) != 1 {
			b.Fatalf("answer %v", r.Answer)
		}
	}
}

// BenchmarkUDPServiceA measures queries/s for a Service name over loopback
// UDP, one query in flight.
func BenchmarkUDPServiceA(b *testing.B) {
	upstream, _ := fakeUpstream(b)
	_, addr := startServer(b, upstream)
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	req := new(mdns.Msg)
	req.SetQuestion("web.shop.svc.cluster.local.", mdns.TypeA)
	for b.Loop() {
		if _, _, err := c.Exchange(req, addr); err != nil {
			b.Fatal(err)
		}
	}
}
