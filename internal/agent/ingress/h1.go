package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Transport speaks HTTP/1.1 to pods with the request's own goroutine:
// it writes the request and reads the response on a pooled connection
// itself. net/http's Transport hands every exchange to two goroutines of
// the connection (a writer and a reader) and back, and those hand-offs —
// futex wake-ups and scheduling — cost the Ingress controller more CPU
// per request than its reads and writes do. Upgrades and
// `Expect: 100-continue` go to the standard transport, which handles them.
type h1Transport struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback http.RoundTripper

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, most recently used last
}

// Idle connections are kept for idleTimeout and at most maxIdlePerHost of
// them per endpoint. A request that must not be sent twice reuses only a
// connection idle for less than freshIdle: one idle longer may have been
// closed by the pod, and such a request cannot be retried when it was.
const (
	idleTimeout    = 60 * time.Second
	maxIdlePerHost = 256
	freshIdle      = 2 * time.Second
)

type h1Conn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newH1Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), fallback http.RoundTripper) *h1Transport {
	return &h1Transport{dial: dial, fallback: fallback, idle: map[string][]*h1Conn{}}
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return t.fallback.RoundTrip(req)
	}
	replayable := isReplayable(req)
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(req.Context(), req.URL.Host, replayable, attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if reused {
			// A pooled connection the pod had closed — a pod shutting
			// down closes all of its idle ones at once, so the others
			// are dropped too.
			t.dropIdle(req.URL.Host)
		}
		if !replayable || req.Context().Err() != nil {
			return nil, err
		}
		if reused && attempt == 0 {
			continue // nothing was answered: once more on a new connection
		}
		// The pod itself failed a request that may be sent twice: the
		// caller may offer it to another endpoint.
		return nil, &dialError{err: err}
	}
}

// dropIdle closes every pooled connection to addr.
func (t *h1Transport) dropIdle(addr string) {
	t.mu.Lock()
	conns := t.idle[addr]
	delete(t.idle, addr)
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// isReplayable is what net/http's transport sends again after a failure
// on a reused connection: safe methods without a body.
func isReplayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// get returns an idle connection to addr, or a new one; fresh asks for a
// new one. A request that must not be sent twice (replayable false) gets
// only a connection idle for a moment.
func (t *h1Transport) get(ctx context.Context, addr string, replayable, fresh bool) (*h1Conn, bool, error) {
	if fresh {
		return t.dialConn(ctx, addr)
	}
	now := time.Now()
	t.mu.Lock()
	conns := t.idle[addr]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		idle := now.Sub(c.idleSince)
		if idle > idleTimeout || (!replayable && idle > freshIdle) {
			go c.Close() // the slice is newest last: every older one too
			for _, old := range conns {
				go old.Close()
			}
			conns = nil
			break
		}
		t.idle[addr] = conns
		t.mu.Unlock()
		return c, true, nil
	}
	t.idle[addr] = conns
	t.mu.Unlock()
	return t.dialConn(ctx, addr)
}

// dialConn opens a new connection to addr.
func (t *h1Transport) dialConn(ctx context.Context, addr string) (*h1Conn, bool, error) {
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{Conn: nc, br: bufio.NewReaderSize(nc, 4096), bw: bufio.NewWriterSize(nc, 4096)}, false, nil
}

// put keeps c for the next request to addr.
func (t *h1Transport) put(addr string, c *h1Conn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	if len(t.idle[addr]) < maxIdlePerHost {
		t.idle[addr] = append(t.idle[addr], c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.Close()
		}
	}
	if f, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes req on c and reads the response head; the body is read
// through the returned response, which gives c back to the pool once the
// body has been read to its end.
func (t *h1Transport) exchange(c *h1Conn, req *http.Request) (*http.Response, error) {
	// A client that goes away unblocks the pod connection at once.
	stop := context.AfterFunc(req.Context(), func() { c.SetDeadline(aLongTimeAgo) })
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	// Informational answers (103 Early Hints, a stray 100) precede the
	// real one.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, req)
	}
	if err != nil {
		stop()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errors.New("the pod switched protocols without being asked to")
	}
	b := &h1Body{rc: resp.Body, c: c, t: t, addr: req.URL.Host, stop: stop, keep: !resp.Close && !req.Close}
	resp.Body = b
	if resp.ContentLength == 0 || req.Method == http.MethodHead {
		b.finish(true)
	}
	return resp, nil
}

// h1Body is a response body that returns its connection to the pool
// when read to the end, and closes it when abandoned before.
type h1Body struct {
	rc   io.ReadCloser
	c    *h1Conn
	t    *h1Transport
	addr string
	stop func() bool
	keep bool
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish ends the exchange: the connection goes back to the pool when the
// whole response was read, the pod keeps it open, and the client did not
// leave meanwhile (then its deadline is set); otherwise it is closed.
func (b *h1Body) finish(complete bool) {
	b.done = true
	fired := !b.stop()
	if complete && b.keep && !fired {
		b.t.put(b.addr, b.c)
		return
	}
	b.c.Close()
}
