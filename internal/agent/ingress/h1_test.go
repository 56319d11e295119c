package ingress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingDialer counts the connections a transport opens.
type countingDialer struct{ n atomic.Int64 }

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	return dialPod(ctx, network, addr)
}

func roundTrip(t *testing.T, tr http.RoundTripper, method, url, body string) (int, string, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestH1Exchanges(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/early":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after hints")
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
		}
	}))
	defer backend.Close()
	d := &countingDialer{}
	tr := newH1Transport(d.dial, newTransport())
	defer tr.CloseIdleConnections()
	base := backend.URL

	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/a", "", 200, "GET /a "},
		{"POST", "/b", "payload", 200, "POST /b payload"},
		{"GET", "/chunked", "", 200, "ab"},
		{"GET", "/empty", "", 204, ""},
		{"HEAD", "/a", "", 200, ""},
		{"GET", "/early", "", 200, "after hints"},
		{"GET", "/c", "", 200, "GET /c "},
	} {
		code, body, _ := roundTrip(t, tr, c.method, base+c.path, c.body)
		if code != c.code || body != c.want {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	if n := d.n.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1 reused", n)
	}
	// A response that closes its connection is not pooled.
	roundTrip(t, tr, "GET", base+"/close", "")
	roundTrip(t, tr, "GET", base+"/a", "")
	if n := d.n.Load(); n != 2 {
		t.Errorf("%d connections after a Connection: close answer, want 2", n)
	}
	// A body left unread closes its connection.
	req, _ := http.NewRequest("GET", base+"/a", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	roundTrip(t, tr, "GET", base+"/a", "")
	if n := d.n.Load(); n != 3 {
		t.Errorf("%d connections after an abandoned body, want 3", n)
	}
}

// A pod that closes a kept-alive connection while it is idle: a GET is
// sent again on a new connection; a POST is not sent on a connection
// idle long enough to have been closed.
func TestH1StaleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Each connection answers one request, keep-alive, then closes.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	d := &countingDialer{}
	tr := newH1Transport(d.dial, newTransport())
	defer tr.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/"
	for i := range 3 {
		code, body, _ := roundTrip(t, tr, "GET", url, "")
		if code != 200 || body != "ok" {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
		time.Sleep(20 * time.Millisecond) // let the server's close arrive
	}
	if n := d.n.Load(); n != 3 {
		t.Errorf("%d connections for 3 GETs each on a closed pooled one, want 3", n)
	}

	// A pod shutting down closes every idle connection at once: a GET
	// that meets one of them is retried on a new connection, not on the
	// next dead one in the pool.
	tr.CloseIdleConnections()
	d.n.Store(0)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	tr.mu.Lock()
	pooled := len(tr.idle[ln.Addr().String()])
	tr.mu.Unlock()
	if code, body, _ := roundTrip(t, tr, "GET", url, ""); code != 200 || body != "ok" {
		t.Errorf("GET with %d dead pooled connections: %d %q", pooled, code, body)
	}

	// Make the pooled connection look old: a POST must dial afresh.
	tr.mu.Lock()
	for _, conns := range tr.idle {
		for _, c := range conns {
			c.idleSince = time.Now().Add(-time.Minute + time.Second)
		}
	}
	tr.mu.Unlock()
	code, body, _ := roundTrip(t, tr, "POST", url, "x")
	if code != 200 || body != "ok" {
		t.Errorf("POST after an old idle connection: %d %q", code, body)
	}
	if n := d.n.Load(); n < 2 {
		t.Errorf("%d connections after the POST, want a new one", n)
	}
}

// A client that leaves while the pod is still answering ends the
// exchange at once and the connection is not reused.
func TestH1ClientGone(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	defer close(release)
	d := &countingDialer{}
	tr := newH1Transport(d.dial, newTransport())
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", backend.URL+"/slow", nil)
	start := time.Now()
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a cancelled request got an answer")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cancelled exchange took %s to end", d)
	}
	roundTrip(t, tr, "GET", backend.URL+"/", "")
	if n := d.n.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the cancelled one not reused)", n)
	}
}
