package scheduler

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
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

// TestRunBindsAndReports drives Run against a fake clientset: the
// informer handlers, the queue, binding and failure reporting together.
// The API server's own binding behaviour is covered by the integration
// test.
func TestRunBindsAndReports(t *testing.T) {
	client := fake.NewClientset(
		testNode("a", "2", "4Gi"),
		testNode("gpu", "8", "16Gi", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
	)
	var mu sync.Mutex
	bound := map[string]string{}
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		mu.Lock()
		bound[b.Name] = b.Target.Name
		mu.Unlock()
		// Reflect the binding into the pod, as the API server does.
		p, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := p.(*corev1.Pod).DeepCopy()
		pod.Spec.NodeName = b.Target.Name
		return true, nil, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace)
	})
	rec := record.NewFakeRecorder(100)
	s := New(client, rec, clocktesting.NewFakeClock(time.Now()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	create := func(p *corev1.Pod) {
		t.Helper()
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(testPod("small", "1", "1Gi"))
	create(testPod("other", "1", "1Gi", func(p *corev1.Pod) { p.Spec.SchedulerName = "someone-else" }))
	create(testPod("huge", "4", ""))

	want := []string{
		"Normal Scheduled Successfully assigned default/small to a",
		"Warning FailedScheduling 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
	}
	got := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case e := <-rec.Events:
			got[e] = true
		case <-timeout:
			t.Fatalf("events so far %v; want %q", got, want)
		}
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing event %q; got %v", w, got)
		}
	}
	// The failure is also written to the pod's PodScheduled condition.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := client.CoreV1().Pods("default").Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Status.Conditions) == 1 && p.Status.Conditions[0].Reason == corev1.PodReasonUnschedulable &&
			strings.HasPrefix(p.Status.Conditions[0].Message, "0/2 nodes are available") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("huge conditions = %+v", p.Status.Conditions)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bound) != 1 || bound["small"] != "a" {
		t.Errorf("bindings = %v; want only small on a", bound)
	}
}
