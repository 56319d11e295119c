package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestRunPreempts drives a preemption against a fake clientset: the
// victim is marked and deleted, the preemptor nominated, then bound.
func TestRunPreempts(t *testing.T) {
	low := testPod("low", "2", "1Gi", boundTo("a"))
	low.UID = "uid-low"
	client := fake.NewClientset(testNode("a", "2", "4Gi"), low)
	bound := make(chan string, 10)
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		bound <- b.Name + "@" + b.Target.Name
		return true, nil, nil
	})
	rec := record.NewFakeRecorder(100)
	clk := clocktesting.NewFakeClock(time.Now())
	s := New(client, rec, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	prio := int32(1000)
	high := testPod("high", "2", "1Gi", func(p *corev1.Pod) { p.Spec.Priority = &prio })
	high.UID = "uid-high"
	if _, err := client.CoreV1().Pods("default").Create(ctx, high, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The preemptor retries after its backoff: move the clock along.
	timeout := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case b := <-bound:
			if b != "high@a" {
				t.Fatalf("bound %s; want high@a", b)
			}
			waiting = false
		case <-tick.C:
			clk.Step(time.Second)
		case <-timeout:
			t.Fatal("high was never bound")
		}
	}
	wantEvent := "Normal Preempted Preempted by pod uid-high on node a"
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case e := <-rec.Events:
			found = e == wantEvent
		case <-deadline:
			t.Fatalf("no event %q", wantEvent)
		}
	}
	var marked, deleted, nominated bool
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.UpdateAction:
			p, ok := a.GetObject().(*corev1.Pod)
			if !ok || a.GetSubresource() != "status" {
				continue
			}
			if p.Name == "low" {
				for _, c := range p.Status.Conditions {
					marked = marked || (c.Type == corev1.DisruptionTarget && c.Reason == "PreemptionByScheduler" && !deleted)
				}
			}
			if p.Name == "high" && p.Status.NominatedNodeName == "a" {
				nominated = true
			}
		case k8stesting.DeleteAction:
			deleted = deleted || a.GetName() == "low"
		}
	}
	if !marked || !deleted || !nominated {
		t.Errorf("victim marked before deletion %v, deleted %v, preemptor nominated %v; want all", marked, deleted, nominated)
	}
}

// TestPreemptWaitsForTerminatingVictims checks that a nominated pod does
// not preempt again while its victims are still terminating.
func TestPreemptWaitsForTerminatingVictims(t *testing.T) {
	now := metav1.Now()
	victim := testPod("victim", "2", "", boundTo("a"), func(p *corev1.Pod) { p.DeletionTimestamp = &now })
	other := testPod("other", "2", "", boundTo("b"))
	s := &Scheduler{cache: cacheWith([]*corev1.Node{testNode("a", "2", "4Gi"), testNode("b", "2", "4Gi")}, victim, other)}
	prio := int32(10)
	p := testPod("p", "2", "", func(p *corev1.Pod) { p.Spec.Priority = &prio; p.Status.NominatedNodeName = "a" })
	pi := newPodInfo(p)
	node, nodes, _ := s.findNode(pi)
	if node != "" {
		t.Fatalf("scheduled on %s; want no room", node)
	}
	if pre, verdict := s.preempt(pi, nodes); pre != nil || verdict != preemptTerminating {
		t.Errorf("preempt = %v, %q; want nil, %q", pre, verdict, preemptTerminating)
	}
}

// On a large cluster preemption compares a sample of the nodes with
// victims (a tenth, at least 100), and the next search starts where the
// last one stopped.
func TestPreemptSamplesCandidates(t *testing.T) {
	var nodes []*corev1.Node
	var pods []*corev1.Pod
	for i := range 300 {
		name := fmt.Sprintf("n%03d", i)
		nodes = append(nodes, testNode(name, "1", "4Gi"))
		prio := int32(10)
		if i == 250 {
			prio = 5 // the best victim, far from where the search starts
		}
		pods = append(pods, testPod("low-"+name, "1", "1Gi", boundTo(name), withPriority(prio)))
	}
	s := &Scheduler{cache: cacheWith(nodes, pods...)}
	high := newPodInfo(testPod("high", "1", "1Gi", withPriority(1000)))
	var picks []string
	for range 3 {
		if n, _, _ := s.findNode(high); n != "" {
			t.Fatalf("high fits on %s without preemption", n)
		}
		if len(s.resolvable) != 300 {
			t.Fatalf("%d nodes worth preempting on, want 300", len(s.resolvable))
		}
		order := make([]string, len(s.resolvable))
		for i, ni := range s.resolvable {
			order[i] = ni.node.Name
		}
		start := s.preemptNext % 300
		p, verdict := s.preempt(high, 300)
		if p == nil {
			t.Fatalf("no preemption: %s", verdict)
		}
		sample := map[string]bool{}
		for i := range 100 {
			sample[order[(start+i)%300]] = true
		}
		if !sample[p.node] {
			t.Errorf("picked %s, outside the 100 nodes searched from %d", p.node, start)
		}
		if (p.node == "n250") != sample["n250"] {
			t.Errorf("picked %s although n250 (lowest victim priority) was in the sample: %v", p.node, sample["n250"])
		}
		if s.preemptNext != start+100 {
			t.Errorf("next search starts at %d, want %d", s.preemptNext, start+100)
		}
		picks = append(picks, p.node)
	}
	if !slices.Contains(picks, "n250") {
		t.Errorf("three searches never reached n250: %v", picks)
	}
}
