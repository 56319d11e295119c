package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/agent/runtime"
	"github.com/bosun-sh/bosun/test/images"
)

// agentLockPath serialises node tests across test binaries on this
// machine: every node shares the bridge, the pod range and the NAT table.
const agentLockPath = "/run/lock/bosun-e2e-agent.lock"

// requireAgentHost skips unless this machine can run a node: root,
// containerd, runc, the CNI bridge plugin, busybox-static for the test
// images and kubectl.
func requireAgentHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/lib/cni/bridge", images.BusyboxPath, kubectlPath} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed")
	}
}

// lockAgentHost holds the machine-wide node test lock until the test ends.
func lockAgentHost(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(agentLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	locked := make(chan error, 1)
	go func() { locked <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			t.Fatalf("lock %s: %v", agentLockPath, err)
		}
	case <-time.After(10 * time.Minute):
		t.Fatalf("another node test has held %s for 10 minutes", agentLockPath)
	}
	t.Cleanup(func() { f.Close() })
}

var (
	imagesOnce    sync.Once
	imagesDir     string
	imagesTarball string
	imagesErr     error
)

// testImages builds the test images once per test binary and returns the
// tarball. TestMain removes it at the end.
func testImages(t *testing.T) string {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "bosun-e2e-images-")
		if imagesErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		imagesTarball, imagesErr = images.Build(ctx, imagesDir)
	})
	if imagesErr != nil {
		t.Fatalf("building the test images: %v", imagesErr)
	}
	return imagesTarball
}

func removeTestImages() {
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
}

// node is a running `bosun server` with its agent: a one-node cluster.
type node struct {
	name    string
	dataDir string
	// bridge is the host bridge of the node's pod range.
	bridge string
	opts   serverOptions
	// server is the current process; restart replaces it.
	server *bosunProcess

	t        *testing.T
	tornDown bool
	// known are sandboxes read earlier, checked at the end besides
	// those the node has then.
	known []sandbox
}

// nodeOptions say how startNode prepares a node.
type nodeOptions struct {
	// beforeStart runs on the fresh data directory before the server
	// starts (to queue image tarballs, say).
	beforeStart func(dataDir string)
	// skipImport leaves the test images out of the runtime.
	skipImport bool
	// args are added to the server's flags.
	args []string
}

// startNode starts a one-node cluster on a fresh data directory, waits for
// its Node to be Ready and imports the test images into it. When the test
// ends the server is stopped, `bosun uninstall` removes what the node
// created, and the machine is checked for anything the node left.
func startNode(t *testing.T, o nodeOptions) *node {
	t.Helper()
	requireAgentHost(t)
	lockAgentHost(t)
	tarball := testImages(t)
	n := &node{name: "e2e-node", dataDir: t.TempDir(), t: t}
	n.opts = serverOptions{dataDir: n.dataDir, agent: true, args: append([]string{"--node-name", n.name}, o.args...)}
	if o.beforeStart != nil {
		o.beforeStart(n.dataDir)
	}
	// Should the server not even start, its cleanup kills it and this
	// one still removes what it created.
	t.Cleanup(n.teardown)
	n.start(t)
	if !o.skipImport {
		code, stdout, stderr := runBosunFor(t, 2*time.Minute, "image", "import", "--data-dir", n.dataDir, tarball)
		if code != 0 {
			t.Fatalf("bosun image import: exit %d\n%s%s", code, stdout, stderr)
		}
		// The agent runs, so the images go straight into its runtime.
		if !strings.Contains(stdout, "imported") || !strings.Contains(stdout, images.TestServer) {
			t.Fatalf("bosun image import with the agent running: %q", stdout)
		}
	}
	return n
}

// start starts the server on the node's data directory and waits for the
// Node to be Ready. After a stop it starts it again on the same port.
func (n *node) start(t *testing.T) {
	t.Helper()
	n.server = startServer(t, n.opts)
	n.opts.port = n.server.port
	// Cleanups run last-registered first: this one runs before the
	// server's own (which kills it), so the stop is graceful.
	t.Cleanup(n.teardown)
	n.waitNodeReady(t, n.name)
}

