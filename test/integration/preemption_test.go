package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// preemptSim runs count simulated nodes of 2 cpus named prefix-N for
// the rest of the test.
func preemptSim(t *testing.T, ctx context.Context, s *testserver.Server, prefix string, count int) {
	t.Helper()
	cfg := simConfig(prefix, count)
	cfg.CPU = resource.MustParse("2")
	runSimNodes(t, ctx, s.Client, cfg)
}

// preemptPod is a pod requesting cpu, in class (may be empty).
func preemptPod(name, class, cpu string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			PriorityClassName:             class,
			TerminationGracePeriodSeconds: ptrTo(int64(1)),
			Containers: []corev1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
			}},
		},
	}
}

func preemptClass(t *testing.T, ctx context.Context, s *testserver.Server, name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) {
	t.Helper()
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	if _, err := s.Client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating PriorityClass %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = s.Client.SchedulingV1().PriorityClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// TestPreemptionOnFullCluster fills two 2-cpu nodes with low-priority
// pods, then creates a high-priority one: one low pod is marked and
// deleted, an event names the preemptor, and the high pod is bound.
func TestPreemptionOnFullCluster(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	preemptSim(t, ctx, s, "pre-", 2)
	ns := newNamespace(t, s)
	preemptClass(t, ctx, s, "it-low", 100, false, "")
	preemptClass(t, ctx, s, "it-high", 1000, false, "")
	pods := s.Client.CoreV1().Pods(ns)
	for i := range 4 {
		if _, err := pods.Create(ctx, preemptPod(fmt.Sprintf("low-%d", i), "it-low", "1", map[string]string{"tier": "low"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, 60*time.Second, "low pods running", func() (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "tier=low"})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 4, nil
	})

	high, err := pods.Create(ctx, preemptPod("high", "it-high", "1", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if high.Spec.Priority == nil || *high.Spec.Priority != 1000 {
		t.Fatalf("high priority = %v; want 1000", high.Spec.Priority)
	}
	var node string
	pollUntil(t, 60*time.Second, "high pod bound", func() (bool, error) {
		p, err := pods.Get(ctx, "high", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "tier=low"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Errorf("%d low pods left; want 3 (one preempted)", len(list.Items))
	}
	want := fmt.Sprintf("Preempted by pod %s on node %s", high.UID, node)
	pollUntil(t, 30*time.Second, "Preempted event", func() (bool, error) {
		evs, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "Preempted" && e.Message == want && strings.HasPrefix(e.InvolvedObject.Name, "low-") {
				return true, nil
			}
		}
		return false, nil
	})

	// A pod no higher than any other finds no victims: it waits, saying why.
	if _, err := pods.Create(ctx, preemptPod("peer", "it-low", "2", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "peer unschedulable", func() (bool, error) {
		p, err := pods.Get(ctx, "peer", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return strings.Contains(c.Message, "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."), nil
			}
		}
		return false, nil
	})
}

// TestPodAffinityFollowsPartner places a pod with required pod affinity
// on the node of the pod it selects, and leaves one whose partner does
// not exist pending with Kubernetes' reason.
func TestPodAffinityFollowsPartner(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	preemptSim(t, ctx, s, "aff-", 3)
	ns := newNamespace(t, s)
	pods := s.Client.CoreV1().Pods(ns)
	withAffinity := func(p *corev1.Pod, app string) *corev1.Pod {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
		return p
	}
	if _, err := pods.Create(ctx, preemptPod("db", "", "100m", map[string]string{"app": "db"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodeOf := func(name string) string {
		var node string
		pollUntil(t, 30*time.Second, name+" bound", func() (bool, error) {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			node = p.Spec.NodeName
			return node != "", nil
		})
		return node
	}
	dbNode := nodeOf("db")
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		if _, err := pods.Create(ctx, withAffinity(preemptPod(name, "", "100m", nil), "db"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := nodeOf(name); got != dbNode {
			t.Errorf("%s on %s; want %s with db", name, got, dbNode)
		}
	}
	if _, err := pods.Create(ctx, withAffinity(preemptPod("lonely", "", "100m", nil), "cache"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "lonely unschedulable", func() (bool, error) {
		p, err := pods.Get(ctx, "lonely", metav1.GetOptions{})
		if err != nil || p.Spec.NodeName != "" {
			return false, fmt.Errorf("lonely bound to %q: %v", p.Spec.NodeName, err)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				return strings.Contains(c.Message, "3 node(s) didn't match pod affinity rules"), nil
			}
		}
		return false, nil
	})
}

// TestPreemptionPriorityClassResolution checks the priority admission on
// pod create: class values, the built-in classes, the global default,
// the class's preemption policy, and the refusals.
func TestPreemptionPriorityClassResolution(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	pods := s.Client.CoreV1().Pods(ns)
	create := func(p *corev1.Pod) (*corev1.Pod, error) { return pods.Create(ctx, p, metav1.CreateOptions{}) }

	p, err := create(preemptPod("none", "", "1", nil))
	if err != nil || *p.Spec.Priority != 0 || p.Spec.PriorityClassName != "" {
		t.Fatalf("no class, no default: %v, %v", err, describe(p.Spec.Priority))
	}
	p, err = create(preemptPod("node-critical", "system-node-critical", "1", nil))
	if err != nil || *p.Spec.Priority != 2000001000 {
		t.Fatalf("system-node-critical: %v", err)
	}
	_, err = create(preemptPod("missing", "no-such-class", "1", nil))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no PriorityClass with name no-such-class was found") {
		t.Errorf("unknown class: err = %v; want 403 naming the class", err)
	}
	preemptClass(t, ctx, s, "it-default", 77, true, "")
	preemptClass(t, ctx, s, "it-polite", 500, false, corev1.PreemptNever)
	p, err = create(preemptPod("defaulted", "", "1", nil))
	if err != nil || *p.Spec.Priority != 77 || p.Spec.PriorityClassName != "it-default" {
		t.Fatalf("global default: %v, %+v", err, p.Spec)
	}
	p, err = create(preemptPod("polite", "it-polite", "1", nil))
	if err != nil || *p.Spec.Priority != 500 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Fatalf("class policy: %v, %+v", err, p.Spec)
	}
	mismatch := preemptPod("mismatch", "it-polite", "1", nil)
	mismatch.Spec.Priority = ptrTo(int32(7))
	if _, err := create(mismatch); !apierrors.IsForbidden(err) {
		t.Errorf("priority disagreeing with the class: err = %v; want 403", err)
	}
}
