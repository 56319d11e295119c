package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/test/images"
)

// TestAgentJoin joins a separate `bosun agent` to a control-plane-only
// server with the join token: the node registers and runs a pod whose
// logs and exec go through it. A wrong token is refused with a clear
// error and changes nothing.
func TestAgentJoin(t *testing.T) {
	requireAgentHost(t)
	lockAgentHost(t)
	tarball := testImages(t)
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	tokenFile := filepath.Join(s.dataDir, "token")
	token := strings.TrimSpace(readFile(t, tokenFile))

	// A token of another cluster (its CA hash), a wrong secret for this
	// one, and something that is not a token at all.
	flip := func(c byte) string { return map[bool]string{true: "1", false: "0"}[c == '0'] }
	// PREFIX HASH.SECRET, the hash 64 hex digits.
	dot := strings.LastIndex(token, ".")
	if dot < 64 {
		t.Fatalf("token %q: no CA hash", token)
	}
	prefix, hash, secret := token[:dot-64], token[dot-64:dot], token[dot+1:]
	wrongTokens := []struct {
		name, token, says string
	}{
		{"another cluster's CA", prefix + flip(hash[0]) + hash[1:] + "." + secret, "refusing to send it the token"},
		{"wrong secret", prefix + hash + "." + secret[:len(secret)-1] + flip(secret[len(secret)-1]), "a valid join token is required"},
		{"not a token", "hunter2", "join token"},
	}
	for _, tc := range wrongTokens {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node")
			code, stdout, stderr := runBosunFor(t, 60*time.Second, "agent", "--server", s.url, "--token", tc.token,
				"--data-dir", dir, "--node-name", "intruder", "--agent-port", "0")
			if code == 0 {
				t.Fatalf("bosun agent with a wrong token exited 0:\n%s%s", stdout, stderr)
			}
			if !strings.Contains(stderr, tc.says) || strings.Count(strings.TrimSpace(stderr), "\n") > 2 {
				t.Errorf("want a short error saying %q; got:\n%s", tc.says, stderr)
			}
			if _, err := s.client.CoreV1().Nodes().Get(ctx, "intruder", metav1.GetOptions{}); err == nil {
				t.Error("a Node was registered with a wrong token")
			}
			if _, err := os.Stat(agent.ContainerdDir(dir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused agent set up a runtime under %s (%v)", dir, err)
			}
			if left := leftBehind(dir, "", nil); len(left) > 0 {
				t.Errorf("the refused agent left %v", left)
			}
		})
	}

	dataDir := t.TempDir()
	n := &node{name: "n2", dataDir: dataDir, t: t, server: s}
	a := startAgentProcess(t, "--server", s.url, "--token-file", tokenFile, "--data-dir", dataDir, "--node-name", n.name, "--agent-port", "0")
	t.Cleanup(func() {
		var sb []sandbox
		select {
		case <-a.done:
		default:
			sb = sandboxes(t, dataDir)
		}
		if err := a.signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		if err := a.wait(30 * time.Second); err != nil {
			t.Errorf("stopping the agent: %v", err)
			a.kill()
		}
		if t.Failed() {
			t.Logf("bosun agent output:\n%s", a.output.tail(8<<10))
		}
		uninstall(t, dataDir, n.bridge, sb)
	})
	err := eventually(90*time.Second, 200*time.Millisecond, func() error {
		nd, err := s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
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
		return fmt.Errorf("node not Ready with a pod range: %+v", nd.Status.Conditions)
	})
	if err != nil {
		t.Fatalf("%v\nagent output:\n%s", err, a.output.tail(8<<10))
	}
	if code, stdout, stderr := runBosunFor(t, 2*time.Minute, "image", "import", "--data-dir", dataDir, tarball); code != 0 || !strings.Contains(stdout, "imported") {
		t.Fatalf("bosun image import into the joined node: exit %d\n%s%s", code, stdout, stderr)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "joined"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "server", Image: images.TestServer, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	if _, err := s.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := n.waitPod(t, "default", "joined", 90*time.Second, podRunning)
	if p.Spec.NodeName != n.name {
		t.Errorf("scheduled to %q, want %q", p.Spec.NodeName, n.name)
	}
	// Running is not listening yet: the server needs a moment.
	err = eventually(30*time.Second, 200*time.Millisecond, func() error {
		if code, body, err := httpGetPod(p.Status.PodIP, "/hostname"); err != nil || code != 200 || strings.TrimSpace(body) != "joined" {
			return fmt.Errorf("GET /hostname: %d %q %v", code, body, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	err = eventually(30*time.Second, 500*time.Millisecond, func() error {
		out, errOut, err := n.kubectlRun(t, nil, "logs", "joined")
		if err != nil || !strings.Contains(out, "listening on") {
			return fmt.Errorf("kubectl logs: %v %q %s", err, out, errOut)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if got := execIn(t, n, "default", "joined", "server", "hostname"); got != "joined" {
		t.Errorf("kubectl exec hostname: %q", got)
	}
}

// startAgentProcess starts `bosun agent`; it is killed when the test ends
// whatever happened to it.
func startAgentProcess(t *testing.T, args ...string) *bosunProcess {
	t.Helper()
	p := &bosunProcess{output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(), append([]string{"agent"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}
