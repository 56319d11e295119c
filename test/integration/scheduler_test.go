package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// schedNode creates a Ready node with the given cpu and taints.
func schedNode(t *testing.T, ctx context.Context, c kubernetes.Interface, name, cpu string, taints ...corev1.Taint) {
	t.Helper()
	if err := createReadyNode(ctx, c, name, cpu, taints...); err != nil {
		t.Fatal(err)
	}
}

// createReadyNode creates a node that is Ready from the start (status
// is set on create, as kubelets do), so that the node lifecycle
// controller never taints it.
func createReadyNode(ctx context.Context, c kubernetes.Interface, name, cpu string, taints ...corev1.Taint) error {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	status := corev1.NodeStatus{
		Capacity:    rl,
		Allocatable: rl,
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     status,
	}
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	if len(created.Status.Conditions) > 0 {
		return nil
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = status
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("setting status of node %s: %w", name, err)
	}
	return nil
}

func schedPod(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			}},
		}}},
	}
}

func TestScheduler(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	schedNode(t, ctx, c, "node-a", "4")
	schedNode(t, ctx, c, "node-b", "4")
	schedNode(t, ctx, c, "node-gpu", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})
	ns := newNamespace(t, s)

	for i := range 10 {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, schedPod(fmt.Sprintf("p%d", i), "200m"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	perNode := map[string]int{}
	pollUntil(t, 30*time.Second, "all 10 pods bound", func() (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		clear(perNode)
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false, nil
			}
			perNode[p.Spec.NodeName]++
		}
		return len(list.Items) == 10, nil
	})
	if perNode["node-gpu"] != 0 || perNode["node-a"] == 0 || perNode["node-b"] == 0 {
		t.Errorf("pods per node = %v; want them spread over node-a and node-b only", perNode)
	}
	p0, err := c.CoreV1().Pods(ns).Get(ctx, "p0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasCondition(p0, corev1.ConditionTrue, "") {
		t.Errorf("p0 conditions = %+v; want PodScheduled=True", p0.Status.Conditions)
	}
	pollUntil(t, 10*time.Second, "Scheduled event for p0", func() (bool, error) {
		ev, err := findEvent(ctx, c, ns, "p0", "Scheduled")
		if ev == nil || err != nil {
			return false, err
		}
		if want := fmt.Sprintf("Successfully assigned %s/p0 to %s", ns, p0.Spec.NodeName); ev.Message != want || ev.Source.Component != "default-scheduler" {
			return false, fmt.Errorf("event %q from %q; want %q from default-scheduler", ev.Message, ev.Source.Component, want)
		}
		return true, nil
	})

	// A pod bigger than any node stays pending, says why, and is placed
	// as soon as a big enough node appears.
	if _, err := c.CoreV1().Pods(ns).Create(ctx, schedPod("big", "16"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	pollUntil(t, 20*time.Second, "FailedScheduling event for big", func() (bool, error) {
		ev, err := findEvent(ctx, c, ns, "big", "FailedScheduling")
		if ev == nil || err != nil {
			return false, err
		}
		if ev.Message != want || ev.Type != corev1.EventTypeWarning {
			return false, fmt.Errorf("%s event %q; want Warning %q", ev.Type, ev.Message, want)
		}
		return true, nil
	})
	pollUntil(t, 20*time.Second, "big has PodScheduled=False/Unschedulable", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("big was bound to %s", p.Spec.NodeName)
		}
		if !hasCondition(p, corev1.ConditionFalse, want) {
			return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return true, nil
	})

	start := time.Now()
	schedNode(t, ctx, c, "node-big", "32")
	pollUntil(t, 15*time.Second, "big bound after a big node joined", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != "node-big" {
			return false, fmt.Errorf("big bound to %s", p.Spec.NodeName)
		}
		return p.Spec.NodeName == "node-big", nil
	})
	t.Logf("big pod bound %v after node-big was created", time.Since(start).Round(time.Millisecond))
}

func hasCondition(p *corev1.Pod, status corev1.ConditionStatus, msg string) bool {
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != status {
			continue
		}
		if status == corev1.ConditionFalse {
			return c.Reason == corev1.PodReasonUnschedulable && c.Message == msg
		}
		return true
	}
	return false
}

func findEvent(ctx context.Context, c kubernetes.Interface, ns, pod, reason string) (*corev1.Event, error) {
	list, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		e := &list.Items[i]
		if e.InvolvedObject.Name == pod && e.Reason == reason {
			return e, nil
		}
	}
	return nil, nil
}

// BenchmarkSchedulerThroughput creates nodes and pods through the API
// and reports how many pods per second end up bound (pod creation
// included). Sizes: BOSUN_SCHED_NODES (500) and BOSUN_SCHED_PODS (2000).
func BenchmarkSchedulerThroughput(b *testing.B) {
	nodes, pods := envInt("BOSUN_SCHED_NODES", 500), envInt("BOSUN_SCHED_PODS", 2000)
	s := testserver.Start(b, testserver.Options{Controllers: true})
	ctx := context.Background()
	c := s.Client
	parallel(b, nodes, 16, func(i int) error {
		return createReadyNode(ctx, c, fmt.Sprintf("bench-%05d", i), "32")
	})
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		prefix := fmt.Sprintf("p%d-", start.UnixNano())
		parallel(b, pods, 32, func(i int) error {
			_, err := c.CoreV1().Pods("bench").Create(ctx, schedPod(fmt.Sprintf("%s%d", prefix, i), "10m"), metav1.CreateOptions{})
			return err
		})
		created := time.Since(start)
		for {
			list, err := c.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, p := range list.Items {
				if p.Spec.NodeName != "" && len(p.Name) > len(prefix) && p.Name[:len(prefix)] == prefix {
					n++
				}
			}
			if n == pods {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		el := time.Since(start)
		b.ReportMetric(float64(pods)/el.Seconds(), "pods/s")
		b.Logf("%d pods on %d nodes: created in %v, all bound after %v", pods, nodes, created.Round(time.Millisecond), el.Round(time.Millisecond))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// parallel runs f(0..n-1) on workers goroutines, failing b on the first error.
func parallel(b *testing.B, n, workers int, f func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
