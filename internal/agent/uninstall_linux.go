package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent/image"
	"github.com/bosun-sh/bosun/internal/agent/proxy"
	"github.com/bosun-sh/bosun/internal/agent/runtime"
)

// Uninstall removes everything a node created under dataDir and on the
// host: every pod sandbox and container (their network namespaces, veth
// interfaces, IP leases and NAT rules go with them, through CNI), the
// supervised containerd and its shims, the bridge, the hostPort chains, and
// every mount under dataDir. With removeData the directory itself goes
// too. The server or agent using dataDir must be stopped first.
func Uninstall(ctx context.Context, dataDir string, removeData bool, log *slog.Logger) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	var errs []error
	cdDir := ContainerdDir(dataDir)
	if _, err := os.Stat(filepath.Join(cdDir, "config.toml")); err == nil {
		if err := removePods(ctx, dataDir, log); err != nil {
			errs = append(errs, err)
		}
	}
	killShims(runtime.Socket(cdDir), log)
	if err := removeBridge(dataDir); err != nil {
		errs = append(errs, err)
	}
	removeIPAMDir()
	removeHostPortChains(log)
	if err := unmountUnder(dataDir); err != nil {
		errs = append(errs, err)
	}
	if removeData && len(errs) == 0 {
		if err := os.RemoveAll(dataDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removePods starts the node's containerd (its configuration is on disk)
// and removes every sandbox through CRI, so that CNI tears the pod
// networks down properly.
func removePods(ctx context.Context, dataDir string, log *slog.Logger) error {
	cdDir := ContainerdDir(dataDir)
	socket := runtime.Socket(cdDir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done <-chan struct{}
	if !image.Reachable(ctx, socket) {
		cd := runtime.NewContainerd(runtime.Options{
			Paths:               runtime.Paths{Dir: cdDir, CNIConfDir: filepath.Join(Dir(dataDir), "cni", "net.d"), CNIBinDirs: runtime.DefaultCNIBinDirs},
			SandboxImage:        image.PauseImage,
			RestrictOOMScoreAdj: !runtime.CanLowerOOMScore(),
		}, log)
		d, err := cd.Start(ctx)
		if err != nil {
			return fmt.Errorf("starting containerd to remove the pods: %w", err)
		}
		done = d
	} else {
		return fmt.Errorf("containerd at %s is running: stop the bosun server or agent using %s first", socket, dataDir)
	}
	defer func() {
		cancel()
		<-done
	}()
	conn, err := runtime.Dial(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
	defer ccancel()
	cs, err := rt.ListContainers(cctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs.Containers {
		if _, err := rt.StopContainer(cctx, &runtimeapi.StopContainerRequest{ContainerId: c.Id, Timeout: 0}); err != nil {
			errs = append(errs, err)
		}
		if _, err := rt.RemoveContainer(cctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	sbs, err := rt.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	for _, sb := range sbs.Items {
		_, err := rt.StopPodSandbox(cctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
		if err == nil {
			_, err = rt.RemovePodSandbox(cctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
		}
		if err == nil {
			continue
		}
		// The runtime keeps a sandbox whose network teardown fails
		// forever: the bridge plugin cannot delete the masquerade rule of
		// a sandbox whose setup failed before adding it, and every retry
		// fails the same way. Its network namespace is all it holds on
		// the host; the runtime's record of it goes with the data
		// directory.
		if ferr := removeSandboxNetns(cctx, rt, sb.Id); ferr != nil {
			errs = append(errs, fmt.Errorf("sandbox %s: %w; removing its network namespace: %v", sb.Id, err, ferr))
			continue
		}
		log.Warn("removed a sandbox's network namespace by hand", "sandbox", sb.Id, "err", err)
	}
	log.Info("removed pods", "containers", len(cs.Containers), "sandboxes", len(sbs.Items))
	return errors.Join(errs...)
}

// removeSandboxNetns unmounts and deletes a sandbox's network namespace,
// which the runtime names in its verbose status (the sandbox's OCI spec).
// Deleting the namespace deletes the pod's end of its veth pair, and with
// it the host's end.
func removeSandboxNetns(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) error {
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return err
	}
	path, err := sandboxNetns(st.Info["info"])
	if err != nil || path == "" {
		return err
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// sandboxNetns reads the network namespace path out of containerd's
// verbose sandbox info; empty for a sandbox on the host network.
func sandboxNetns(info string) (string, error) {
	var v struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil {
		return "", fmt.Errorf("sandbox info: %w", err)
	}
	for _, ns := range v.RuntimeSpec.Linux.Namespaces {
		if ns.Type != "network" || ns.Path == "" {
			continue
		}
		// Only a file where CNI runtimes pin namespaces is removed, so a
		// corrupt record cannot make uninstall delete anything else.
		p := filepath.Clean(ns.Path)
		if d := filepath.Dir(p); d != "/var/run/netns" && d != "/run/netns" {
			return "", fmt.Errorf("sandbox info: network namespace %q is not under /run/netns", ns.Path)
		}
		return p, nil
	}
	return "", nil
}

// killShims kills containerd shims serving the containerd at socket (they
// outlive containerd by design).
func killShims(socket string, log *slog.Logger) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				log.Info("stopping leftover shim", "pid", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// removeBridge deletes the node's pod bridge once no pod is attached to
// it (another cluster's node on this machine may share it).
func removeBridge(dataDir string) error {
	podCIDR, ok := nodePodCIDR(dataDir)
	if !ok {
		return nil
	}
	name := BridgeName(podCIDR)
	dev := filepath.Join("/sys/class/net", name)
	if ports, _ := os.ReadDir(filepath.Join(dev, "brif")); len(ports) > 0 {
		// Another cluster's node on this machine uses the same range
		// and bridge; its pods still need the rule.
		return nil
	}
	removeMasquerade(podCIDR)
	// The service rules are the machine's, like the bridge: removed with
	// the last node's pods.
	if err := proxy.Remove(context.Background()); err != nil && !errors.Is(err, exec.ErrNotFound) {
		return err
	}
	if _, err := os.Stat(dev); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting interface %s: %v: %s", name, err, out)
	}
	return nil
}

// nodePodCIDR is the node's pod range, from the CNI configuration the
// agent wrote.
func nodePodCIDR(dataDir string) (netip.Prefix, bool) {
	b, err := os.ReadFile(filepath.Join(Dir(dataDir), "cni", "net.d", cniConfFile))
	if err != nil {
		return netip.Prefix{}, false
	}
	var conf struct {
		Plugins []struct {
			IPAM struct {
				Ranges [][]struct {
					Subnet string `json:"subnet"`
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if json.Unmarshal(b, &conf) != nil || len(conf.Plugins) == 0 || len(conf.Plugins[0].IPAM.Ranges) == 0 || len(conf.Plugins[0].IPAM.Ranges[0]) == 0 {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(conf.Plugins[0].IPAM.Ranges[0][0].Subnet)
	return p, err == nil
}

// removeIPAMDir removes the shared lease directory once it holds no lease.
func removeIPAMDir() {
	entries, err := os.ReadDir(ipamDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			return
		}
	}
	os.RemoveAll(ipamDir)
}

// removeHostPortChains removes the portmap plugin's shared chains and the
// jumps to them once no pod uses them.
func removeHostPortChains(log *slog.Logger) {
	if _, err := exec.LookPath("iptables"); err != nil {
		return
	}
	out, err := exec.Command("iptables", "-t", "nat", "-S").Output()
	if err != nil {
		return
	}
	var jumps, chains []string
	s := bufio.NewScanner(strings.NewReader(string(out)))
	for s.Scan() {
		l := s.Text()
		switch {
		case strings.HasPrefix(l, "-A ") && strings.Contains(l, "-j CNI-HOSTPORT-") && !strings.HasPrefix(l, "-A CNI-"):
			jumps = append(jumps, l)
		case strings.HasPrefix(l, "-N CNI-HOSTPORT-"):
			chains = append(chains, strings.TrimPrefix(l, "-N "))
		}
	}
	for _, j := range jumps {
		args := append([]string{"-t", "nat", "-D"}, strings.Fields(strings.TrimPrefix(j, "-A "))...)
		exec.Command("iptables", args...).Run()
	}
	for _, c := range chains {
		exec.Command("iptables", "-t", "nat", "-F", c).Run()
	}
	for _, c := range chains {
		exec.Command("iptables", "-t", "nat", "-X", c).Run()
	}
	if len(chains) > 0 {
		log.Info("removed hostPort chains", "chains", len(chains))
	}
}

// unmountUnder unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
