package main

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

// server is one `bosun server` process (API server, controllers and
// scheduler) with its own data dir.
type server struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	exited  chan struct{}
	waitErr error
	log     *tail
}

// startServer starts a server on a free loopback port with a fresh data
// dir and waits until it is ready.
func startServer(ctx context.Context, bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "bosun-bench-sched-")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{dir: dir, url: "https://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), log: &tail{max: 16 << 10}}
	s.cmd = exec.Command(bin, "server",
		"--data-dir", dir,
		"--https-listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1",
		"--disable-agent")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /readyz every 20 ms until it answers ok.
func (s *server) waitReady(ctx context.Context) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "ok" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w\n%s", ctx.Err(), s.log)
		case <-s.exited:
			return fmt.Errorf("server exited before ready: %v\n%s", s.waitErr, s.log)
		case <-tick.C:
		}
	}
}

// clientConfig is the admin kubeconfig the server wrote, with client-side
// rate limiting out of the way.
func (s *server) clientConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(s.dir, "kubeconfig.yaml"))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Host = s.url
	cfg.QPS, cfg.Burst = 1e6, 1e6
	return cfg, nil
}

// ownConnection returns a copy of cfg whose clients get their own TCP
// connection (client-go shares one among equal configs).
func ownConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	c.Dial = d.DialContext
	return c
}

// cpu is the CPU time the server process has used.
func (s *server) cpu() time.Duration {
	c, _ := processCPU(s.cmd.Process.Pid)
	return c
}

// stop ends the process (SIGTERM, then SIGKILL after 30 s) and removes
// its data dir.
func (s *server) stop() {
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
