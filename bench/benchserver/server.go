// Package benchserver runs a real `bosun server` process for the
// benchmark programs under bench/: a fresh data dir, a free loopback port,
// readiness, an admin client configuration, and what /proc says about the
// process (CPU time, resident memory) and the machine (load).
package benchserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Server is one `bosun server` process (API server, controllers and
// scheduler) with its own data dir.
type Server struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	started time.Time
	exited  chan struct{}
	waitErr error
	log     *tail
}

// Start starts a server on a free loopback port with a fresh data dir. It
// does not wait for readiness; call WaitReady. Flags go to `bosun server`
// after the ones Start sets, e.g. "--authorization-mode=AlwaysAllow".
func Start(bin string, flags ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "bosun-bench-")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{dir: dir, url: "https://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), log: &tail{max: 16 << 10}}
	args := []string{"server",
		"--data-dir", dir,
		"--https-listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1",
		"--disable-agent"}
	s.cmd = exec.Command(bin, append(args, flags...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = sysProcAttr()
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// StartReady is Start and WaitReady in one step.
func StartReady(ctx context.Context, bin string, flags ...string) (*Server, error) {
	s, err := Start(bin, flags...)
	if err != nil {
		return nil, err
	}
	if _, err := s.WaitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// freePort asks the kernel for an unused port. Another process could take
// it before the server binds; the server then exits and WaitReady says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.url }

// WaitReady polls /readyz every 5 ms, skipping TLS verification, and
// returns the time from process start to the first `ok`.
func (s *Server) WaitReady(ctx context.Context) (time.Duration, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, hc, s.url+"/readyz") {
			return time.Since(s.started), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("server not ready: %w\n%s", ctx.Err(), s.log)
		case <-s.exited:
			return 0, fmt.Errorf("server exited before ready: %v\n%s", s.waitErr, s.log)
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && string(body) == "ok"
}

// Idle waits d, failing if the server exits meanwhile.
func (s *Server) Idle(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.exited:
		return fmt.Errorf("server exited while idle: %v\n%s", s.waitErr, s.log)
	case <-time.After(d):
		return nil
	}
}

// ClientConfig is the admin kubeconfig the server wrote, with client-side
// rate limiting out of the way. TLS is verified against the server's CA, so
// a stranger on the same port would fail here. There is no client timeout
// (it would end watches); the caller's context bounds every call.
func (s *Server) ClientConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(s.dir, "kubeconfig.yaml"))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Host = s.url
	cfg.QPS, cfg.Burst = 1e6, 1e6
	return cfg, nil
}

// OwnConnection returns a copy of cfg whose clients get their own TCP
// connection: client-go shares one HTTP/2 connection among all clients
// made from equal configs, and a distinct Dial function makes this one
// differ.
func OwnConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	c.Dial = d.DialContext
	return c
}

// CPU is the CPU time the server process has used (0 if unknown).
func (s *Server) CPU() time.Duration {
	c, _ := processCPU(s.cmd.Process.Pid)
	return c
}

// RSS is the server's resident set size in bytes.
func (s *Server) RSS() (uint64, error) { return readRSS(s.cmd.Process.Pid) }

// RSSParts is the anonymous (heap, stacks) and file-backed (the mapped
// binary, etcd's mmapped database) parts of the server's RSS.
func (s *Server) RSSParts() (anon, file uint64, err error) { return rssParts(s.cmd.Process.Pid) }

// Stop ends the process (SIGTERM, then SIGKILL after 30 s) and removes
// its data dir.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

// tail keeps the last max bytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return "server output (tail):\n" + t.buf.String()
}