func (n *node) waitNodeReady(t *testing.T, name string) {
	t.Helper()
	err := eventually(90*time.Second, 200*time.Millisecond, func() error {
		nd, err := n.server.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && nd.Spec.PodCIDR != "" {
				cidr, err := netip.ParsePrefix(nd.Spec.PodCIDR)
				if err != nil {
					return err
				}
				n.bridge = agent.BridgeName(cidr)
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready with a pod range: %+v", name, nd.Status.Conditions)
	})
	if err != nil {
		t.Fatalf("%v\nserver output:\n%s", err, n.server.output.tail(8<<10))
	}
}

// teardown stops the server, uninstalls the node and checks that nothing
// it created is left on the machine.
func (n *node) teardown() {
	t := n.t
	if n.tornDown {
		return
	}
	n.tornDown = true
	sb := n.known
	if n.server != nil {
		select {
		case <-n.server.done:
		default:
			sb = append(sb, sandboxes(t, n.dataDir)...)
		}
		if err := n.server.signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		if err := n.server.wait(30 * time.Second); err != nil {
			t.Errorf("stopping the server: %v", err)
			n.server.kill()
		}
	}
	uninstall(t, n.dataDir, n.bridge, sb)
}

// uninstall runs `bosun uninstall` on a stopped node's data directory and
// checks that it left nothing behind: not the directory, nor the network
// namespaces and NAT rules of the sandboxes the node had (sb, read while
// it ran), nor its bridge with nothing attached (a node of another cluster
// with the same pod range may still use it), nor a process of its
// containerd, nor a mount under the directory. Other nodes may run on
// this machine at the same time, so only what is known to be this node's
// counts.
func uninstall(t *testing.T, dataDir, bridge string, sb []sandbox) {
	t.Helper()
	code, stdout, stderr := runBosunFor(t, 2*time.Minute, "uninstall", "--data-dir", dataDir)
	if code != 0 {
		t.Errorf("bosun uninstall --data-dir %s: exit %d\n%s%s", dataDir, code, stdout, stderr)
	}
	t.Logf("bosun uninstall:\n%s%s", stdout, stderr)
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory %s still there after uninstall (%v)", dataDir, err)
	}
	for _, leak := range leftBehind(dataDir, bridge, sb) {
		t.Errorf("left after uninstall: %s", leak)
	}
}

// sandbox is a pod sandbox of a node, as its runtime described it.
type sandbox struct {
	id    string
	netns string // path of its network namespace; empty for host network
}

// sandboxes lists the sandboxes of the running containerd under dataDir,
// with their network namespaces.
func sandboxes(t *testing.T, dataDir string) []sandbox {
	t.Helper()
	conn, err := runtime.Dial(runtime.Socket(agent.ContainerdDir(dataDir)))
	if err != nil {
		t.Errorf("runtime of %s: %v", dataDir, err)
		return nil
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Errorf("listing the sandboxes of %s: %v", dataDir, err)
		return nil
	}
	var out []sandbox
	for _, item := range list.Items {
		sb := sandbox{id: item.Id}
		st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: item.Id, Verbose: true})
		if err != nil {
			t.Errorf("sandbox %s: %v", item.Id, err)
			continue
		}
		// containerd's verbose status carries the OCI spec of the sandbox,
		// which names its network namespace.
		var info struct {
			RuntimeSpec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string } `json:"namespaces"`
				} `json:"linux"`
			} `json:"runtimeSpec"`
		}
		if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
			t.Errorf("sandbox %s: verbose info: %v", item.Id, err)
		}
		for _, ns := range info.RuntimeSpec.Linux.Namespaces {
			if ns.Type == "network" {
				sb.netns = ns.Path
			}
		}
		out = append(out, sb)
	}
	return out
}

// leftBehind lists what a node on dataDir, with the sandboxes sb, left
// on the machine.
func leftBehind(dataDir, bridge string, sb []sandbox) []string {
	var left []string
	for _, s := range sb {
		if s.netns == "" {
			continue
		}
		if _, err := os.Lstat(s.netns); err == nil {
			left = append(left, "network namespace "+s.netns+" of sandbox "+s.id)
		}
	}
	if out, err := exec.Command("iptables", "-t", "nat", "-S").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			for _, s := range sb {
				if strings.Contains(l, s.id) {
					left = append(left, "nat rule "+l)
				}
			}
		}
	}
	if bridge != "" {
		dev := filepath.Join("/sys/class/net", bridge)
		if _, err := os.Stat(dev); err == nil {
			if ports, _ := os.ReadDir(filepath.Join(dev, "brif")); len(ports) == 0 {
				left = append(left, "bridge "+bridge+" with nothing attached")
			}
		}
	}
	socket := runtime.Socket(agent.ContainerdDir(dataDir))
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cmd, socket) || strings.Contains(cmd, dataDir+"/") {
			left = append(left, "process "+p.Name()+": "+cmd)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && (f[4] == dataDir || strings.HasPrefix(f[4], dataDir+"/")) {
				left = append(left, "mount "+f[4])
			}
		}
	}
	return left
}

