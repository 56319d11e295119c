package containerdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start runs containerd for the test and returns the address of its
// socket. It skips the test when not root or when containerd is missing.
func Start(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("containerd is not installed: %v", err)
	}
	// Not t.TempDir: its long name can push the socket path past the
	// 108-byte limit of a unix socket address.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	state := filepath.Join(dir, "state")
	address := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
`, root, state, address, address+".ttrpc")
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary, "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	t.Cleanup(func() {
		// Shims outlive containerd by design; end those of this root first.
		killShims(t, state)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing containerd's directory: %v", err)
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", address); err == nil {
			c.Close()
			return address
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd's socket did not appear within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killShims kills the containerd-shim processes whose command line names
// this containerd's state directory, and everything they run.
func killShims(t testing.TB, state string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if !strings.Contains(args[0], "containerd-shim") || !strings.Contains(string(data), filepath.Dir(state)+"/") {
			continue
		}
		var pid int
		fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
		// A shim leads its own process group with setsid; its containers
		// live in their own PID namespaces and die with their init.
		for _, child := range childrenOf(pid) {
			syscall.Kill(child, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		t.Logf("killed leftover shim %d", pid)
	}
}

func childrenOf(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		var c int
		if _, err := fmt.Sscanf(f, "%d", &c); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", points[i], err)
		}
	}
}
