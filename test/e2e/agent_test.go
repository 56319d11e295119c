package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workloads are the objects TestAgentWorkloads applies at once, so that
// the slow parts (backoffs, probes) run side by side.
const workloads = `
apiVersion: v1
kind: Namespace
metadata: {name: e2e}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf, namespace: e2e}
data: {greeting: hello, unused: not mounted}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: e2e}
stringData: {password: s3cret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: e2e}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: server
        image: bosun.test/testserver:1
        imagePullPolicy: Never
        resources:
          requests: {cpu: 100m, memory: 32Mi}
          limits: {cpu: 500m, memory: 64Mi}
        env:
        - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: conf, key: greeting}}}
        - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: MEM_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
        - {name: CPU_LIMIT_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
        volumeMounts:
        - {name: conf, mountPath: /etc/conf}
        - {name: creds, mountPath: /etc/creds}
        - {name: info, mountPath: /etc/podinfo}
        - {name: shared, mountPath: /shared}
      - name: sidecar
        image: bosun.test/busybox:1
        imagePullPolicy: Never
        command: [sh, -c, 'echo "from sidecar" > /shared/note; trap "exit 0" TERM; while true; do sleep 1; done']
        volumeMounts: [{name: shared, mountPath: /shared}]
      volumes:
      - name: conf
        configMap: {name: conf, items: [{key: greeting, path: greeting.txt}]}
      - name: creds
        secret: {secretName: creds, defaultMode: 256}
      - name: info
        downwardAPI:
          items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: name, fieldRef: {fieldPath: metadata.name}}
          - {path: cpu, resourceFieldRef: {containerName: server, resource: limits.cpu, divisor: 1m}}
      - name: shared
        emptyDir: {}
---
apiVersion: v1
kind: Pod
metadata: {name: talker, namespace: e2e}
spec:
  containers:
  - name: talker
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'trap "exit 0" TERM; i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.3; done']
---
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: e2e}
spec:
  containers:
  - name: reader
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    stdin: true
    command: [sh, -c, 'while read l; do echo "got: $l"; done']
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: e2e}
spec:
  containers:
  - name: crasher
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'echo "run $(cat /proc/sys/kernel/random/uuid)"; exit 3']
---
apiVersion: v1
kind: Pod
metadata: {name: lively, namespace: e2e}
spec:
  containers:
  - name: server
    image: bosun.test/testserver:1
    imagePullPolicy: Never
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: ready, namespace: e2e}
spec:
  containers:
  - name: server
    image: bosun.test/testserver:1
    imagePullPolicy: Never
    readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: oom, namespace: e2e}
spec:
  restartPolicy: Never
  containers:
  - name: server
    image: bosun.test/testserver:1
    imagePullPolicy: Never
    resources: {limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: graceful, namespace: e2e}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: server
    image: bosun.test/testserver:1
    imagePullPolicy: Never
    lifecycle:
      preStop: {exec: {command: [sh, -c, 'echo prestop > /proc/1/fd/1; sleep 1']}}
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn, namespace: e2e}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: stubborn
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'trap "" TERM; echo started; sleep 1000']
---
apiVersion: v1
kind: Pod
metadata: {name: never-fails, namespace: e2e}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: bosun.test/busybox:1, imagePullPolicy: Never, command: [sh, -c, 'exit 1']}
---
apiVersion: v1
kind: Pod
metadata: {name: never-succeeds, namespace: e2e}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: bosun.test/busybox:1, imagePullPolicy: Never, command: [sh, -c, 'exit 0']}
---
apiVersion: v1
kind: Pod
metadata: {name: onfailure, namespace: e2e}
spec:
  restartPolicy: OnFailure
  containers:
  - name: main
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'if [ -f /data/tried ]; then echo second; exit 0; fi; touch /data/tried; echo first; exit 1']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: init, namespace: e2e}
spec:
  restartPolicy: Never
  initContainers:
  - name: first
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'echo first >> /work/order']
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'grep -q first /work/order && echo second >> /work/order']
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: bosun.test/busybox:1
    imagePullPolicy: Never
    command: [sh, -c, 'echo main >> /work/order; cat /work/order']
    volumeMounts: [{name: work, mountPath: /work}]
  volumes: [{name: work, emptyDir: {}}]
`