// runBosunFor runs a bosun command that may take a while and returns its
// exit code, stdout and stderr.
func runBosunFor(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bosun %s still running after %v", strings.Join(args, " "), timeout)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("bosun %s: %v", strings.Join(args, " "), err)
		return 0, "", ""
	}
}

// kubectlRun runs kubectl against the node with stdin (may be nil) and
// returns stdout, stderr and its error; it is killed after 60 s.
func (n *node) kubectlRun(t *testing.T, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", n.server.kubeconfig, "--cache-dir", t.TempDir()}, args...)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// k runs kubectl and returns its stdout; a failure ends the test.
func (n *node) k(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := n.kubectlRun(t, nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// apply applies a YAML manifest.
func (n *node) apply(t *testing.T, manifest string) {
	t.Helper()
	out, errOut, err := n.kubectlRun(t, strings.NewReader(manifest), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s\nmanifest:\n%s", err, out, errOut, manifest)
	}
}

// stream is a long-running kubectl whose output arrives line by line.
type stream struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	seen  []string
}

// kubectlStream starts kubectl with a stdin pipe; it is killed when the
// test ends if it has not exited by then.
func (n *node) kubectlStream(t *testing.T, args ...string) *stream {
	t.Helper()
	cmd := exec.Command(kubectlPath, append([]string{"--kubeconfig", n.server.kubeconfig, "--cache-dir", t.TempDir()}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &stream{cmd: cmd, stdin: stdin, lines: make(chan string, 4096)}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return s
}

// waitFor reads lines until one matches re and returns its submatches.
func (s *stream) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("output ended without a line matching %s; got:\n%s", re, strings.Join(s.seen, "\n"))
			}
			s.seen = append(s.seen, l)
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %s within %v; got:\n%s", re, timeout, strings.Join(s.seen, "\n"))
		}
	}
}

// pod returns a pod of the node's cluster.
func (n *node) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := n.server.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPod polls a pod until cond returns nil, and returns it.
func (n *node) waitPod(t *testing.T, ns, name string, timeout time.Duration, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	err := eventually(timeout, 250*time.Millisecond, func() error {
		var err error
		p, err = n.server.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return cond(p)
	})
	if err != nil {
		t.Fatalf("pod %s/%s: %v", ns, name, err)
	}
	return p
}

// podReady is a waitPod condition: the pod is Running and Ready.
func podReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("phase %q, statuses %s", p.Status.Phase, describeStatuses(p))
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("not Ready: %s", describeStatuses(p))
}

// podRunning is a waitPod condition: every container runs.
func podRunning(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return fmt.Errorf("phase %q, statuses %s", p.Status.Phase, describeStatuses(p))
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return fmt.Errorf("container %s not running: %s", cs.Name, describeStatuses(p))
		}
	}
	return nil
}

// describeStatuses is a short account of a pod's containers for failure
// messages.
func describeStatuses(p *corev1.Pod) string {
	var b strings.Builder
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "[%s restarts=%d ready=%v", cs.Name, cs.RestartCount, cs.Ready)
		switch st := cs.State; {
		case st.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s %q", st.Waiting.Reason, st.Waiting.Message)
		case st.Running != nil:
			b.WriteString(" running")
		case st.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s code %d", st.Terminated.Reason, st.Terminated.ExitCode)
		}
		if lt := cs.LastTerminationState.Terminated; lt != nil {
			fmt.Fprintf(&b, " last: %s code %d", lt.Reason, lt.ExitCode)
		}
		b.WriteString("] ")
	}
	return b.String()
}

// waitGone waits until the pod object no longer exists.
func (n *node) waitGone(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	err := eventually(timeout, 250*time.Millisecond, func() error {
		_, err := n.server.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("pod %s/%s still exists", ns, name)
		}
		if strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// httpGetPod fetches a path from the test server in a pod, from the host,
// through the pod's IP.
func httpGetPod(ip, path string) (int, string, error) {
	hc := insecureClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	return get(hc, "http://"+ip+":8080"+path)
}
