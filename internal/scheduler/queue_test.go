package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func withPriority(p int32) func(*corev1.Pod) {
	return func(pod *corev1.Pod) { pod.Spec.Priority = &p }
}

func popName(t *testing.T, q *queue) string {
	t.Helper()
	if a, _, _ := q.lengths(); a == 0 {
		t.Fatal("active queue empty")
	}
	return q.pop().pod.Name
}

func TestQueueOrder(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.add(testPod("low1", "", ""))
	clk.Step(time.Millisecond)
	q.add(testPod("high", "", "", withPriority(10)))
	clk.Step(time.Millisecond)
	q.add(testPod("low2", "", ""))
	for _, want := range []string{"high", "low1", "low2"} {
		if got := popName(t, q); got != want {
			t.Errorf("pop = %s; want %s", got, want)
		}
	}
}

func TestQueueUnschedulableWaitsForAnEvent(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.add(testPod("p", "", ""))
	e := q.pop()
	q.unschedulableAgain(e)
	if a, b, u := q.lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("lengths = %d,%d,%d; want parked", a, b, u)
	}
	// Time alone (short of the 5 minute flush) does not bring it back.
	clk.Step(time.Minute)
	q.flush()
	if a, _, u := q.lengths(); a != 0 || u != 1 {
		t.Fatalf("flushed after a minute: active %d parked %d", a, u)
	}
	// A status-only update does not either.
	st := e.pod.DeepCopy()
	st.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.update(st)
	if _, _, u := q.lengths(); u != 1 {
		t.Fatal("status update moved the parked pod")
	}
	// A cluster event does; its backoff (1s) is long over.
	q.moveAll()
	if a, _, _ := q.lengths(); a != 1 {
		t.Fatal("moveAll did not activate the parked pod")
	}
}

func TestQueueBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.add(testPod("p", "", ""))
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		e := q.pop()
		q.unschedulableAgain(e)
		q.moveAll() // an event right away: the pod still owes its backoff
		if _, b, _ := q.lengths(); b != 1 {
			t.Fatalf("attempt %d: not in backoff", i+1)
		}
		clk.Step(want - time.Millisecond)
		q.flush()
		if a, _, _ := q.lengths(); a != 0 {
			t.Fatalf("attempt %d: left backoff before %v", i+1, want)
		}
		clk.Step(time.Millisecond)
		q.flush()
		if a, _, _ := q.lengths(); a != 1 {
			t.Fatalf("attempt %d: still in backoff after %v", i+1, want)
		}
	}
}

func TestQueueEventDuringAttempt(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.add(testPod("p", "", ""))
	e := q.pop()
	q.moveAll() // a node joined while the pod was being tried
	q.unschedulableAgain(e)
	if _, b, u := q.lengths(); b != 1 || u != 0 {
		t.Fatalf("backoff %d parked %d; want the pod retried after backoff", b, u)
	}
}

func TestQueueParkedFlush(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.add(testPod("p", "", ""))
	q.unschedulableAgain(q.pop())
	clk.Step(maxParked)
	q.flush()
	if a, _, u := q.lengths(); a != 1 || u != 0 {
		t.Fatalf("active %d parked %d after %v", a, u, maxParked)
	}
}

func TestQueueRemoveAndSpecUpdate(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	p := testPod("p", "", "")
	q.add(p)
	q.add(p) // duplicates collapse
	if a, _, _ := q.lengths(); a != 1 {
		t.Fatalf("active = %d; want 1", a)
	}
	e := q.pop()
	clk.Step(2 * time.Second)
	q.unschedulableAgain(e)
	changed := p.DeepCopy()
	changed.Spec.NodeSelector = map[string]string{"a": "b"}
	q.update(changed)
	if a, b, u := q.lengths(); a+b != 1 || u != 0 {
		t.Fatal("a spec change did not unpark the pod")
	}
	q.remove(changed)
	if a, b, u := q.lengths(); a+b+u != 0 {
		t.Fatal("remove left the pod queued")
	}
	q.close()
	if q.pop() != nil {
		t.Fatal("pop on a closed, empty queue returned a pod")
	}
}

func TestQueueMoveSpreading(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	spread := testPod("spread", "", "", func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
	})
	follower := testPod("follower", "", "", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}},
		}}
	})
	q.add(spread)
	q.add(follower)
	q.add(testPod("plain", "", ""))
	q.unschedulableAgain(q.pop())
	q.unschedulableAgain(q.pop())
	q.unschedulableAgain(q.pop())
	clk.Step(time.Minute)
	q.moveSpreading()
	if a, _, u := q.lengths(); a != 2 || u != 1 || q.parkedSpreading != 0 {
		t.Fatalf("active %d parked %d (spreading %d); want the spreading and the following pod moved", a, u, q.parkedSpreading)
	}
	got := map[string]bool{popName(t, q): true, popName(t, q): true}
	if !got["spread"] || !got["follower"] {
		t.Errorf("moved %v; want spread and follower", got)
	}
}
