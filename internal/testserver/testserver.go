// Package testserver starts a real bosun control plane in-process for
// tests: a temporary data dir, embedded etcd, TLS, and an admin client.
package testserver

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-sh/bosun/internal/server"
)

// Server is a running in-process control plane.
type Server struct {
	DataDir    string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	cancel     context.CancelFunc
	done       chan error
}

// Options adjust the server a test starts.
type Options struct {
	// DataDir reuses a directory (to test restarts); empty means a new
	// temporary one.
	DataDir            string
	CompactionInterval time.Duration
	// Controllers starts the built-in control loops.
	Controllers bool
	// Configure, when set, edits the server configuration last.
	Configure func(*server.Config)
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := server.Defaults()
	cfg.DataDir = dir
	cfg.BindAddress = "127.0.0.1"
	cfg.Port = 0
	cfg.DisableAgent = true
	cfg.DisableControllers = !o.Controllers
	// Tests run side by side: cluster DNS on a free port, not 10053.
	cfg.DNSPort = 0
	if o.CompactionInterval > 0 {
		cfg.CompactionInterval = o.CompactionInterval
	}
	level := slog.LevelWarn
	if os.Getenv("BOSUN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	ready := make(chan struct{})
	cfg.Ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig.yaml"), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- server.Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("server exited before ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server not ready after 60s")
	}
	t.Cleanup(func() { s.Stop(t) })
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	s.Config = rc
	s.Client = kubernetes.NewForConfigOrDie(rc)
	return s
}

// Stop shuts the server down gracefully and waits for it. It is safe to
// call more than once.
func (s *Server) Stop(t testing.TB) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server exited: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("server did not stop within 60s")
	}
}
