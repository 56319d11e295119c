package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-sh/bosun/bench/benchserver"
	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/agent/runtime"
	"github.com/bosun-sh/bosun/test/images"
)

// nodeName is the name the benchmark's agent registers.
const nodeName = "bench-node"

// clusterCIDR is the pod range the server hands node ranges out of.
const clusterCIDR = "10.77.0.0/16"

// namespace holds every pod the benchmark creates.
const namespace = "bench"

// process is one started bosun process, its output going to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{}
	waitErr error
}

func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: exec.Command(bin, args...), logPath: logPath, log: f, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// alive fails once the process has exited, pointing at its log.
func (p *process) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v (log: %s)", p.name, p.waitErr, p.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM and, after grace, SIGKILL.
func (p *process) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// node is a bosun control plane (`bosun server --disable-agent`) and one
// `bosun agent` process joined to it, each with its own data dir, so the
// agent's CPU and memory are its own.
type node struct {
	bin       string
	dir       string // holds both data dirs, the image tarball and the logs
	serverDir string
	agentDir  string
	server    *process
	agent     *process
	client    kubernetes.Interface
	watcher   kubernetes.Interface // its own connection, so creates do not delay events
	// socket is the agent's containerd socket, named on its shims'
	// command lines.
	socket string
	// ingressPort is the agent's Ingress HTTP port.
	ingressPort int
}

