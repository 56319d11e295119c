package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-sh/bosun/test/images"
)

// TestAgentImagesDirAndRestart checks that a tarball dropped into
// DATA_DIR/agent/images before the server starts is imported when it
// does, and that stopping the server leaves its containers running: the
// restarted agent adopts them without restarting them.
func TestAgentImagesDirAndRestart(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, nodeOptions{skipImport: true, beforeStart: func(dataDir string) {
		dir := filepath.Join(dataDir, "agent", "images")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		copyFile(t, testImages(t), filepath.Join(dir, images.TarballName))
	}})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "keeper"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "server", Image: images.TestServer, ImagePullPolicy: corev1.PullNever,
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		}}},
	}
	if _, err := n.server.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// PullNever: it runs only if the queued tarball was imported.
	before := n.waitPod(t, "default", "keeper", 90*time.Second, podReady)
	id := before.Status.ContainerStatuses[0].ContainerID
	ip := before.Status.PodIP
	startTime := execIn(t, n, "default", "keeper", "server", "cut", "-d", " ", "-f", "22", "/proc/1/stat")

	n.server.stop(t)
	// The container outlives the agent and still answers at its address.
	if err := eventually(10*time.Second, 200*time.Millisecond, func() error {
		code, body, err := httpGetPod(ip, "/hostname")
		if err != nil || code != 200 || strings.TrimSpace(body) != "keeper" {
			return fmt.Errorf("GET /hostname with the agent stopped: %d %q %v", code, body, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	n.start(t)
	// A change to the pod makes the new agent sync it; by then it has
	// looked at the container it found.
	n.k(t, "-n", "default", "annotate", "pod", "keeper", "e2e/restarted=yes")
	after := n.waitPod(t, "default", "keeper", 60*time.Second, podReady)
	cs := after.Status.ContainerStatuses[0]
	if cs.ContainerID != id || cs.RestartCount != 0 || after.Status.PodIP != ip {
		t.Errorf("after the restart: container %s (was %s), restarts %d, IP %s (was %s)", cs.ContainerID, id, cs.RestartCount, after.Status.PodIP, ip)
	}
	// The same process, not a new one with the same name.
	if got := execIn(t, n, "default", "keeper", "server", "cut", "-d", " ", "-f", "22", "/proc/1/stat"); got != startTime {
		t.Errorf("process start time %q, was %q", got, startTime)
	}
	if out := n.k(t, "-n", "default", "logs", "keeper"); !strings.Contains(out, "listening on") {
		t.Errorf("logs after the restart: %q", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
