package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/test/images"
)

// TestAgentUninstallAfterFailedTeardown checks that bosun uninstall still
// removes a pod whose network the CNI plugins can no longer tear down: here
// its masquerade rule and chain are gone (as after a setup that failed
// halfway), which makes the bridge plugin's DEL fail for good. The
// node's cleanup (uninstall, then the check that nothing is left) is the
// assertion.
func TestAgentUninstallAfterFailedTeardown(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, nodeOptions{})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stranded"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "sleep", Image: images.Busybox, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sleep", "1000"},
		}}},
	}
	if _, err := n.server.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitPod(t, "default", "stranded", 90*time.Second, podRunning)
	sb := sandboxes(t, n.dataDir)
	if len(sb) != 1 {
		t.Fatalf("want the pod's one sandbox, got %+v", sb)
	}
	n.known = sb
	n.server.stop(t)
	removeMasquerade(t, sb[0].id)
	// The node's cleanup now runs bosun uninstall and checks the machine.
}

// removeMasquerade deletes the POSTROUTING rule the bridge plugin added for
// a sandbox and the chain it jumps to.
func removeMasquerade(t *testing.T, sandboxID string) {
	t.Helper()
	out, err := exec.Command("iptables", "-t", "nat", "-L", "POSTROUTING", "-n", "--line-numbers").Output()
	if err != nil {
		t.Fatalf("iptables -L: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.Contains(l, sandboxID) || !strings.HasPrefix(f[1], "CNI-") {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		for _, args := range [][]string{{"-D", "POSTROUTING", f[0]}, {"-F", f[1]}, {"-X", f[1]}} {
			if out, err := exec.Command("iptables", append([]string{"-t", "nat"}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("iptables %v: %v: %s", args, err, out)
			}
		}
		return
	}
	t.Fatalf("no masquerade rule for sandbox %s in:\n%s", sandboxID, out)
}