// startNode builds the test images, starts the server and the agent with
// the images queued for import, and waits until the Node is Ready. On
// error, what was started is stopped and cleaned up unless keep is set.
func startNode(ctx context.Context, bin, logLevel string, keep bool, out io.Writer) (n *node, err error) {
	dir, err := os.MkdirTemp("", "bosun-bench-agent-")
	if err != nil {
		return nil, err
	}
	n = &node{bin: bin, dir: dir, serverDir: filepath.Join(dir, "server"), agentDir: filepath.Join(dir, "node")}
	n.socket = runtime.Socket(agent.ContainerdDir(n.agentDir))
	defer func() {
		if err != nil {
			n.close(keep, out)
		}
	}()

	began := time.Now()
	tarball, err := images.Build(ctx, filepath.Join(dir, "images"))
	if err != nil {
		return n, fmt.Errorf("test images: %w", err)
	}
	if out, err := exec.CommandContext(ctx, bin, "image", "import", "--data-dir", n.agentDir, tarball).CombinedOutput(); err != nil {
		return n, fmt.Errorf("bosun image import: %w\n%s", err, out)
	}

	ports, err := freePorts(3)
	if err != nil {
		return n, err
	}
	n.ingressPort = ports[1]
	url := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	n.server, err = startProcess("bosun server", filepath.Join(dir, "server.log"), bin, "server",
		"--data-dir", n.serverDir,
		"--https-listen-port", strconv.Itoa(ports[0]),
		"--bind-address", "127.0.0.1",
		// Away from the default range, which other nodes on a shared
		// test machine may be using.
		"--cluster-cidr", clusterCIDR,
		"--disable-agent")
	if err != nil {
		return n, err
	}
	if err := waitServer(ctx, n.server, url); err != nil {
		return n, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(n.serverDir, "kubeconfig.yaml"))
	if err != nil {
		return n, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Host = url
	cfg.QPS, cfg.Burst = 1e6, 1e6
	if n.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return n, err
	}
	if n.watcher, err = kubernetes.NewForConfig(benchserver.OwnConnection(cfg)); err != nil {
		return n, err
	}

	agentStart := time.Now()
	n.agent, err = startProcess("bosun agent", filepath.Join(dir, "agent.log"), bin, "agent",
		"--server", url,
		"--token-file", filepath.Join(n.serverDir, "token"),
		"--data-dir", n.agentDir,
		"--agent-port", "0",
		"--node-name", nodeName,
		"--node-ip", "127.0.0.1",
		"--ingress-http-port", strconv.Itoa(ports[1]),
		"--ingress-https-port", strconv.Itoa(ports[2]),
		"--log-level", logLevel)
	if err != nil {
		return n, err
	}
	if err := n.waitNodeReady(ctx); err != nil {
		return n, err
	}
	fmt.Fprintf(out, "   node %s Ready %s after the agent started (%s with image build and server start)\n",
		nodeName, time.Since(agentStart).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if err := n.prepareNamespace(ctx); err != nil {
		return n, err
	}
	return n, nil
}

func freePorts(count int) ([]int, error) {
	var ports []int
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitServer polls /readyz until it says ok.
func waitServer(ctx context.Context, p *process, url string) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if err := p.alive(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "ok" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (log: %s)", ctx.Err(), p.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *node) waitNodeReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if err := n.agent.alive(); err != nil {
			return err
		}
		nd, err := n.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err == nil && nodeReady(nd) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready: %w (agent log: %s)", nodeName, ctx.Err(), n.agent.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func nodeReady(nd *corev1.Node) bool {
	for _, c := range nd.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// prepareNamespace creates the namespace and waits (briefly) for its
// default ServiceAccount, which pods need before they can be admitted.
func (n *node) prepareNamespace(ctx context.Context) error {
	_, err := n.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := n.client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("default service account in %s: %w", namespace, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops the agent, then the server, and unless keep is set removes
// everything the node created with `bosun uninstall` on both data dirs.
// The logs stay behind when uninstalling failed.
func (n *node) close(keep bool, out io.Writer) error {
	// The agent leaves its containers running when it stops, as the
	// kubelet does; uninstall removes them.
	if n.agent != nil {
		n.agent.stop(30 * time.Second)
	}
	if n.server != nil {
		n.server.stop(30 * time.Second)
	}
	if keep {
		fmt.Fprintf(out, "   kept %s; remove it with:\n     %s uninstall --data-dir %s && %s uninstall --data-dir %s && rm -r %s\n",
			n.dir, n.bin, n.agentDir, n.bin, n.serverDir, n.dir)
		return nil
	}
	var errs []error
	for _, d := range []string{n.agentDir, n.serverDir} {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			continue
		}
		// Removing 110 sandboxes (a CNI DEL each) takes minutes on a busy
		// two-core machine.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		b, err := exec.CommandContext(ctx, n.bin, "uninstall", "--data-dir", d).CombinedOutput()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("bosun uninstall --data-dir %s: %w\n%s", d, err, b))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(out, "   uninstall failed; logs kept in %s\n", n.dir)
		return errors.Join(errs...)
	}
	return os.RemoveAll(n.dir)
}

// usage is what /proc says about the agent, its container runtime and
// the machine at one moment.
type usage struct {
	at       time.Time
	agent    procStat
	agentMem memory
	// runtime is per process (containerd and the shims), so processes
	// that come or go between two samples can be told apart.
	runtime    map[int]procStat
	runtimeRSS uint64
	machine    machineCPU
}

func (n *node) usage() (usage, error) {
	u := usage{at: time.Now(), runtime: map[int]procStat{}}
	var err error
	if u.agent, err = readStat(n.agent.pid()); err != nil {
		return u, fmt.Errorf("agent: %w", err)
	}
	if u.agentMem, err = readMemory(n.agent.pid()); err != nil {
		return u, fmt.Errorf("agent: %w", err)
	}
	pids, err := runtimeProcesses(n.agent.pid(), n.socket)
	if err != nil {
		return u, err
	}
	for _, pid := range pids {
		st, err1 := readStat(pid)
		m, err2 := readMemory(pid)
		if err1 != nil || err2 != nil {
			continue // exited meanwhile
		}
		u.runtime[pid] = st
		u.runtimeRSS += m.rss
	}
	u.machine, _ = readMachineCPU()
	return u, nil
}

// cpuSplit is where CPU time went between two samples.
type cpuSplit struct {
	agent time.Duration
	// containerd's own threads, and the children it reaped: the CNI
	// plugins with the iptables they run, and the short-lived
	// `containerd-shim-runc-v2 start` that launches each shim.
	containerd, containerdChildren time.Duration
	// The shims, and the runc runs they reaped. A shim that started
	// between the samples counts in full.
	shims, shimChildren time.Duration
	// machineBusy is the fraction of all cores busy, with everything else
	// on the machine.
	machineBusy float64
}

func split(first, last usage) cpuSplit {
	c := cpuSplit{agent: last.agent.cpu - first.agent.cpu}
	for pid, st := range last.runtime {
		before := first.runtime[pid] // zero for a process started since
		own, children := st.cpu-before.cpu, st.childCPU-before.childCPU
		if st.comm == "containerd" {
			c.containerd += own
			c.containerdChildren += children
		} else {
			c.shims += own
			c.shimChildren += children
		}
	}
	if total := last.machine.total - first.machine.total; total > 0 {
		c.machineBusy = float64(last.machine.busy-first.machine.busy) / float64(total)
	}
	return c
}

func (c cpuSplit) String() string {
	s := func(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
	return fmt.Sprintf("cpu: agent %s, containerd %s + children %s (CNI, iptables, shim launch), shims %s + runc %s; machine %.0f%% busy",
		s(c.agent), s(c.containerd), s(c.containerdChildren), s(c.shims), s(c.shimChildren), 100*c.machineBusy)
}

// steady is the agent's and the runtime's use over a quiet interval.
type steady struct {
	d            time.Duration
	agentCores   float64
	agentRSS     uint64 // at the end
	agentAnon    uint64
	agentMaxRSS  uint64 // the largest of the once-a-second samples
	runtimeCores float64
	runtimeRSS   uint64 // sum over the processes, at the end
	runtimeProcs int
	machineBusy  float64
}

// measure samples the processes for d: CPU as the difference between the
// first and last samples, RSS at the end and its maximum once a second.
func (n *node) measure(ctx context.Context, d time.Duration) (steady, error) {
	first, err := n.usage()
	if err != nil {
		return steady{}, err
	}
	s := steady{agentMaxRSS: first.agentMem.rss}
	last := first
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(d)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return steady{}, ctx.Err()
		case <-tick.C:
		case <-end:
			done = true
		}
		if err := n.agent.alive(); err != nil {
			return steady{}, err
		}
		if last, err = n.usage(); err != nil {
			return steady{}, err
		}
		s.agentMaxRSS = max(s.agentMaxRSS, last.agentMem.rss)
	}
	s.d = last.at.Sub(first.at)
	s.agentCores = (last.agent.cpu - first.agent.cpu).Seconds() / s.d.Seconds()
	var rt time.Duration
	for pid, st := range last.runtime {
		if st0, ok := first.runtime[pid]; ok {
			rt += st.cpu - st0.cpu
		}
	}
	s.runtimeCores = rt.Seconds() / s.d.Seconds()
	s.agentRSS, s.agentAnon = last.agentMem.rss, last.agentMem.anon
	s.runtimeRSS, s.runtimeProcs = last.runtimeRSS, len(last.runtime)
	s.machineBusy = split(first, last).machineBusy
	return s, nil
}

func (s steady) String() string {
	return fmt.Sprintf("agent %.4f cores, RSS %s (anon %s, max %s); containerd and shims (%d processes) %.4f cores, RSS %s summed; machine %.0f%% busy",
		s.agentCores, mib(s.agentRSS), mib(s.agentAnon), mib(s.agentMaxRSS), s.runtimeProcs, s.runtimeCores, mib(s.runtimeRSS), 100*s.machineBusy)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
