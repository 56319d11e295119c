package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/test/images"
)

// TestStreaming runs what a user does with a running pod through the real
// kubectl: logs -f, logs --previous, exec -i with stdin, exec -it on a
// terminal, attach, port-forward and cp. The path is kubectl → API server →
// agent → containerd's streaming server, with real containers.
func TestStreaming(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := startNode(t, nodeOptions{})
	s := n.server
	ns := "streaming"
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	never := corev1.PullNever
	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "talker"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "talker", Image: images.Busybox, ImagePullPolicy: never,
			Command: []string{"sh", "-c", `i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.2; done`},
		}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "crasher"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "crasher", Image: images.Busybox, ImagePullPolicy: never,
			Command: []string{"sh", "-c", `echo "instance $(cat /proc/sys/kernel/random/uuid)"; sleep 1; exit 3`},
		}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: images.TestServer, ImagePullPolicy: never,
		}}}},
	}
	for _, p := range pods {
		if _, err := s.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"talker", "web"} {
		n.waitPod(t, ns, name, 90*time.Second, podRunning)
	}
	k := func(args ...string) string {
		t.Helper()
		return n.k(t, append([]string{"-n", ns}, args...)...)
	}

	t.Run("logs -f", func(t *testing.T) {
		logs := n.kubectlStream(t, "-n", ns, "logs", "-f", "talker")
		// Lines keep arriving while the stream is open.
		first := logs.waitFor(t, regexp.MustCompile(`^line (\d+)$`), 20*time.Second)
		i, _ := strconv.Atoi(first[1])
		logs.waitFor(t, regexp.MustCompile(`^line `+strconv.Itoa(i+3)+`$`), 20*time.Second)
		logs.cmd.Process.Kill()
	})

	t.Run("logs -f ends when the container exits", func(t *testing.T) {
		start := time.Now()
		out, errOut, err := n.kubectlRun(t, nil, "-n", ns, "logs", "-f", "crasher")
		if err != nil || !strings.HasPrefix(out, "instance ") {
			t.Fatalf("logs -f crasher: %v %q %s", err, out, errOut)
		}
		// The container lives about a second; the stream ends soon after.
		if d := time.Since(start); d > 15*time.Second {
			t.Fatalf("logs -f took %v to end", d)
		}
	})

	t.Run("logs --tail --timestamps", func(t *testing.T) {
		got := strings.Split(strings.TrimSpace(k("logs", "--tail=2", "--timestamps", "talker")), "\n")
		if len(got) != 2 {
			t.Fatalf("got %d lines: %q", len(got), got)
		}
		for _, l := range got {
			ts, rest, _ := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(rest, "line ") {
				t.Fatalf("line %q: want an RFC 3339 timestamp and the output", l)
			}
		}
	})

	t.Run("logs --previous", func(t *testing.T) {
		var cur string
		n.waitPod(t, ns, "crasher", 90*time.Second, func(p *corev1.Pod) error {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
				return fmt.Errorf("not restarted yet: %s", describeStatuses(p))
			}
			return nil
		})
		prev := strings.TrimSpace(k("logs", "--previous", "crasher"))
		if !strings.HasPrefix(prev, "instance ") {
			t.Fatalf("previous logs %q", prev)
		}
		// The current instance, once it has written, is another one.
		if err := eventually(30*time.Second, 300*time.Millisecond, func() error {
			out, _, _ := n.kubectlRun(t, nil, "-n", ns, "logs", "crasher")
			cur = strings.TrimSpace(out)
			if !strings.HasPrefix(cur, "instance ") {
				return fmt.Errorf("current logs %q", cur)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if cur == prev {
			t.Fatalf("current and previous logs are the same: %q", cur)
		}
	})

	t.Run("exec -i with stdin", func(t *testing.T) {
		stdout, stderr, err := n.kubectlRun(t, strings.NewReader("hello from stdin\n"), "-n", ns, "exec", "-i", "talker", "--", "sh", "-c", "tr a-z A-Z; echo done >&2; exit 7")
		if stdout != "HELLO FROM STDIN\n" || !strings.Contains(stderr, "done") {
			t.Fatalf("stdout %q stderr %q err %v", stdout, stderr, err)
		}
		// The command's exit code is kubectl's.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
			t.Fatalf("exit: %v, want code 7", err)
		}
	})

	t.Run("exec -it on a terminal", func(t *testing.T) {
		out := runOnTerminal(t, ctx, "", kubectlPath, "--kubeconfig", s.kubeconfig, "--cache-dir", t.TempDir(),
			"-n", ns, "exec", "-it", "talker", "--", "sh", "-c",
			// kubectl sends the terminal's size right after the stream
			// opens, so the first look may still see 0 0 (or, while the
			// runtime resizes the console, fail).
			`[ -t 0 ] && echo "TERMINAL:$TERM"; for i in $(seq 30); do s=$(stty size 2>&1); [ "$s" = "40 100" ] && break; sleep 0.1; done; echo "SIZE:$s"`)
		if !strings.Contains(out, "TERMINAL:") {
			t.Fatalf("the command did not get a terminal: %q", out)
		}
		if !regexp.MustCompile(`SIZE:40 100\r?\n`).MatchString(out) {
			t.Fatalf("the terminal size did not reach the container: %q", out)
		}
	})

	t.Run("attach", func(t *testing.T) {
		attach := n.kubectlStream(t, "-n", ns, "attach", "talker")
		attach.waitFor(t, regexp.MustCompile(`^line \d+$`), 20*time.Second)
		attach.cmd.Process.Kill()
	})

	t.Run("port-forward", func(t *testing.T) {
		local := freePort(t)
		pf := n.kubectlStream(t, "-n", ns, "port-forward", "pod/web", fmt.Sprintf("%d:8080", local))
		defer pf.cmd.Process.Kill()
		pf.waitFor(t, regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:`), 20*time.Second)
		for i := range 3 {
			resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/echo", local), "text/plain", strings.NewReader(fmt.Sprintf("payload %d", i)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), fmt.Sprintf("payload %d", i)) || !strings.Contains(string(body), "hostname: web") {
				t.Fatalf("through the forward: %s", body)
			}
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		content := strings.Repeat("copied both ways\n", 1000)
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		k("cp", src, ns+"/talker:/tmp/in.txt")
		if got := k("exec", "talker", "--", "cat", "/tmp/in.txt"); got != content {
			t.Fatalf("in the container: %d bytes, want %d", len(got), len(content))
		}
		back := filepath.Join(dir, "back.txt")
		k("cp", ns+"/talker:/tmp/in.txt", back)
		if got := readFile(t, back); got != content {
			t.Fatalf("copied back: %d bytes, want %d", len(got), len(content))
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, stderr, err := n.kubectlRun(t, nil, "-n", ns, "logs", "talker", "-c", "nope")
		if err == nil || !strings.Contains(stderr, "container nope is not valid for pod talker") {
			t.Fatalf("logs of an unknown container: %v %s", err, stderr)
		}
		_, stderr, err = n.kubectlRun(t, nil, "-n", ns, "logs", "--previous", "talker")
		if err == nil || !strings.Contains(stderr, `previous terminated container "talker" in pod "talker" not found`) {
			t.Fatalf("previous logs of a container that never restarted: %v %s", err, stderr)
		}
	})
}

// runOnTerminal runs a command with a new pseudo-terminal (40 rows, 100
// columns) as its controlling terminal, writes input to it, and returns
// everything the command wrote to it.
func runOnTerminal(t *testing.T, ctx context.Context, input string, name string, args ...string) string {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	if input != "" {
		io.WriteString(ptmx, input)
	}
	var out bytes.Buffer
	// Reading ends with EIO once the command and its children closed the
	// terminal.
	io.Copy(&out, ptmx)
	cmd.Wait()
	return out.String()
}
