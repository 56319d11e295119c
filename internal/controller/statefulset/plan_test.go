package statefulset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller/history"
)

var stsNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stsSet is a set "web" with n replicas.
func stsSet(n int32, change ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &n,
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(0))},
			},
		},
	}
	for _, f := range change {
		f(s)
	}
	return s
}

func parallel(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
func onDelete(s *appsv1.StatefulSet) {
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
}
func partition(n int32) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = &n }
}

// stsPod describes a pod as "<ordinal>:<state>[@<revision>]" where state
// is ready, pending, failed or gone (terminating) and revision defaults
// to "r1".
func stsPod(desc string) *corev1.Pod {
	ordState, rev, ok := strings.Cut(desc, "@")
	if !ok {
		rev = "r1"
	}
	ord, state, _ := strings.Cut(ordState, ":")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "web-" + ord, Namespace: "ns", UID: types.UID("uid-" + ord),
		Labels: map[string]string{history.HashLabel: rev},
	}}
	readyAt := metav1.NewTime(stsNow.Add(-time.Minute))
	switch state {
	case "ready", "gone":
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: readyAt}}
		if state == "gone" {
			p.DeletionTimestamp = &readyAt
		}
	case "fresh": // ready for only a second
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(stsNow.Add(-time.Second))}}
	case "pending":
		p.Status.Phase = corev1.PodPending
	case "failed":
		p.Status.Phase = corev1.PodFailed
	default:
		panic("unknown pod state " + state)
	}
	return p
}

func stsPods(descs ...string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, d := range descs {
		out = append(out, stsPod(d))
	}
	return out
}

// describeActions renders actions as "create 1@r2", "delete 2 (update)".
func describeActions(actions []action) string {
	var parts []string
	for _, a := range actions {
		switch a.reason {
		case reasonMissing:
			parts = append(parts, fmt.Sprintf("create %d@%s", a.ordinal, a.revision))
		case reasonFailed:
			parts = append(parts, fmt.Sprintf("delete %s (failed)", a.pod.Name))
		case reasonCondemned:
			parts = append(parts, fmt.Sprintf("delete %s (scale)", a.pod.Name))
		case reasonUpdate:
			parts = append(parts, fmt.Sprintf("delete %s (update)", a.pod.Name))
		}
	}
	return strings.Join(parts, ", ")
}

