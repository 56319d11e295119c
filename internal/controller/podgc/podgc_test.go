package podgc

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func gcPod(name string, phase corev1.PodPhase, finished time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(t0)},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if !finished.IsZero() {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(finished)}}}}
	}
	return p
}

func TestTerminatedToDelete(t *testing.T) {
	pods := []*corev1.Pod{
		gcPod("running", corev1.PodRunning, time.Time{}),
		gcPod("late", corev1.PodSucceeded, t0.Add(3*time.Minute)),
		gcPod("early", corev1.PodFailed, t0.Add(time.Minute)),
		gcPod("middle", corev1.PodSucceeded, t0.Add(2*time.Minute)),
		gcPod("pending", corev1.PodPending, time.Time{}),
	}
	cases := []struct {
		threshold int
		want      string
	}{
		{threshold: 3, want: "[]"},
		{threshold: 5, want: "[]"},
		{threshold: 2, want: "[early]"},
		{threshold: 1, want: "[early middle]"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.threshold), func(t *testing.T) {
			var names []string
			for _, p := range TerminatedToDelete(pods, tc.threshold) {
				names = append(names, p.Name)
			}
			if got := fmt.Sprint(names); got != tc.want {
				t.Errorf("deleted %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFinishedAt(t *testing.T) {
	p := gcPod("p", corev1.PodSucceeded, time.Time{})
	if got := FinishedAt(p); !got.Equal(t0) {
		t.Errorf("without statuses: %v, want creation time", got)
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(time.Hour))}}
	if got := FinishedAt(p); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("with Ready transition: %v", got)
	}
	p = gcPod("p", corev1.PodSucceeded, t0.Add(2*time.Hour))
	if got := FinishedAt(p); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("with container finish: %v", got)
	}
}

func TestQuarantine(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	c := &Controller{clock: clk, opts: Options{Quarantine: 40 * time.Second}.withDefaults(), missingSince: map[string]time.Time{}}
	if wait := c.quarantine("n1"); wait != 40*time.Second {
		t.Fatalf("first sight: wait %v, want 40s", wait)
	}
	clk.Step(30 * time.Second)
	if wait := c.quarantine("n1"); wait != 10*time.Second {
		t.Fatalf("after 30s: wait %v, want 10s", wait)
	}
	clk.Step(10 * time.Second)
	if wait := c.quarantine("n1"); wait != 0 {
		t.Fatalf("after 40s: wait %v, want 0", wait)
	}
	// A node that reappears starts over when it goes missing again.
	c.forgetNodesExcept(map[string][]*corev1.Pod{})
	if wait := c.quarantine("n1"); wait != 40*time.Second {
		t.Fatalf("after reappearing: wait %v, want 40s", wait)
	}
}

func TestMarkDisrupted(t *testing.T) {
	p := gcPod("p", corev1.PodRunning, time.Time{})
	if !MarkDisrupted(p, t0) {
		t.Fatal("no change reported")
	}
	if p.Status.Phase != corev1.PodFailed {
		t.Errorf("phase %s, want Failed", p.Status.Phase)
	}
	c := p.Status.Conditions[len(p.Status.Conditions)-1]
	if c.Type != corev1.DisruptionTarget || c.Status != corev1.ConditionTrue || c.Reason != "DeletionByPodGC" {
		t.Errorf("condition %+v", c)
	}
	if MarkDisrupted(p, t0.Add(time.Minute)) {
		t.Error("marking twice reported a change")
	}
	done := gcPod("done", corev1.PodSucceeded, t0)
	MarkDisrupted(done, t0)
	if done.Status.Phase != corev1.PodSucceeded {
		t.Errorf("finished pod's phase changed to %s", done.Status.Phase)
	}
}

func TestUnscheduledTerminating(t *testing.T) {
	p := gcPod("p", corev1.PodPending, time.Time{})
	if UnscheduledTerminating(p) {
		t.Error("pending pod collected")
	}
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	if !UnscheduledTerminating(p) {
		t.Error("deleted unscheduled pod not collected")
	}
	p.Spec.NodeName = "n1"
	if UnscheduledTerminating(p) {
		t.Error("deleted bound pod collected; its node finishes it")
	}
}
