package scheduler

import (
	"context"
	"io"
	"log/slog"
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
