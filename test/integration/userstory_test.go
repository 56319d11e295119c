package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// storyStartSim runs count simulated nodes named prefix-0… until the test
// ends.
func storyStartSim(t *testing.T, ctx context.Context, s *testserver.Server, prefix string, count int, cpu string) {
	t.Helper()
	cfg := simConfig(prefix, count)
	cfg.CPU = resource.MustParse(cpu)
	runSimNodes(t, ctx, s.Client, cfg)
}

const storyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 40
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:1
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`

const storyBigPod = `apiVersion: v1
kind: Pod
metadata:
  name: big
  namespace: shop
spec:
  containers:
  - name: c
    image: busybox:1
    resources:
      requests: {cpu: "4"}
`

// TestUserStory drives issue #3's user paragraph with the real kubectl
// on twenty simulated nodes: a 40-replica Deployment spread over the
// nodes that fit it, rolled out, rolled back, paused, resumed and
// restarted; a pod that fits nowhere explained in Kubernetes' words; and
// deletion of the Deployment and of its namespace cleaning up everything.
func TestUserStory(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	storyStartSim(t, ctx, s, "story-", 20, "2")
	pollUntil(t, 30*time.Second, "20 ready nodes", func() (bool, error) {
		out := k.ok(t, "get", "nodes", "-l", "type=sim", "--no-headers")
		return strings.Count(out, " Ready ") == 20, nil
	})
	k.ok(t, "taint", "node", "story-19", "dedicated=gpu:NoSchedule")
	k.ok(t, "create", "namespace", "shop")

	k.apply(t, storyDeployment)
	k.ok(t, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=90s")
	if got := k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.status.availableReplicas}/{.status.replicas}"); got != "40/40" {
		t.Fatalf("available/replicas = %s, want 40/40", got)
	}
	perNode := map[string]int{}
	for _, line := range strings.Split(k.ok(t, "get", "pods", "-n", "shop", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"), "\n") {
		if line != "" {
			perNode[line]++
		}
	}
	if perNode["story-19"] != 0 {
		t.Errorf("%d pods on the tainted node", perNode["story-19"])
	}
	for n, c := range perNode {
		if c > 3 {
			t.Errorf("node %s holds %d pods; 40 pods over 19 nodes should be spread (%v)", n, c, perNode)
		}
	}

	k.ok(t, "set", "image", "deploy/web", "-n", "shop", "c=busybox:2")
	k.ok(t, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=90s")
	storyImages(t, k, "busybox:2")
	hist := k.ok(t, "rollout", "history", "deploy/web", "-n", "shop")
	if !strings.Contains(hist, "\n1 ") || !strings.Contains(hist, "\n2 ") {
		t.Errorf("rollout history lacks revisions 1 and 2:\n%s", hist)
	}
	k.ok(t, "rollout", "undo", "deploy/web", "-n", "shop")
	k.ok(t, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=90s")
	storyImages(t, k, "busybox:1")

	k.ok(t, "rollout", "pause", "deploy/web", "-n", "shop")
	k.ok(t, "set", "image", "deploy/web", "-n", "shop", "c=busybox:3")
	time.Sleep(time.Second) // a paused Deployment must not start a rollout; give it the chance to
	if n := strings.Count(k.ok(t, "get", "rs", "-n", "shop", "--no-headers"), "\n"); n != 2 {
		t.Errorf("paused Deployment made a new ReplicaSet: %d ReplicaSets", n)
	}
	k.ok(t, "rollout", "resume", "deploy/web", "-n", "shop")
	k.ok(t, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=90s")
	storyImages(t, k, "busybox:3")
	k.ok(t, "rollout", "restart", "deploy/web", "-n", "shop")
	k.ok(t, "rollout", "status", "deploy/web", "-n", "shop", "--timeout=90s")
	if got := k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.status.updatedReplicas}/{.status.availableReplicas}"); got != "40/40" {
		t.Errorf("after restart updated/available = %s, want 40/40", got)
	}

	// 19 nodes have 2 cpu and the 20th is tainted: 4 cpu fits nowhere.
	k.apply(t, storyBigPod)
	want := "0/20 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 19 Insufficient cpu."
	pollUntil(t, 30*time.Second, "FailedScheduling for the big pod", func() (bool, error) {
		out := k.run(t, "get", "events", "-n", "shop", "--field-selector", "involvedObject.name=big,reason=FailedScheduling", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out.stdout, want), nil
	})
	desc := k.ok(t, "describe", "pod", "big", "-n", "shop")
	if !strings.Contains(desc, "FailedScheduling") || !strings.Contains(desc, want) {
		t.Errorf("describe pod big does not explain why it is Pending:\n%s", desc)
	}
	cond := k.ok(t, "get", "pod", "big", "-n", "shop", "-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="PodScheduled")].reason}`)
	if cond != "Pending Unschedulable" {
		t.Errorf("big pod: %q, want Pending Unschedulable", cond)
	}

	k.ok(t, "delete", "deploy", "web", "-n", "shop")
	pollUntil(t, 60*time.Second, "the Deployment's ReplicaSets and pods gone", func() (bool, error) {
		out := k.run(t, "get", "rs,pods", "-n", "shop", "-l", "app=web", "--no-headers")
		return strings.TrimSpace(out.stdout) == "", nil
	})
	k.ok(t, "delete", "namespace", "shop", "--timeout=60s")
	if r := k.run(t, "get", "namespace", "shop"); !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("namespace shop still there after delete: %s%s", r.stdout, r.stderr)
	}
	// The pod that never ran went with the namespace.
	if _, err := s.Client.CoreV1().Pods("shop").Get(ctx, "big", metav1.GetOptions{}); err == nil {
		t.Error("pod big survived its namespace")
	}
}

// storyImages checks every active pod of web runs image.
func storyImages(t *testing.T, k *kubectl, image string) {
	t.Helper()
	pollUntil(t, 60*time.Second, "all web pods on "+image, func() (bool, error) {
		out := k.ok(t, "get", "pods", "-n", "shop", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.spec.containers[0].image}{"\n"}{end}`)
		n := 0
		for _, l := range strings.Fields(out) {
			deleting, img, _ := strings.Cut(l, "|")
			if deleting != "" {
				continue
			}
			if img != image {
				return false, nil
			}
			n++
		}
		return n == 40, nil
	})
}
