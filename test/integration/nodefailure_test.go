package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/controller/nodelifecycle"
	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/simnode"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestNodeFailure runs three simulated nodes, stops them, and checks that
// the node lifecycle controller marks them Unknown, taints them, evicts
// their pods as tolerations run out, and lifts the taints when the nodes
// come back (whose agents then finish the evicted pods' deletion).
func TestNodeFailure(t *testing.T) {
	const (
		grace      = 3 * time.Second
		defaultTol = 6 // seconds
		shortTol   = 2 // seconds
	)
	s := testserver.Start(t, testserver.Options{Controllers: true, Configure: func(c *server.Config) {
		c.NodeMonitorGracePeriod = grace
		c.DefaultTolerationSeconds = defaultTol
	}})
	ctx := testContext(t)
	client, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := simnode.Defaults()
	cfg.Count, cfg.NamePrefix, cfg.Heartbeat = 3, "nf-", 500*time.Millisecond
	cfg.Log = slog.New(slog.DiscardHandler)
	startSim := func() (stop func()) {
		sim, err := simnode.New(client, cfg)
		if err != nil {
			t.Fatal(err)
		}
		simCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sim.Run(simCtx) }()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("sim-nodes: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("sim-nodes did not stop within 30s")
			}
		}
	}
	stop := startSim()
	t.Cleanup(func() {
		if stop != nil {
			stop()
		}
	})
	names := []string{"nf-0", "nf-1", "nf-2"}
	waitNodes := func(what string, ok func(*corev1.Node) bool) {
		t.Helper()
		pollUntil(t, 30*time.Second, what, func() (bool, error) {
			for _, n := range names {
				node, err := s.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
				if err != nil || !ok(node) {
					return false, err
				}
			}
			return true, nil
		})
	}
	waitNodes("nodes Ready and untainted", func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue && len(n.Spec.Taints) == 0 })

	ns := newNamespace(t, s)
	tolerate := func(secs *int64) []corev1.Toleration {
		return []corev1.Toleration{{Key: nodelifecycle.TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}}
	}
	kinds := map[string][]corev1.Toleration{"default": nil, "short": tolerate(ptrTo(int64(shortTol))), "forever": tolerate(nil)}
	for _, node := range names {
		for kind, tols := range kinds {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: kind + "-" + node},
				Spec: corev1.PodSpec{NodeName: node, Tolerations: tols,
					Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}},
			}
			if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	podsOf := func() map[string]*corev1.Pod {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*corev1.Pod{}
		for i := range list.Items {
			out[list.Items[i].Name] = &list.Items[i]
		}
		return out
	}
	pollUntil(t, 30*time.Second, "pods Running and Ready", func() (bool, error) {
		pods := podsOf()
		for _, p := range pods {
			if !isReady(p) || p.Status.Phase != corev1.PodRunning {
				return false, fmt.Errorf("pod %s: phase %s", p.Name, p.Status.Phase)
			}
		}
		return len(pods) == 9, nil
	})
	for _, p := range podsOf() {
		node, err := s.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !netip.MustParsePrefix(node.Spec.PodCIDR).Contains(ip) || p.Status.HostIP == "" || p.Status.StartTime == nil ||
			len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready || p.Status.ContainerStatuses[0].State.Running == nil {
			t.Errorf("pod %s on %s (%s): status %s", p.Name, node.Name, node.Spec.PodCIDR, describe(p.Status))
		}
	}

	// A graceful delete completes at once: nothing runs on a simulated node.
	if err := s.Client.CoreV1().Pods(ns).Delete(ctx, "forever-nf-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "deleted pod gone", func() (bool, error) {
		_, err := s.Client.CoreV1().Pods(ns).Get(ctx, "forever-nf-2", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// The nodes fail.
	stop()
	stop = nil
	failed := time.Now()
	waitNodes("nodes Unknown and tainted unreachable", func(n *corev1.Node) bool {
		return nodeReady(n) == corev1.ConditionUnknown && hasNoExecuteTaint(n, nodelifecycle.TaintUnreachable)
	})
	if took := time.Since(failed); took > grace+10*time.Second {
		t.Errorf("nodes marked Unknown %s after failing; grace is %s", took, grace)
	}
	for _, n := range names {
		node, _ := s.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && (c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status.") {
				t.Errorf("node %s Ready condition %+v", n, c)
			}
		}
	}

	pollUntil(t, 30*time.Second, "pods on the failed nodes marked not ready", func() (bool, error) {
		for _, n := range names[:2] {
			if p := podsOf()["forever-"+n]; p == nil || isReady(p) {
				return false, nil
			}
		}
		return true, nil
	})

	marked := func(p *corev1.Pod) bool { return p == nil || p.DeletionTimestamp != nil }
	pollUntil(t, 30*time.Second, "short-toleration pods evicted", func() (bool, error) {
		pods := podsOf()
		for _, n := range names {
			if p := pods["short-"+n]; !marked(p) {
				return false, nil
			}
		}
		return true, nil
	})
	pods := podsOf()
	for _, n := range names {
		if marked(pods["default-"+n]) && time.Since(failed) < defaultTol*time.Second {
			t.Errorf("pod default-%s evicted before its default toleration of %ds", n, defaultTol)
		}
	}
	pollUntil(t, 30*time.Second, "default-toleration pods evicted", func() (bool, error) {
		pods := podsOf()
		for _, n := range names {
			if p := pods["default-"+n]; !marked(p) {
				return false, nil
			}
		}
		return true, nil
	})
	for _, n := range names[:2] {
		if p := podsOf()["forever-"+n]; p == nil || p.DeletionTimestamp != nil {
			t.Errorf("pod forever-%s, tolerating the taint forever, was evicted", n)
		}
	}
	pollUntil(t, 30*time.Second, "eviction and NotReady events", func() (bool, error) {
		evs, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		evicted := 0
		for _, e := range evs.Items {
			if e.Reason == "TaintManagerEviction" && e.Message == fmt.Sprintf("Marking for deletion Pod %s/%s", ns, e.InvolvedObject.Name) {
				evicted++
			}
		}
		nodeEvs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		notReady, registered := 0, 0
		for _, e := range nodeEvs.Items {
			if e.Reason == "NodeNotReady" && e.InvolvedObject.Kind == "Node" {
				notReady++
			}
			if e.Reason == "RegisteredNode" && e.Message == fmt.Sprintf("Node %s event: Registered Node %s in Controller", e.InvolvedObject.Name, e.InvolvedObject.Name) {
				registered++
			}
		}
		if evicted != 6 || notReady < 3 || registered < 3 {
			return false, fmt.Errorf("%d eviction events, %d NodeNotReady events, %d RegisteredNode events", evicted, notReady, registered)
		}
		return true, nil
	})

	// The nodes come back: taints go, and the evicted pods' deletion
	// completes.
	stop = startSim()
	waitNodes("nodes Ready and untainted again", func(n *corev1.Node) bool {
		return nodeReady(n) == corev1.ConditionTrue && len(n.Spec.Taints) == 0
	})
	pollUntil(t, 30*time.Second, "evicted pods gone, the others ready again", func() (bool, error) {
		pods := podsOf()
		if len(pods) != 2 {
			return false, fmt.Errorf("%d pods left", len(pods))
		}
		for _, p := range pods {
			if !isReady(p) {
				return false, fmt.Errorf("pod %s not ready", p.Name)
			}
		}
		return true, nil
	})
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func hasNoExecuteTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}