func TestPlan(t *testing.T) {
	cases := []struct {
		name            string
		set             *appsv1.StatefulSet
		pods            []string
		current, update string
		want            string
	}{
		{name: "first pod", set: stsSet(3), want: "create 0@r1"},
		{name: "waits for web-0 to be ready", set: stsSet(3), pods: []string{"0:pending"}, want: ""},
		{name: "next ordinal once lower ones are ready", set: stsSet(3), pods: []string{"0:ready"}, want: "create 1@r1"},
		{name: "fills a hole first", set: stsSet(3), pods: []string{"0:ready", "2:ready"}, want: "create 1@r1"},
		{name: "waits for minReadySeconds", set: stsSet(3, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }), pods: []string{"0:fresh"}, want: ""},
		{name: "waits for a terminating pod", set: stsSet(3), pods: []string{"0:gone"}, want: ""},
		{name: "recreates a failed pod", set: stsSet(3), pods: []string{"0:ready", "1:failed", "2:ready"}, want: "delete web-1 (failed)"},
		{name: "parallel creates all", set: stsSet(3, parallel), want: "create 0@r1, create 1@r1, create 2@r1"},
		{name: "parallel ignores readiness", set: stsSet(3, parallel), pods: []string{"0:pending"}, want: "create 1@r1, create 2@r1"},
		{name: "scale down highest first", set: stsSet(1), pods: []string{"0:ready", "1:ready", "2:ready"}, want: "delete web-2 (scale)"},
		{name: "scale down waits for the previous deletion", set: stsSet(1), pods: []string{"0:ready", "1:ready", "2:gone"}, want: ""},
		{name: "scale down waits for unready pods", set: stsSet(1), pods: []string{"0:pending", "1:ready"}, want: ""},
		{name: "parallel scale down deletes all", set: stsSet(1, parallel), pods: []string{"0:ready", "1:ready", "2:pending"}, want: "delete web-2 (scale), delete web-1 (scale)"},
		{name: "scale to zero", set: stsSet(0), pods: []string{"0:ready"}, want: "delete web-0 (scale)"},
		{name: "update highest first", set: stsSet(3), pods: []string{"0:ready", "1:ready", "2:ready"}, current: "r1", update: "r2", want: "delete web-2 (update)"},
		{name: "update continues downwards", set: stsSet(3), pods: []string{"0:ready", "1:ready", "2:ready@r2"}, current: "r1", update: "r2", want: "delete web-1 (update)"},
		{name: "update waits for the replaced pod", set: stsSet(3), pods: []string{"0:ready", "1:ready", "2:pending@r2"}, current: "r1", update: "r2", want: ""},
		{name: "replaced pod comes from the update revision", set: stsSet(3), pods: []string{"0:ready", "1:ready"}, current: "r1", update: "r2", want: "create 2@r2"},
		{name: "partition stops the update", set: stsSet(3, partition(2)), pods: []string{"0:ready", "1:ready", "2:ready@r2"}, current: "r1", update: "r2", want: ""},
		{name: "partition updates above it", set: stsSet(3, partition(2)), pods: []string{"0:ready", "1:ready", "2:ready"}, current: "r1", update: "r2", want: "delete web-2 (update)"},
		{name: "below the partition pods come back at the current revision", set: stsSet(3, partition(2)), pods: []string{"0:ready", "2:ready@r2"}, current: "r1", update: "r2", want: "create 1@r1"},
		{name: "parallel update waits for every pod", set: stsSet(3, parallel), pods: []string{"0:pending", "1:ready", "2:ready"}, current: "r1", update: "r2", want: ""},
		{name: "update waits for scale down", set: stsSet(2), pods: []string{"0:ready", "1:ready", "2:gone"}, current: "r1", update: "r2", want: ""},
		{name: "on delete never deletes for updates", set: stsSet(2, onDelete), pods: []string{"0:ready", "1:ready"}, current: "r1", update: "r2", want: ""},
		{name: "on delete recreates at the update revision", set: stsSet(2, onDelete), pods: []string{"1:ready"}, current: "r1", update: "r2", want: "create 0@r2"},
		{name: "ordinals start", set: stsSet(2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }), pods: []string{"0:ready", "5:ready", "6:ready"}, want: "delete web-0 (scale)"},
		{name: "ordinals start creates from start", set: stsSet(2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }), pods: []string{"5:ready"}, want: "create 6@r1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur, upd := tc.current, tc.update
			if cur == "" {
				cur, upd = "r1", "r1"
			}
			got := describeActions(plan(tc.set, stsPods(tc.pods...), cur, upd, stsNow))
			if got != tc.want {
				t.Errorf("plan: got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	cases := []struct {
		name            string
		set             *appsv1.StatefulSet
		pods            []string
		current, update string
		want            appsv1.StatefulSetStatus
	}{
		{
			name: "steady", set: stsSet(2), pods: []string{"0:ready", "1:ready"}, current: "r1", update: "r1",
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "r1", UpdateRevision: "r1"},
		},
		{
			name: "mid update", set: stsSet(3), pods: []string{"0:ready", "1:ready", "2:pending@r2"}, current: "r1", update: "r2",
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r2"},
		},
		{
			name: "update complete", set: stsSet(2), pods: []string{"0:ready@r2", "1:ready@r2"}, current: "r1", update: "r2",
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "r2", UpdateRevision: "r2"},
		},
		{
			name: "terminating pods do not count", set: stsSet(1), pods: []string{"0:ready", "1:gone"}, current: "r1", update: "r1",
			want: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r1"},
		},
		{
			name: "available after minReadySeconds", set: stsSet(2, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }), pods: []string{"0:ready", "1:fresh"}, current: "r1", update: "r1",
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "r1", UpdateRevision: "r1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := computeStatus(tc.set, stsPods(tc.pods...), tc.current, tc.update, stsNow)
			if !statusEqual(got, tc.want) {
				t.Errorf("status:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// A pod becomes available as the fake clock passes minReadySeconds, which
// is what lets the next ordinal be created.
func TestPlanMinReadyWithClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(stsNow)
	set := stsSet(2, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 5 })
	pods := stsPods("0:fresh")
	if got := describeActions(plan(set, pods, "r1", "r1", clk.Now())); got != "" {
		t.Fatalf("before minReadySeconds: %q", got)
	}
	clk.Step(4 * time.Second)
	if got := describeActions(plan(set, pods, "r1", "r1", clk.Now())); got != "create 1@r1" {
		t.Fatalf("after minReadySeconds: %q", got)
	}
}

func TestOrdinalOf(t *testing.T) {
	cases := []struct {
		set, pod string
		ord      int
		ok       bool
	}{
		{"web", "web-0", 0, true},
		{"web", "web-12", 12, true},
		{"web", "web-01", 0, false},
		{"web", "web--1", 0, false},
		{"web", "web-", 0, false},
		{"web", "web-x", 0, false},
		{"web", "webx-1", 0, false},
		{"web", "web-a-1", 0, false},
		{"web-a", "web-a-1", 1, true},
		{"web", "web-+1", 0, false},
	}
	for _, tc := range cases {
		ord, ok := ordinalOf(tc.set, tc.pod)
		if ord != tc.ord || ok != tc.ok {
			t.Errorf("ordinalOf(%q, %q) = %d, %v; want %d, %v", tc.set, tc.pod, ord, ok, tc.ord, tc.ok)
		}
	}
}

func FuzzOrdinalOf(f *testing.F) {
	f.Add("web", "web-0")
	f.Add("web", "web-007")
	f.Add("a-b", "a-b-99999999999999999999")
	f.Fuzz(func(t *testing.T, set, pod string) {
		ord, ok := ordinalOf(set, pod)
		if !ok {
			return
		}
		if ord < 0 || podName(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: set}}, ord) != pod {
			t.Fatalf("ordinalOf(%q, %q) = %d does not name the pod back", set, pod, ord)
		}
	})
}
