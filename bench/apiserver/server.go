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

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// server is one `bosun server` process with its own data dir.
type server struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	started time.Time
	exited  chan struct{}
	waitErr error
	log     *tail
}

// startServer starts a server on a free loopback port with a fresh data
// dir. It does not wait for readiness; call waitReady.
func startServer(bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "bosun-bench-")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{dir: dir, url: "https://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), log: &tail{max: 16 << 10}}
	s.cmd = exec.Command(bin, "server",
		"--data-dir", dir,
		"--https-listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1",
		"--disable-agent")
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

// freePort asks the kernel for an unused port. Another process could take
// it before the server binds; the server then exits and waitReady says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /readyz every 5 ms, skipping TLS verification, and
// returns the time from process start to the first `ok`.
func (s *server) waitReady(ctx context.Context) (time.Duration, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if body, err := get(ctx, hc, s.url+"/readyz"); err == nil && string(body) == "ok" {
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

func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// clientConfig is the admin kubeconfig the server wrote, with client-side
// rate limiting out of the way. TLS is verified against the server's CA, so
// a stranger on the same port would fail here. There is no client timeout
// (it would end watches); the scenario's context bounds every call.
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
// connection: client-go shares one HTTP/2 connection among all clients
// made from equal configs, and a distinct Dial function makes this one
// differ.
func ownConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	c.Dial = d.DialContext
	return c
}

// start is startServer, waitReady and a clientset in one step.
func start(ctx context.Context, bin string) (*server, *rest.Config, kubernetes.Interface, error) {
	s, err := startServer(bin)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, nil, nil, err
	}
	cfg, err := s.clientConfig()
	if err == nil {
		var cs kubernetes.Interface
		if cs, err = kubernetes.NewForConfig(cfg); err == nil {
			return s, cfg, cs, nil
		}
	}
	s.stop()
	return nil, nil, nil, err
}

// rss is the server's resident set size in bytes.
func (s *server) rss() (uint64, error) { return readRSS(s.cmd.Process.Pid) }

// rssSplit says how the RSS divides into anonymous memory (heap, stacks)
// and file-backed pages (the mapped binary, etcd's mmapped database).
func (s *server) rssSplit() string {
	anon, file, err := rssParts(s.cmd.Process.Pid)
	if err != nil {
		return "split unknown"
	}
	return fmt.Sprintf("%s anonymous, %s file-backed", mib(float64(anon)), mib(float64(file)))
}

// cpuMeter tells how the CPU time of an interval split between the server
// and this bench client, to show which side a figure is bound by.
type cpuMeter struct {
	s             *server
	wall          time.Time
	server, local time.Duration
}

func (s *server) meter() cpuMeter {
	c, _ := processCPU(s.cmd.Process.Pid)
	return cpuMeter{s: s, wall: time.Now(), server: c, local: selfCPU()}
}

// String is the CPU used since the meter started.
func (m cpuMeter) String() string {
	wall := time.Since(m.wall)
	c, _ := processCPU(m.s.cmd.Process.Pid)
	sv, cl := c-m.server, selfCPU()-m.local
	return fmt.Sprintf("cpu over %.1f s: server %.1f s (%.2f cores), bench client %.1f s (%.2f cores), load %.2f",
		wall.Seconds(), sv.Seconds(), sv.Seconds()/wall.Seconds(), cl.Seconds(), cl.Seconds()/wall.Seconds(), loadAverage())
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
