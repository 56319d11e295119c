// Package runtime owns the node's container runtime: it writes a
// containerd configuration (CRI plugin, runc, the CNI paths, bosun's own
// sandbox image), runs containerd as a supervised child with its root,
// state and socket under the agent's data directory, and dials CRI over
// gRPC — to that child, or to an existing CRI socket given instead.
package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Paths are where the agent keeps containerd's files.
type Paths struct {
	// Dir holds config.toml, root/, state/ and the socket.
	Dir string
	// CNIConfDir holds the CNI network configuration containerd reads.
	CNIConfDir string
	// CNIBinDirs are searched for the CNI plugins.
	CNIBinDirs []string
}

// Socket is containerd's gRPC socket under dir.
func Socket(dir string) string { return filepath.Join(dir, "containerd.sock") }

// DefaultCNIBinDirs are where distributions install the standard plugins
// (Debian: /usr/lib/cni).
var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"}

// Options are what the generated configuration depends on.
type Options struct {
	Paths
	// SandboxImage is the pause image every pod sandbox runs.
	SandboxImage string
	// RestrictOOMScoreAdj keeps containers' OOM score adjustments at or
	// above containerd's own, for hosts where bosun lacks
	// CAP_SYS_RESOURCE and may not lower them (nested or sandboxed
	// machines). Without it every sandbox fails to start there.
	RestrictOOMScoreAdj bool
}

var configTemplate = template.Must(template.New("config").Parse(`# Written by bosun on every start; edits are lost.
version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"
{{if not .RestrictOOMScoreAdj}}oom_score = -999
{{end}}
[grpc]
  address = "{{.Socket}}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.SandboxImage}}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false
  max_container_log_line_size = 16384
  restrict_oom_score_adj = {{.RestrictOOMScoreAdj}}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.BinDir}}"
    conf_dir = "{{.CNIConfDir}}"
    max_conf_num = 1
`))

// Config renders containerd's configuration.
func Config(o Options) ([]byte, error) {
	bin := ""
	for _, d := range o.CNIBinDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			bin = d
			break
		}
	}
	if bin == "" {
		return nil, fmt.Errorf("the CNI plugins (bridge, host-local, portmap, loopback) are not installed in any of %s; on Debian: apt-get install containernetworking-plugins", strings.Join(o.CNIBinDirs, ", "))
	}
	for _, s := range []string{o.Dir, o.CNIConfDir, o.SandboxImage} {
		if strings.ContainsAny(s, "\"\\\n") {
			return nil, fmt.Errorf("%q: quotes, backslashes and newlines are not allowed in runtime paths", s)
		}
	}
	var b bytes.Buffer
	err := configTemplate.Execute(&b, struct {
		Options
		Socket, BinDir string
	}{o, Socket(o.Dir), bin})
	return b.Bytes(), err
}

// CanLowerOOMScore reports whether this process holds CAP_SYS_RESOURCE,
// which lowering an OOM score adjustment requires.
func CanLowerOOMScore() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<capSysResource) != 0
		}
	}
	return false
}

const capSysResource = 24

// Containerd is a containerd process the agent supervises.
type Containerd struct {
	opts Options
	log  *slog.Logger
}

// NewContainerd prepares a supervised containerd; Run starts it.
func NewContainerd(o Options, log *slog.Logger) *Containerd {
	return &Containerd{opts: o, log: log}
}

// Start writes the configuration and starts containerd, returning once
// its socket answers. The process is restarted if it dies until ctx ends;
// then it gets SIGTERM. Containers keep running without it: their shims
// are separate processes, and a new containerd reconnects to them.
func (c *Containerd) Start(ctx context.Context) (done <-chan struct{}, err error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, errors.New("containerd is not installed; on Debian: apt-get install containerd runc containernetworking-plugins")
	}
	if len(Socket(c.opts.Dir)) >= 104 {
		return nil, fmt.Errorf("containerd socket path %s is too long for a unix socket; use a shorter --data-dir", Socket(c.opts.Dir))
	}
	cfg, err := Config(c.opts)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{c.opts.Dir, c.opts.CNIConfDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cfgPath := filepath.Join(c.opts.Dir, "config.toml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(c.opts.Dir, "containerd.log")
	first := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		backoff := time.Second
		for attempt := 0; ; attempt++ {
			started := time.Now()
			err := c.runOnce(ctx, bin, cfgPath, logPath, first, attempt == 0)
			if ctx.Err() != nil {
				return
			}
			c.log.Error("containerd exited; restarting it", "err", err, "log", logPath)
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	select {
	case err := <-first:
		if err != nil {
			return nil, err
		}
		return ended, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runOnce runs containerd until it exits or ctx ends. When report is set
// it sends to first whether the socket came up.
func (c *Containerd) runOnce(ctx context.Context, bin, cfgPath, logPath string, first chan<- error, report bool) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		if report {
			first <- err
		}
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to bosun must not reach containerd
	// before bosun has decided how to stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		if report {
			first <- fmt.Errorf("starting containerd: %w", err)
		}
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if report {
		up := waitSocket(ctx, Socket(c.opts.Dir), exited, 30*time.Second)
		if up != nil {
			cmd.Process.Kill()
			<-exited
			first <- fmt.Errorf("containerd did not come up (see %s): %w", logPath, up)
			return up
		}
		first <- nil
	}
	select {
	case err := <-exited:
		return fmt.Errorf("containerd exited: %v", err)
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		return ctx.Err()
	}
}

// waitSocket waits until a CRI Version call on socket succeeds.
func waitSocket(ctx context.Context, socket string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if conn, err := Dial(socket); err == nil {
			c, cancel := context.WithTimeout(ctx, time.Second)
			_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(c, &runtimeapi.VersionRequest{})
			cancel()
			conn.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s after %s", socket, limit)
		}
	}
}

// Dial connects to a CRI socket (a path or unix:// URL).
func Dial(endpoint string) (*grpc.ClientConn, error) {
	path := strings.TrimPrefix(endpoint, "unix://")
	return grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
	)
}
