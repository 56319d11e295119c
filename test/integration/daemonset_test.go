package integration

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/simnode"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// dsStartSim runs count simulated nodes named prefix0… until the test
// ends and waits until they are Ready.
func dsStartSim(t *testing.T, ctx context.Context, s *testserver.Server, prefix string, count int) {
	t.Helper()
	runSimNodes(t, ctx, s.Client, simConfig(prefix, count))
}

// dsManifest is a DaemonSet app=name running image, with extra spec
// lines appended under spec.template.spec (indented 6) and under spec
// (indented 2).
func dsManifest(ns, name, image, dsSpec, podSpec string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  selector:
    matchLabels: {app: %[2]s}
%[4]s
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
      containers:
      - name: main
        image: %[3]s
%[5]s
`, ns, name, image, dsSpec, podSpec)
}

// dsPlacement waits until the DaemonSet's live pods are exactly one per
// node of nodes, each Running and Ready with image, and returns them by
// node.
func dsPlacement(t *testing.T, ctx context.Context, s *testserver.Server, ns, app, image string, nodes ...string) map[string]corev1.Pod {
	t.Helper()
	sort.Strings(nodes)
	var got map[string]corev1.Pod
	var last string
	pollUntil(t, 60*time.Second, fmt.Sprintf("%s: one running %s pod on each of %v", app, image, nodes), func() (bool, error) {
		pods, err := activePods(ctx, s.Client, ns, map[string]string{"app": app})
		if err != nil {
			return false, err
		}
		got = map[string]corev1.Pod{}
		var desc []string
		ok := true
		for _, p := range pods {
			desc = append(desc, fmt.Sprintf("%s@%s(%s,%s)", p.Name, p.Spec.NodeName, p.Status.Phase, p.Spec.Containers[0].Image))
			if _, dup := got[p.Spec.NodeName]; dup || p.Spec.NodeName == "" || !simnode.Running(&p) || p.Spec.Containers[0].Image != image {
				ok = false
			}
			got[p.Spec.NodeName] = p
		}
		if len(got) != len(nodes) {
			ok = false
		}
		for _, n := range nodes {
			if _, found := got[n]; !found {
				ok = false
			}
		}
		last = strings.Join(desc, " ")
		if !ok {
			return false, fmt.Errorf("pods: %s", last)
		}
		return true, nil
	})
	return got
}

// dsStatus waits until the DaemonSet's status counts read want
// ("desired current ready updated available misscheduled").
func dsStatus(t *testing.T, ctx context.Context, s *testserver.Server, ns, name, want string) {
	t.Helper()
	pollUntil(t, 30*time.Second, fmt.Sprintf("ds/%s status %s", name, want), func() (bool, error) {
		ds, err := s.Client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := ds.Status
		got := fmt.Sprintf("%d %d %d %d %d %d", st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberReady,
			st.UpdatedNumberScheduled, st.NumberAvailable, st.NumberMisscheduled)
		if got != want || st.ObservedGeneration != ds.Generation {
			return false, fmt.Errorf("status %q, observed generation %d of %d", got, st.ObservedGeneration, ds.Generation)
		}
		return true, nil
	})
}

// TestDaemonSetPlacement checks which nodes get a daemon pod: all of
// them, none that carries an untolerated NoSchedule taint, only those a
// nodeSelector names, a node that joins later, and none any more on a
// node whose labels stop matching.
func TestDaemonSetPlacement(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	dsStartSim(t, ctx, s, "dsp-", 3)
	ns := newNamespace(t, s)

	k.apply(t, dsManifest(ns, "agent", "registry.example/agent:1", "", ""))
	pods := dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", "dsp-0", "dsp-1", "dsp-2")
	dsStatus(t, ctx, s, ns, "agent", "3 3 3 3 3 0")
	for _, p := range pods {
		if p.Labels["controller-revision-hash"] == "" || p.Labels["pod-template-generation"] != "1" || !strings.HasPrefix(p.Name, "agent-") {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
	}
	out := k.ok(t, "-n", ns, "get", "ds", "agent")
	if !regexp.MustCompile(`agent\s+3\s+3\s+3\s+3\s+3\s`).MatchString(out) {
		t.Errorf("kubectl get ds:\n%s", out)
	}
	events := k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=agent", "-o", "jsonpath={.items[*].reason}")
	if !strings.Contains(events, "SuccessfulCreate") {
		t.Errorf("events of ds/agent: %q", events)
	}

	// A NoSchedule taint keeps new daemon pods off the node but leaves the
	// running ones.
	k.ok(t, "taint", "node", "dsp-2", "dedicated=db:NoSchedule")
	k.apply(t, dsManifest(ns, "probe", "registry.example/probe:1", "", ""))
	dsPlacement(t, ctx, s, ns, "probe", "registry.example/probe:1", "dsp-0", "dsp-1")
	dsStatus(t, ctx, s, ns, "probe", "2 2 2 2 2 0")
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", "dsp-0", "dsp-1", "dsp-2")
	// The pod left on the tainted node counts as misscheduled.
	dsStatus(t, ctx, s, ns, "agent", "2 2 2 2 2 1")

	// A nodeSelector limits the DaemonSet to matching nodes; a node whose
	// label is removed loses its pod.
	k.ok(t, "label", "node", "dsp-1", "disk=ssd")
	k.apply(t, dsManifest(ns, "ssd", "registry.example/ssd:1", "", "      nodeSelector: {disk: ssd}"))
	dsPlacement(t, ctx, s, ns, "ssd", "registry.example/ssd:1", "dsp-1")
	dsStatus(t, ctx, s, ns, "ssd", "1 1 1 1 1 0")
	k.ok(t, "label", "node", "dsp-0", "disk=ssd")
	dsPlacement(t, ctx, s, ns, "ssd", "registry.example/ssd:1", "dsp-0", "dsp-1")
	k.ok(t, "label", "node", "dsp-1", "disk-")
	dsPlacement(t, ctx, s, ns, "ssd", "registry.example/ssd:1", "dsp-0")
	dsStatus(t, ctx, s, ns, "ssd", "1 1 1 1 1 0")

	// A fourth node joins: every DaemonSet it qualifies for starts there.
	dsStartSim(t, ctx, s, "dsq-", 1)
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", "dsp-0", "dsp-1", "dsp-2", "dsq-0")
	dsPlacement(t, ctx, s, ns, "probe", "registry.example/probe:1", "dsp-0", "dsp-1", "dsq-0")
	dsPlacement(t, ctx, s, ns, "ssd", "registry.example/ssd:1", "dsp-0")
	dsStatus(t, ctx, s, ns, "agent", "3 3 3 3 3 1")

	// A NoExecute taint the pods do not tolerate ends them.
	k.ok(t, "taint", "node", "dsq-0", "drain=now:NoExecute")
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", "dsp-0", "dsp-1", "dsp-2")
	dsStatus(t, ctx, s, ns, "agent", "2 2 2 2 2 1")

	// A failed pod is replaced.
	victim := pods["dsp-0"]
	victim.Status.Phase = corev1.PodFailed
	if _, err := s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, &victim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "failed pod replaced", func() (bool, error) {
		after := dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", "dsp-0", "dsp-1", "dsp-2")
		return after["dsp-0"].UID != victim.UID, nil
	})
}

// TestDaemonSetRollout rolls a DaemonSet to a new image with kubectl, one
// node at a time and with surge, then rolls it back.
func TestDaemonSetRollout(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	dsStartSim(t, ctx, s, "dsr-", 3)
	ns := newNamespace(t, s)
	nodes := []string{"dsr-0", "dsr-1", "dsr-2"}

	k.apply(t, dsManifest(ns, "agent", "registry.example/agent:1", "", ""))
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", nodes...)
	k.ok(t, "-n", ns, "rollout", "status", "ds/agent", "--timeout=60s")

	k.ok(t, "-n", ns, "set", "image", "ds/agent", "main=registry.example/agent:2")
	out := k.ok(t, "-n", ns, "rollout", "status", "ds/agent", "--timeout=60s")
	if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status:\n%s", out)
	}
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:2", nodes...)
	dsStatus(t, ctx, s, ns, "agent", "3 3 3 3 3 0")
	pollUntil(t, 10*time.Second, "SuccessfulDelete events", func() (bool, error) {
		reasons := k.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=agent", "-o", "jsonpath={.items[*].reason}")
		if !strings.Contains(reasons, "SuccessfulDelete") {
			return false, fmt.Errorf("reasons %q", reasons)
		}
		return true, nil
	})

	out = k.ok(t, "-n", ns, "rollout", "history", "ds/agent")
	if !regexp.MustCompile(`(?m)^1\s`).MatchString(out) || !regexp.MustCompile(`(?m)^2\s`).MatchString(out) {
		t.Errorf("rollout history, want revisions 1 and 2:\n%s", out)
	}
	out = k.ok(t, "-n", ns, "rollout", "history", "ds/agent", "--revision=1")
	if !strings.Contains(out, "registry.example/agent:1") {
		t.Errorf("rollout history --revision=1:\n%s", out)
	}

	k.ok(t, "-n", ns, "rollout", "undo", "ds/agent")
	k.ok(t, "-n", ns, "rollout", "status", "ds/agent", "--timeout=60s")
	dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", nodes...)
	image := k.ok(t, "-n", ns, "get", "ds", "agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if image != "registry.example/agent:1" {
		t.Errorf("image after undo = %q", image)
	}
	out = k.ok(t, "-n", ns, "rollout", "history", "ds/agent")
	if !regexp.MustCompile(`(?m)^2\s`).MatchString(out) || !regexp.MustCompile(`(?m)^3\s`).MatchString(out) || regexp.MustCompile(`(?m)^1\s`).MatchString(out) {
		t.Errorf("rollout history after undo, want revisions 2 and 3:\n%s", out)
	}
	revs := k.ok(t, "-n", ns, "get", "controllerrevisions", "-l", "app=agent", "-o", "name")
	if n := len(strings.Fields(revs)); n != 2 {
		t.Errorf("controller revisions: %q, want 2", revs)
	}

	// Deleted with orphans and created again, the DaemonSet adopts its
	// pods and revisions instead of replacing them.
	before := dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", nodes...)
	k.ok(t, "-n", ns, "delete", "ds", "agent", "--cascade=orphan")
	pollUntil(t, 30*time.Second, "pods orphaned", func() (bool, error) {
		pods, err := activePods(ctx, s.Client, ns, map[string]string{"app": "agent"})
		if err != nil || len(pods) != 3 {
			return false, err
		}
		for _, p := range pods {
			if metav1.GetControllerOf(&p) != nil {
				return false, nil
			}
		}
		return true, nil
	})
	k.apply(t, dsManifest(ns, "agent", "registry.example/agent:1", "", ""))
	dsStatus(t, ctx, s, ns, "agent", "3 3 3 3 3 0")
	after := dsPlacement(t, ctx, s, ns, "agent", "registry.example/agent:1", nodes...)
	for _, n := range nodes {
		if before[n].UID != after[n].UID {
			t.Errorf("pod on %s replaced (%s → %s), want adopted", n, before[n].Name, after[n].Name)
		}
		if ref := metav1.GetControllerOf(ptrTo(after[n])); ref == nil || ref.Kind != "DaemonSet" {
			t.Errorf("pod %s controller %v", after[n].Name, ref)
		}
	}
	out = k.ok(t, "-n", ns, "rollout", "history", "ds/agent")
	if !regexp.MustCompile(`(?m)^2\s`).MatchString(out) || !regexp.MustCompile(`(?m)^3\s`).MatchString(out) {
		t.Errorf("rollout history after adoption, want revisions 2 and 3:\n%s", out)
	}

	// With maxSurge the new pod starts beside the old one, which goes
	// once the new one is available.
	surge := "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}"
	k.apply(t, dsManifest(ns, "surge", "registry.example/surge:1", surge, ""))
	dsPlacement(t, ctx, s, ns, "surge", "registry.example/surge:1", nodes...)
	k.ok(t, "-n", ns, "rollout", "status", "ds/surge", "--timeout=60s")
	k.apply(t, dsManifest(ns, "surge", "registry.example/surge:2", surge, ""))
	k.ok(t, "-n", ns, "rollout", "status", "ds/surge", "--timeout=60s")
	dsPlacement(t, ctx, s, ns, "surge", "registry.example/surge:2", nodes...)
	dsStatus(t, ctx, s, ns, "surge", "3 3 3 3 3 0")

	// OnDelete: a new template reaches only pods the user deletes.
	onDelete := "  updateStrategy: {type: OnDelete}"
	k.apply(t, dsManifest(ns, "manual", "registry.example/manual:1", onDelete, ""))
	old := dsPlacement(t, ctx, s, ns, "manual", "registry.example/manual:1", nodes...)
	k.ok(t, "-n", ns, "set", "image", "ds/manual", "main=registry.example/manual:2")
	dsStatus(t, ctx, s, ns, "manual", "3 3 3 0 3 0")
	k.ok(t, "-n", ns, "delete", "pod", old["dsr-1"].Name, "--wait=false")
	pollUntil(t, 30*time.Second, "deleted pod replaced with the new template", func() (bool, error) {
		pods, err := activePods(ctx, s.Client, ns, map[string]string{"app": "manual"})
		if err != nil {
			return false, err
		}
		images := map[string]string{}
		for _, p := range pods {
			if simnode.Running(&p) {
				images[p.Spec.NodeName] = p.Spec.Containers[0].Image
			}
		}
		want := map[string]string{"dsr-0": "registry.example/manual:1", "dsr-1": "registry.example/manual:2", "dsr-2": "registry.example/manual:1"}
		if len(pods) != 3 || fmt.Sprint(images) != fmt.Sprint(want) {
			return false, fmt.Errorf("images %v", images)
		}
		return true, nil
	})
	dsStatus(t, ctx, s, ns, "manual", "3 3 3 1 3 0")
}
