package ingress

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// BenchmarkLookup routes through a table of 1,000 Ingresses with a few
// paths each, the size of a busy cluster.
func BenchmarkLookup(b *testing.B) {
	var ings []*networkingv1.Ingress
	for i := 0; i < 1000; i++ {
		host := fmt.Sprintf("app%d.example.com", i)
		ings = append(ings, testIngress(fmt.Sprintf("app%d", i), i,
			path{host: host, path: "/", typ: &prefix, svc: "web"},
			path{host: host, path: "/api/v1", typ: &prefix, svc: "api"},
			path{host: host, path: "/healthz", typ: &exact, svc: "health"},
		))
	}
	tbl := build(state{ingresses: ings}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tbl.lookup("App500.example.com:443", "/api/v1/users/42/orders") == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkProxy sends requests through the handler and the pooled
// transport to one local backend, to see the proxy's own cost.
func BenchmarkProxy(b *testing.B) {
	payload := make([]byte, 1024)
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(payload)
	}))
	defer backendSrv.Close()
	var t atomic.Pointer[table]
	t.Store(build(state{
		ingresses: []*networkingv1.Ingress{testIngress("a", 0, path{host: "bench.test", path: "/", typ: &prefix, svc: "web"})},
		services:  nil,
	}, nil))
	be := t.Load().lookup("bench.test", "/")
	be.unavailable, be.endpoints = "", []string{backendSrv.Listener.Addr().String()}
	h := newHandler(&t, slog.New(slog.DiscardHandler))
	front := httptest.NewServer(h)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", front.URL+"/x", nil)
			req.Host = "bench.test"
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
