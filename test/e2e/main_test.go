// Package e2e tests the built bosun binary from the outside: it starts real
// server processes on free loopback ports with temporary data dirs, talks to
// them with client-go, kubectl and raw HTTPS, kills and restarts them, and
// runs them against an external etcd cluster. Every process a test starts is
// killed when the test ends.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

var (
	// bosunBin is the binary TestMain builds once for the whole package;
	// tests reach it through binary().
	bosunBin   string
	sourceRoot string
	noteOnce   sync.Once
)

// binary returns the path of the built bosun.
func binary() string {
	noteOnce.Do(func() { noteSources(sourceRoot) })
	return bosunBin
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (unit tests only)")
		return 0
	}
	// client-go logs through klog when a test kills a server mid-response;
	// that is the point of those tests, not news.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	sourceRoot = root
	dir, err := os.MkdirTemp("", "bosun-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bosunBin = filepath.Join(dir, "bosun")
	build := exec.Command("go", "build", "-o", bosunBin, "./cmd/bosun")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/bosun: %v\n%s", err, out)
		return 1
	}
	defer removeTestImages()
	return m.Run()
}

// repoRoot is the nearest parent of the working directory (the test's
// package directory) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// noteSources lists the directories the binary is built from. go test
// caches a passing result keyed on the files and directories the test
// looked at while running (after TestMain hands over to m.Run); without
// this, a change to the server would not invalidate a cached pass of these
// tests, which only talk to it over the network.
func noteSources(root string) {
	for _, f := range []string{"go.mod", "go.sum"} {
		_, _ = os.Stat(filepath.Join(root, f))
	}
	for _, dir := range []string{"cmd", "internal"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(string, fs.DirEntry, error) error { return nil })
	}
}

// serverOptions say how to start a bosun server process.
type serverOptions struct {
	// dataDir reuses a directory (restarts); empty means a fresh temporary one.
	dataDir string
	// port reuses a port (restarts); 0 means a free one.
	port int
	// args are added after the standard flags.
	args []string
	// agent runs the node agent too (on a port it picks); without it the
	// server is a control plane only.
	agent bool
}

// bosunProcess is one running `bosun server`.
type bosunProcess struct {
	dataDir    string
	port       int
	url        string
	kubeconfig string
	config     *rest.Config
	client     kubernetes.Interface
	// readyAfter is the time from process start to the first ok from /readyz.
	readyAfter time.Duration

	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from cmd.Wait, valid once done is closed
}

// startServer starts `bosun server` and waits (bounded) until /readyz says
// ok. The process is killed when the test ends, whatever happened to it.
func startServer(t *testing.T, o serverOptions) *bosunProcess {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.port == 0 {
		o.port = freePort(t)
	}
	args := []string{"server",
		"--data-dir", o.dataDir,
		"--https-listen-port", strconv.Itoa(o.port),
		"--bind-address", "127.0.0.1",
		// Cluster DNS on a free port: other tests' servers run alongside.
		"--dns-port", "0",
	}
	if o.agent {
		args = append(args, "--agent-port", "0")
	} else {
		args = append(args, "--disable-agent")
	}
	args = append(args, o.args...)
	p := &bosunProcess{
		dataDir:    o.dataDir,
		port:       o.port,
		url:        "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)),
		kubeconfig: filepath.Join(o.dataDir, "kubeconfig.yaml"),
		output:     &syncBuffer{},
		done:       make(chan struct{}),
	}
	p.cmd = exec.Command(binary(), args...)
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	// Should the test binary itself die, the kernel kills the server too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start bosun: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("bosun server (port %d) output:\n%s", p.port, p.output.tail(8<<10))
		}
	})

	if err := p.waitReady(60 * time.Second); err != nil {
		t.Fatalf("bosun server on port %d: %v\noutput:\n%s", p.port, err, p.output.tail(8<<10))
	}
	p.readyAfter = time.Since(started)

	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", p.kubeconfig, err)
	}
	cfg.QPS = -1 // no client-side rate limit: tests measure the server
	p.config = cfg
	p.client = kubernetes.NewForConfigOrDie(cfg)
	return p
}

// waitReady polls /readyz until it answers ok, the process exits or
// timeout passes.
func (p *bosunProcess) waitReady(timeout time.Duration) error {
	hc := insecureClient(2 * time.Second)
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		code, body, err := get(hc, p.url+"/readyz")
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK && body == "ok":
			return nil
		default:
			last = fmt.Sprintf("%d %q", code, body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not ok after %v; last: %s", timeout, last)
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before ready: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and requires a clean exit (code 0) within 30 s.
func (p *bosunProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
}

// wait waits for the process to exit and requires exit code 0.
func (p *bosunProcess) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return fmt.Errorf("bosun (pid %d) still running after %v", p.cmd.Process.Pid, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("bosun exited with %v; output:\n%s", p.err, p.output.tail(4<<10))
	}
	return nil
}

// signal delivers sig unless the process has already exited.
func (p *bosunProcess) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone. It is safe to
// call at any time, more than once.
func (p *bosunProcess) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// insecureClient reaches the unauthenticated health endpoints without
// knowing the cluster CA (readiness polling starts before it exists).
func insecureClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
}

// get returns the status code and body of a GET.
func get(hc *http.Client, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}

// syncBuffer collects a process's output; the process writes from its own
// goroutines while the test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes.
func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// eventually retries f every interval until it succeeds or timeout passes,
// and returns its last error.
func eventually(timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