// TestAgentWorkloads runs what a user does on a one-node cluster with real
// containers: a Deployment with configuration, volumes, limits and probes;
// logs, exec, attach, port-forward and cp through kubectl; crashes,
// probe failures, OOM kills, graceful deletion, restart policies, init
// containers and a missing image.
func TestAgentWorkloads(t *testing.T) {
	n := startNode(t, nodeOptions{})
	n.apply(t, workloads)
	ctx := context.Background()
	const ns = "e2e"

	var web []corev1.Pod
	t.Run("deployment", func(t *testing.T) {
		err := eventually(120*time.Second, 500*time.Millisecond, func() error {
			list, err := n.server.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "web"}.String()})
			if err != nil {
				return err
			}
			web = nil
			for _, p := range list.Items {
				if podReady(&p) == nil {
					web = append(web, p)
				}
			}
			if len(web) != 2 {
				return fmt.Errorf("%d of 2 web pods Ready", len(web))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, n.k(t, "-n", ns, "get", "pods", "-o", "wide"))
		}
		hostNet, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		netns := map[string]string{}
		for _, p := range web {
			t.Run(p.Name, func(t *testing.T) { checkWebPod(t, n, &p, hostNet, netns) })
		}
		if web[0].Status.PodIP == web[1].Status.PodIP {
			t.Errorf("both pods have IP %s", web[0].Status.PodIP)
		}
	})
	if len(web) != 2 {
		t.FailNow()
	}

	t.Run("configmap update", func(t *testing.T) {
		n.k(t, "-n", ns, "patch", "configmap", "conf", "--type=merge", "-p", `{"data":{"greeting":"bonjour"}}`)
		p := web[0]
		err := eventually(90*time.Second, time.Second, func() error {
			got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/conf/greeting.txt")
			if got != "bonjour" {
				return fmt.Errorf("greeting.txt is %q", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Environment variables are fixed when the container starts.
		if got := execIn(t, n, ns, p.Name, "server", "sh", "-c", "echo $FROM_CM"); got != "hello" {
			t.Errorf("FROM_CM is %q after the update, want hello", got)
		}
	})

	n.waitPod(t, ns, "talker", 60*time.Second, podRunning)
	t.Run("logs -f", func(t *testing.T) {
		s := n.kubectlStream(t, "-n", ns, "logs", "-f", "talker")
		first := s.waitFor(t, regexp.MustCompile(`^line (\d+)$`), 30*time.Second)
		i, _ := strconv.Atoi(first[1])
		// A line written after the stream opened arrives on it.
		s.waitFor(t, regexp.MustCompile(`^line `+strconv.Itoa(i+3)+`$`), 30*time.Second)
	})

	t.Run("exec -i", func(t *testing.T) {
		out, errOut, err := n.kubectlRun(t, strings.NewReader("hello from stdin\n"), "-n", ns, "exec", "-i", "talker", "--", "sh", "-c", "tr a-z A-Z; exit 4")
		if out != "HELLO FROM STDIN\n" {
			t.Errorf("stdout %q, stderr %q", out, errOut)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
			t.Errorf("kubectl exit %v, want the command's code 4", err)
		}
	})

	t.Run("exec -it", func(t *testing.T) {
		// script gives kubectl a terminal, so -t is honoured.
		kc := fmt.Sprintf("%s --kubeconfig %s --cache-dir %s -n %s exec -it talker -- sh -c 'tty; [ -t 1 ] && echo IS-A-TTY'",
			kubectlPath, n.server.kubeconfig, t.TempDir(), ns)
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "script", "-qec", kc, "/dev/null").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "IS-A-TTY") {
			t.Errorf("exec -it: %v\n%s", err, out)
		}
	})

	t.Run("attach", func(t *testing.T) {
		n.waitPod(t, ns, "reader", 60*time.Second, podRunning)
		s := n.kubectlStream(t, "-n", ns, "attach", "-i", "reader")
		// Attach may connect after the first write: keep writing until an
		// answer comes back.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := 0; i < 60; i++ {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				fmt.Fprintf(s.stdin, "ping %d\n", i)
			}
		}()
		s.waitFor(t, regexp.MustCompile(`^got: ping \d+$`), 40*time.Second)
	})

	t.Run("port-forward", func(t *testing.T) {
		local := freePort(t)
		s := n.kubectlStream(t, "-n", ns, "port-forward", "pod/"+web[0].Name, fmt.Sprintf("%d:8080", local))
		s.waitFor(t, regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:`), 30*time.Second)
		code, body, err := get(insecureClient(10*time.Second), fmt.Sprintf("http://127.0.0.1:%d/hostname", local))
		if err != nil || code != 200 || strings.TrimSpace(body) != web[0].Name {
			t.Errorf("through the forward: %d %q %v", code, body, err)
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		content := strings.Repeat("copied both ways\n", 500)
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		n.k(t, "cp", src, ns+"/talker:/tmp/in.txt")
		if got := n.k(t, "-n", ns, "exec", "talker", "--", "cat", "/tmp/in.txt"); got != content {
			t.Fatalf("in the container: %d bytes, want %d", len(got), len(content))
		}
		back := filepath.Join(dir, "back.txt")
		n.k(t, "cp", ns+"/talker:/tmp/in.txt", back)
		if got := readFile(t, back); got != content {
			t.Fatalf("copied back: %d bytes, want %d", len(got), len(content))
		}
	})

	t.Run("liveness", func(t *testing.T) {
		p := n.waitPod(t, ns, "lively", 60*time.Second, podRunning)
		if code, body, err := httpGetPod(p.Status.PodIP, "/fail?probe=healthz"); err != nil || code != 200 {
			t.Fatalf("/fail: %d %q %v", code, body, err)
		}
		n.waitPod(t, ns, "lively", 60*time.Second, func(p *corev1.Pod) error {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("not restarted once and running: %s", describeStatuses(p))
			}
			return nil
		})
		err := eventually(30*time.Second, 500*time.Millisecond, func() error {
			evs, err := n.server.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=lively"})
			if err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Reason == "Unhealthy" && strings.Contains(strings.ToLower(e.Message), "liveness") {
					return nil
				}
			}
			return fmt.Errorf("no Unhealthy liveness event among %d", len(evs.Items))
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("readiness", func(t *testing.T) {
		p := n.waitPod(t, ns, "ready", 60*time.Second, podReady)
		if code, body, err := httpGetPod(p.Status.PodIP, "/fail?probe=readyz"); err != nil || code != 200 {
			t.Fatalf("/fail: %d %q %v", code, body, err)
		}
		n.waitPod(t, ns, "ready", 60*time.Second, func(p *corev1.Pod) error {
			if podReady(p) == nil {
				return fmt.Errorf("still Ready")
			}
			// Unready, not restarted.
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || cs[0].RestartCount != 0 {
				return fmt.Errorf("unexpected: %s", describeStatuses(p))
			}
			return nil
		})
		if code, body, err := httpGetPod(p.Status.PodIP, "/heal"); err != nil || code != 200 {
			t.Fatalf("/heal: %d %q %v", code, body, err)
		}
		n.waitPod(t, ns, "ready", 60*time.Second, podReady)
	})

	t.Run("OOMKilled", func(t *testing.T) {
		p := n.waitPod(t, ns, "oom", 60*time.Second, podRunning)
		// The container dies during the request: its answer does not matter.
		httpGetPod(p.Status.PodIP, "/alloc?mb=100")
		n.waitPod(t, ns, "oom", 60*time.Second, func(p *corev1.Pod) error {
			for _, cs := range p.Status.ContainerStatuses {
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if term != nil && term.Reason == "OOMKilled" {
						return nil
					}
				}
			}
			return fmt.Errorf("not OOMKilled: %s", describeStatuses(p))
		})
	})

	t.Run("restartPolicy", func(t *testing.T) {
		cases := []struct {
			pod      string
			phase    corev1.PodPhase
			restarts int32
		}{
			{"never-fails", corev1.PodFailed, 0},
			{"never-succeeds", corev1.PodSucceeded, 0},
			{"onfailure", corev1.PodSucceeded, 1},
		}
		for _, tc := range cases {
			t.Run(tc.pod, func(t *testing.T) {
				n.waitPod(t, ns, tc.pod, 90*time.Second, func(p *corev1.Pod) error {
					if p.Status.Phase != tc.phase {
						return fmt.Errorf("phase %s, want %s: %s", p.Status.Phase, tc.phase, describeStatuses(p))
					}
					if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != tc.restarts {
						return fmt.Errorf("want %d restarts: %s", tc.restarts, describeStatuses(p))
					}
					return nil
				})
			})
		}
	})

	t.Run("init containers", func(t *testing.T) {
		p := n.waitPod(t, ns, "init", 60*time.Second, func(p *corev1.Pod) error {
			if p.Status.Phase != corev1.PodSucceeded {
				return fmt.Errorf("phase %s: %s", p.Status.Phase, describeStatuses(p))
			}
			return nil
		})
		for _, cs := range p.Status.InitContainerStatuses {
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				t.Errorf("init container %s: %s", cs.Name, describeStatuses(p))
			}
		}
		if got := n.k(t, "-n", ns, "logs", "init", "-c", "main"); got != "first\nsecond\nmain\n" {
			t.Errorf("order of writes: %q", got)
		}
	})

	t.Run("missing image", func(t *testing.T) {
		// Watched from before its creation, so that every status the
		// agent reports is seen.
		w, err := n.server.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=ghost"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ghost := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ghost"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "main", Image: "bosun.test/not-imported:1", ImagePullPolicy: corev1.PullIfNotPresent,
			}}},
		}
		if _, err := n.server.client.CoreV1().Pods(ns).Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		deadline := time.After(120 * time.Second)
		for !slices.Contains(seen, "ImagePullBackOff") {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch ended; reasons so far %v", seen)
				}
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				for _, cs := range p.Status.ContainerStatuses {
					if st := cs.State.Waiting; st != nil && (len(seen) == 0 || seen[len(seen)-1] != st.Reason) {
						seen = append(seen, st.Reason)
					}
				}
			case <-deadline:
				t.Fatalf("no ImagePullBackOff within 120s; reasons so far %v", seen)
			}
		}
		// A failed pull first, then the back-off.
		if i := slices.Index(seen, "ErrImagePull"); i < 0 || i > slices.Index(seen, "ImagePullBackOff") {
			t.Errorf("waiting reasons in order: %v, want ErrImagePull before ImagePullBackOff", seen)
		}
		// And the failed pull stays visible to a reader who is not watching.
		n.waitPod(t, ns, "ghost", 120*time.Second, func(p *corev1.Pod) error {
			if cs := p.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ErrImagePull" {
				return nil
			}
			return fmt.Errorf("not ErrImagePull: %s", describeStatuses(p))
		})
	})

	t.Run("graceful delete", func(t *testing.T) {
		n.waitPod(t, ns, "graceful", 60*time.Second, podRunning)
		s := n.kubectlStream(t, "-n", ns, "logs", "-f", "graceful")
		s.waitFor(t, regexp.MustCompile(`listening on`), 30*time.Second)
		n.k(t, "-n", ns, "delete", "pod", "graceful", "--wait=false")
		// The preStop hook runs before the container gets SIGTERM.
		s.waitFor(t, regexp.MustCompile(`^prestop$`), 60*time.Second)
		s.waitFor(t, regexp.MustCompile(`terminating`), 60*time.Second)
		n.waitGone(t, ns, "graceful", 90*time.Second)
	})

	t.Run("SIGKILL after the grace period", func(t *testing.T) {
		n.waitPod(t, ns, "stubborn", 60*time.Second, podRunning)
		w, err := n.server.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=stubborn"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		n.k(t, "-n", ns, "delete", "pod", "stubborn", "--wait=false")
		// The container ignores SIGTERM, so only SIGKILL ends it (exit
		// code 137), once the pod's 2 s grace period is over rather than
		// the default 30 s. The agent's own timestamps say when: how long
		// the test waits depends on the machine's load, not on the agent.
		var deleted time.Time
		deadline := time.After(90 * time.Second)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("watch ended before the container was killed")
				}
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
					deleted = p.DeletionTimestamp.Add(-time.Duration(*p.DeletionGracePeriodSeconds) * time.Second)
				}
				cs := p.Status.ContainerStatuses
				if len(cs) != 1 || cs[0].State.Terminated == nil {
					continue
				}
				term := cs[0].State.Terminated
				if term.ExitCode != 137 {
					t.Errorf("exit code %d, want 137 (SIGKILL): %s", term.ExitCode, describeStatuses(p))
				}
				if deleted.IsZero() {
					t.Fatalf("terminated before the deletion was seen: %s", describeStatuses(p))
				}
				// Timestamps have a resolution of a second.
				if after := term.FinishedAt.Sub(deleted); after < time.Second || after >= 20*time.Second {
					t.Errorf("killed %v after the delete; want about the 2 s grace period", after)
				}
				n.waitGone(t, ns, "stubborn", 90*time.Second)
				return
			case <-deadline:
				t.Fatal("the container was not killed within 90s of the delete")
			}
		}
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		seenBackOff := false
		p := n.waitPod(t, ns, "crasher", 150*time.Second, func(p *corev1.Pod) error {
			if len(p.Status.ContainerStatuses) != 1 {
				return fmt.Errorf("no status yet")
			}
			cs := p.Status.ContainerStatuses[0]
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				seenBackOff = true
			}
			if cs.RestartCount < 2 || !seenBackOff {
				return fmt.Errorf("backoff seen %v: %s", seenBackOff, describeStatuses(p))
			}
			return nil
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 3 {
			t.Errorf("lastState: %s", describeStatuses(p))
		}
		prev := strings.TrimSpace(n.k(t, "-n", ns, "logs", "--previous", "crasher"))
		if !strings.HasPrefix(prev, "run ") {
			t.Errorf("logs --previous: %q", prev)
		}
	})
}

// checkWebPod checks one pod of the web Deployment from the host and from
// inside: network, root filesystem, cgroup limits, configuration and
// volumes.
func checkWebPod(t *testing.T, n *node, p *corev1.Pod, hostNet string, netns map[string]string) {
	const ns = "e2e"
	ip := p.Status.PodIP
	if ip == "" {
		t.Fatal("no pod IP")
	}
	// Reachable from the host at its own IP, and it is this pod answering.
	code, body, err := httpGetPod(ip, "/hostname")
	if err != nil || code != 200 || strings.TrimSpace(body) != p.Name {
		t.Errorf("GET http://%s:8080/hostname: %d %q %v", ip, code, body, err)
	}
	// Its own network namespace, not the host's nor the other pod's.
	ino := execIn(t, n, ns, p.Name, "server", "readlink", "/proc/1/ns/net")
	if ino == hostNet {
		t.Errorf("the pod runs in the host's network namespace %s", ino)
	}
	for other, o := range netns {
		if o == ino {
			t.Errorf("pods %s and %s share network namespace %s", other, p.Name, ino)
		}
	}
	netns[p.Name] = ino
	if got := execIn(t, n, ns, p.Name, "server", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(got, " "+ip+"/") {
		t.Errorf("eth0 in the pod: %q, want %s", got, ip)
	}
	// The image's root filesystem.
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/passwd"); got != "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false" {
		t.Errorf("/etc/passwd in the container: %q", got)
	}
	// Limits in the container's cgroups (v1 here).
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory limit %q, want %d", got, 64<<20)
	}
	quota := execIn(t, n, ns, p.Name, "server", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	period := execIn(t, n, ns, p.Name, "server", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")
	if q, _ := strconv.Atoi(quota); period != "100000" || q != 50000 {
		t.Errorf("cpu quota %q per period %q, want 50000 per 100000", quota, period)
	}
	// Environment from the ConfigMap, the Secret, the pod and its limits.
	_, envBody, err := httpGetPod(ip, "/env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM_CM=hello", "FROM_SECRET=s3cret", "POD_NAME=" + p.Name, "POD_IP=" + ip,
		"NODE_NAME=" + n.name, "MEM_LIMIT=" + strconv.Itoa(64<<20), "CPU_LIMIT_M=500",
		// The kubernetes Service's variables, as every container gets them.
		"KUBERNETES_SERVICE_HOST=10.43.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_PORT=tcp://10.43.0.1:443"} {
		if !hasLine(envBody, want) {
			t.Errorf("env lacks %s:\n%s", want, envBody)
		}
	}
	// Mounted ConfigMap (only the listed item), Secret (with its mode),
	// downward API and the emptyDir the sidecar wrote to.
	if got := execIn(t, n, ns, p.Name, "server", "ls", "/etc/conf"); got != "greeting.txt" {
		t.Errorf("ls /etc/conf: %q", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/conf/greeting.txt"); got != "hello" {
		t.Errorf("greeting.txt: %q", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/creds/password"); got != "s3cret" {
		t.Errorf("password: %q", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "stat", "-L", "-c", "%a", "/etc/creds/password"); got != "400" {
		t.Errorf("password mode %q, want 400", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/podinfo/name"); got != p.Name {
		t.Errorf("downward API name: %q", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/podinfo/labels"); !strings.Contains(got, `app="web"`) {
		t.Errorf("downward API labels: %q", got)
	}
	if got := execIn(t, n, ns, p.Name, "server", "cat", "/etc/podinfo/cpu"); got != "500" {
		t.Errorf("downward API cpu limit: %q", got)
	}
	err = eventually(30*time.Second, 500*time.Millisecond, func() error {
		if got := execIn(t, n, ns, p.Name, "server", "cat", "/shared/note"); got != "from sidecar" {
			return fmt.Errorf("/shared/note in the server container: %q", got)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// execIn runs a command in a container with kubectl exec and returns its
// trimmed output; a failure to run it is reported as output.
func execIn(t *testing.T, n *node, ns, pod, container string, cmd ...string) string {
	t.Helper()
	out, errOut, err := n.kubectlRun(t, nil, append([]string{"-n", ns, "exec", pod, "-c", container, "--"}, cmd...)...)
	if err != nil {
		return fmt.Sprintf("<%v: %s%s>", err, out, errOut)
	}
	return strings.TrimSpace(out)
}

func hasLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
