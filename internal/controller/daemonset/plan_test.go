package daemonset

import (
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// dsPod is a daemon pod named name of revision hash, created at age
// seconds after t0, in the given state.
func dsPod(name, hash string, age int, state string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:              name,
		UID:               types.UID("uid-" + name),
		Labels:            map[string]string{"controller-revision-hash": hash},
		CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second)),
	}}
	switch state {
	case "ready": // ready since t0
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
	case "fresh": // ready only just now
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Hour))}}
	case "pending":
		p.Status.Phase = corev1.PodPending
	case "failed":
		p.Status.Phase = corev1.PodFailed
	case "terminating":
		p.Status.Phase = corev1.PodRunning
		p.DeletionTimestamp = new(metav1.NewTime(t0))
	}
	return p
}

func on(name string, pods ...*corev1.Pod) nodePods {
	return nodePods{name: name, shouldRun: true, shouldContinue: true, pods: pods}
}

func names(pods []*corev1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestComputePlan(t *testing.T) {
	now := t0.Add(time.Hour)
	rolling := settings{hash: "new", rolling: true, maxUnavailable: 1, now: now}
	surge := settings{hash: "new", rolling: true, maxSurge: 1, now: now}
	onDelete := settings{hash: "new", now: now}
	minReady := rolling
	minReady.minReady = time.Minute
	cases := []struct {
		name       string
		nodes      []nodePods
		s          settings
		wantCreate []string
		wantDelete []string
	}{
		{name: "empty nodes get pods", s: rolling, nodes: []nodePods{on("b"), on("a"), on("c", dsPod("c1", "new", 0, "ready"))},
			wantCreate: []string{"a", "b"}},
		{name: "pending pod counts as present", s: rolling, nodes: []nodePods{on("a", dsPod("a1", "new", 0, "pending"))}},
		{name: "terminating pod is replaced at once", s: rolling, nodes: []nodePods{on("a", dsPod("a1", "new", 0, "terminating"))},
			wantCreate: []string{"a"}},
		{name: "failed pod deleted, recreated next pass", s: rolling, nodes: []nodePods{on("a", dsPod("a1", "new", 0, "failed"))},
			wantDelete: []string{"a1"}},
		{name: "failed pod beside a running one", s: rolling, nodes: []nodePods{on("a", dsPod("a1", "new", 0, "failed"), dsPod("a2", "new", 1, "ready"))},
			wantDelete: []string{"a1"}},
		{name: "node no longer eligible", s: rolling, nodes: []nodePods{{name: "a", pods: []*corev1.Pod{dsPod("a1", "new", 0, "ready")}}},
			wantDelete: []string{"a1"}},
		{name: "NoSchedule taint keeps pod, adds none", s: rolling, nodes: []nodePods{
			{name: "a", shouldContinue: true, pods: []*corev1.Pod{dsPod("a1", "new", 0, "ready")}},
			{name: "b", shouldContinue: true}}},
		{name: "duplicates: oldest kept", s: rolling, nodes: []nodePods{on("a", dsPod("a2", "new", 2, "ready"), dsPod("a1", "new", 1, "ready"), dsPod("a3", "new", 3, "pending"))},
			wantDelete: []string{"a2", "a3"}},
		{name: "rolling: one available old pod at a time", s: rolling, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready")), on("b", dsPod("b1", "old", 0, "ready")), on("c", dsPod("c1", "old", 0, "ready"))},
			wantDelete: []string{"a1"}},
		{name: "rolling: waits while a node is unavailable", s: rolling, nodes: []nodePods{
			on("a", dsPod("a2", "new", 0, "pending")), on("b", dsPod("b1", "old", 0, "ready"))}},
		{name: "rolling: a node without pods counts as unavailable", s: rolling, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "terminating")), on("b", dsPod("b1", "old", 0, "ready"))},
			wantCreate: []string{"a"}},
		{name: "rolling: continues once new pod available", s: rolling, nodes: []nodePods{
			on("a", dsPod("a2", "new", 0, "ready")), on("b", dsPod("b1", "old", 0, "ready")), on("c", dsPod("c1", "old", 0, "ready"))},
			wantDelete: []string{"b1"}},
		{name: "rolling: unavailable old pods go at once", s: rolling, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "pending")), on("b", dsPod("b1", "old", 0, "pending")), on("c", dsPod("c1", "old", 0, "ready"))},
			wantDelete: []string{"a1", "b1"}},
		{name: "rolling: maxUnavailable 2", s: settings{hash: "new", rolling: true, maxUnavailable: 2, now: now}, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready")), on("b", dsPod("b1", "old", 0, "ready")), on("c", dsPod("c1", "old", 0, "ready"))},
			wantDelete: []string{"a1", "b1"}},
		{name: "rolling: minReadySeconds holds the next step", s: minReady, nodes: []nodePods{
			on("a", dsPod("a2", "new", 0, "fresh")), on("b", dsPod("b1", "old", 0, "ready"))}},
		{name: "surge: new pod beside old", s: surge, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready")), on("b", dsPod("b1", "old", 0, "ready"))},
			wantCreate: []string{"a"}},
		{name: "surge: waits for the surged pod", s: surge, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready"), dsPod("a2", "new", 1, "pending")), on("b", dsPod("b1", "old", 0, "ready"))}},
		{name: "surge: old deleted once new available, next node surges", s: surge, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready"), dsPod("a2", "new", 1, "ready")), on("b", dsPod("b1", "old", 0, "ready"))},
			wantCreate: []string{"b"}, wantDelete: []string{"a1"}},
		{name: "surge: unavailable old pod replaced at once", s: surge, nodes: []nodePods{
			on("a", dsPod("a1", "old", 0, "ready"), dsPod("a2", "new", 1, "pending")), on("b", dsPod("b1", "old", 0, "pending"))},
			wantCreate: []string{"b"}},
		{name: "node in failure backoff waits", s: settings{hash: "new", rolling: true, maxUnavailable: 1, now: now, hold: map[string]bool{"a": true}},
			nodes: []nodePods{on("a"), on("b")}, wantCreate: []string{"b"}},
		{name: "OnDelete leaves old pods", s: onDelete, nodes: []nodePods{on("a", dsPod("a1", "old", 0, "ready")), on("b")},
			wantCreate: []string{"b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := computePlan(tc.nodes, tc.s)
			create := append([]string{}, p.create...)
			sort.Strings(create)
			want := append([]string{}, tc.wantCreate...)
			if !slices.Equal(create, want) {
				t.Errorf("create on %v, want %v", create, want)
			}
			wantDel := append([]string{}, tc.wantDelete...)
			if got := names(p.delete); !slices.Equal(got, wantDel) {
				t.Errorf("delete %v, want %v", got, wantDel)
			}
		})
	}
}

