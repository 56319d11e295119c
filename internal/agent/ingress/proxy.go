package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// dialTimeout bounds connecting to one endpoint; a pod that vanished
	// without a reset costs this long before the next endpoint is tried.
	dialTimeout = time.Second
	// maxTries is how many endpoints one request may be offered to.
	maxTries = 3
)

// backendKey carries the chosen *backend from the handler to the
// transport in the request's context.
type backendKey struct{}

// handler routes requests by the current table and proxies them.
type handler struct {
	table *atomic.Pointer[table]
	proxy *httputil.ReverseProxy
	log   *slog.Logger
}

func newHandler(t *atomic.Pointer[table], log *slog.Logger) *handler {
	h := &handler{table: t, log: log}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    &retryTransport{base: newH1Transport(dialPod, newTransport())},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler: h.proxyError,
		BufferPool:   newBufferPool(),
	}
	return h
}

// newTransport is the one client connection pool towards pods. Pods
// speak plain HTTP/1.1; responses may take any time (long polls).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // pods are reached directly, whatever the node's environment says
		DialContext:           dialPod,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass bodies through as the pod encoded them
		ForceAttemptHTTP2:     false,
	}
}

var podDialer = &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}

// dialPod connects to a pod, marking a failure as a dialError.
func dialPod(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := podDialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	return c, nil
}

// dialError marks a failure that is safe to retry on another endpoint: a
// failure to connect, before any byte of the request left, or a pod that
// failed a request which may be sent twice (a GET without a body).
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "backend" // replaced by the endpoint the transport picks
	pr.Out.Host = pr.In.Host
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-Ip", ip)
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.table.Load()
	if t == nil {
		http.Error(w, "ingress controller is starting", http.StatusServiceUnavailable)
		return
	}
	b := t.lookup(r.Host, r.URL.Path)
	if b == nil {
		h.log.Debug("no ingress rule", "method", r.Method, "host", r.Host, "path", r.URL.Path)
		http.Error(w, "404 not found: no Ingress rule matches this host and path", http.StatusNotFound)
		return
	}
	if b.unavailable != "" {
		h.log.Debug("backend unavailable", "method", r.Method, "host", r.Host, "path", r.URL.Path, "backend", b.name, "reason", b.unavailable)
		http.Error(w, fmt.Sprintf("503 service unavailable: %s: %s", b.name, b.unavailable), http.StatusServiceUnavailable)
		return
	}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, b)))
}

func (h *handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	name := "backend"
	if b, ok := r.Context().Value(backendKey{}).(*backend); ok {
		name = b.name
	}
	h.log.Debug("proxying failed", "method", r.Method, "host", r.Host, "path", r.URL.Path, "backend", name, "err", err)
	if r.Context().Err() != nil {
		return // the client left; nobody reads an answer
	}
	http.Error(w, fmt.Sprintf("502 bad gateway: %s did not answer", name), http.StatusBadGateway)
}

// retryTransport sends a request to the backend's endpoints in
// round-robin order and moves on to the next one when connecting fails,
// so a pod that just went away costs a retry, not a failed request.
type retryTransport struct {
	base http.RoundTripper
}

var errNoBackend = errors.New("no backend chosen for the request")

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := req.Context().Value(backendKey{}).(*backend)
	if b == nil || len(b.endpoints) == 0 {
		return nil, errNoBackend
	}
	var body *trackedBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackedBody{rc: req.Body}
	}
	n := uint32(len(b.endpoints))
	tries := min(maxTries, len(b.endpoints))
	start := b.next.Add(1) - 1
	var err error
	for i := 0; i < tries; i++ {
		out := req.WithContext(req.Context())
		u := *req.URL
		u.Host = b.endpoints[(start+uint32(i))%n]
		out.URL = &u
		if body != nil {
			out.Body = body
			// A pooled connection the pod closed meanwhile fails before
			// anything is written; GetBody lets the transport resend
			// then, and refuses once part of the body has gone.
			out.GetBody = body.again
		}
		var resp *http.Response
		resp, err = rt.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		var de *dialError
		if !errors.As(err, &de) || req.Context().Err() != nil || (body != nil && body.read.Load()) {
			break
		}
	}
	return nil, err
}

// trackedBody lets a request body be offered to a second endpoint: the
// transport closes a body when connecting fails, so Close is left to the
// server that owns it, and reads are noted so a body that was partly
// sent is never sent again.
type trackedBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.read.Store(true)
	}
	return n, err
}

func (b *trackedBody) Close() error { return nil }

var errBodySent = errors.New("request body partly sent already; not resending it")

func (b *trackedBody) again() (io.ReadCloser, error) {
	if b.read.Load() {
		return nil, errBodySent
	}
	return b, nil
}

// bufferPool recycles the buffers responses are copied through, which
// would otherwise cost 32 KiB of garbage per request.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return new([32 << 10]byte) }}}
}

func (p *bufferPool) Get() []byte { return p.pool.Get().(*[32 << 10]byte)[:] }
func (p *bufferPool) Put(b []byte) {
	if cap(b) == 32<<10 {
		p.pool.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}