func TestCountNodes(t *testing.T) {
	s := settings{hash: "new", now: t0.Add(time.Hour)}
	nodes := []nodePods{
		on("a", dsPod("a1", "new", 0, "ready")),
		on("b", dsPod("b1", "old", 0, "ready"), dsPod("b2", "new", 1, "ready")), // judged by the old pod
		on("c", dsPod("c1", "new", 0, "pending")),
		on("d"),
		{name: "e", shouldContinue: true, pods: []*corev1.Pod{dsPod("e1", "new", 0, "ready")}},
		{name: "f"},
		{name: "gone", gone: true, pods: []*corev1.Pod{dsPod("g1", "new", 0, "ready")}},
	}
	got := countNodes(nodes, s)
	want := counts{desired: 4, current: 3, misscheduled: 1, ready: 2, updated: 2, available: 2}
	if got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

func TestRollingLimits(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { return new(intstr.FromString(s)) }
	num := func(n int) *intstr.IntOrString { return new(intstr.FromInt(n)) }
	cases := []struct {
		name                   string
		ru                     *appsv1.RollingUpdateDaemonSet
		desired                int
		wantUnavail, wantSurge int
	}{
		{name: "defaults", desired: 5, wantUnavail: 1},
		{name: "counts", ru: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: num(2), MaxSurge: num(0)}, desired: 5, wantUnavail: 2},
		{name: "percent rounds up", ru: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: pct("30%")}, desired: 5, wantUnavail: 2},
		{name: "surge percent", ru: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: num(0), MaxSurge: pct("50%")}, desired: 3, wantSurge: 2},
		{name: "both zero still progresses", ru: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: pct("0%"), MaxSurge: num(0)}, desired: 3, wantUnavail: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, s := rollingLimits(tc.ru, tc.desired)
			if u != tc.wantUnavail || s != tc.wantSurge {
				t.Errorf("rollingLimits = %d, %d; want %d, %d", u, s, tc.wantUnavail, tc.wantSurge)
			}
		})
	}
}

func TestUntilAvailable(t *testing.T) {
	s := settings{hash: "new", minReady: 90 * time.Minute, now: t0.Add(time.Hour)}
	d, ok := untilAvailable([]nodePods{on("a", dsPod("a1", "new", 0, "ready")), on("b", dsPod("b1", "new", 0, "pending"))}, s)
	if !ok || d != 30*time.Minute {
		t.Errorf("untilAvailable = %v, %v; want 30m", d, ok)
	}
	s.minReady = time.Minute
	if d, ok := untilAvailable([]nodePods{on("a", dsPod("a1", "new", 0, "ready"))}, s); ok {
		t.Errorf("untilAvailable = %v for an available pod", d)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		failAt    time.Duration // negative: no failure seen
		checkAt   time.Duration
		wantHeld  bool
		wantUntil time.Duration
	}{
		{failAt: 0, checkAt: 0, wantHeld: true, wantUntil: time.Second},
		{failAt: 500 * time.Millisecond, checkAt: 500 * time.Millisecond, wantHeld: true, wantUntil: 500 * time.Millisecond}, // same failure
		{failAt: -1, checkAt: time.Second, wantHeld: false},
		{failAt: 2 * time.Second, checkAt: 2 * time.Second, wantHeld: true, wantUntil: 2 * time.Second},
		{failAt: 5 * time.Second, checkAt: 5 * time.Second, wantHeld: true, wantUntil: 4 * time.Second},
		{failAt: 30 * time.Minute, checkAt: 30 * time.Minute, wantHeld: true, wantUntil: time.Second}, // quiet long enough: reset
	}
	for i, st := range steps {
		if st.failAt >= 0 {
			b.failed("ns/ds", "n1", at(st.failAt))
		}
		hold, wait := b.holding("ns/ds", at(st.checkAt))
		if hold["n1"] != st.wantHeld || (st.wantHeld && wait != st.wantUntil) {
			t.Errorf("step %d: held %v for %v, want %v for %v", i, hold["n1"], wait, st.wantHeld, st.wantUntil)
		}
		if other, _ := b.holding("ns/ds-2", at(st.checkAt)); len(other) != 0 {
			t.Errorf("step %d: another DaemonSet held %v", i, other)
		}
	}
	b.forget("ns/ds")
	if hold, _ := b.holding("ns/ds", at(30*time.Minute)); len(hold) != 0 {
		t.Errorf("held after forget: %v", hold)
	}
}
