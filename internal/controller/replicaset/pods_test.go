package replicaset

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, node string, phase corev1.PodPhase, readyAt *time.Time, created time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if readyAt != nil {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(*readyAt)}}
	}
	return p
}

func TestPodsToDelete(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	early, late := t0.Add(time.Minute), t0.Add(time.Hour)
	cases := []struct {
		name string
		pods []*corev1.Pod
		n    int
		want []string
	}{
		{"unscheduled first", []*corev1.Pod{pod("a", "n1", corev1.PodRunning, &early, t0), pod("b", "", corev1.PodPending, nil, t0)}, 1, []string{"b"}},
		{"pending before running", []*corev1.Pod{pod("a", "n1", corev1.PodRunning, nil, t0), pod("b", "n1", corev1.PodPending, nil, t0)}, 1, []string{"b"}},
		{"not ready before ready", []*corev1.Pod{pod("a", "n1", corev1.PodRunning, &early, t0), pod("b", "n1", corev1.PodRunning, nil, t0)}, 1, []string{"b"}},
		{"recently ready first", []*corev1.Pod{pod("a", "n1", corev1.PodRunning, &early, t0), pod("b", "n1", corev1.PodRunning, &late, t0)}, 1, []string{"b"}},
		{"newest first", []*corev1.Pod{pod("a", "", corev1.PodPending, nil, t0), pod("b", "", corev1.PodPending, nil, late), pod("c", "", corev1.PodPending, nil, early)}, 2, []string{"b", "c"}},
		{"all", []*corev1.Pod{pod("a", "", corev1.PodPending, nil, t0)}, 3, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range podsToDelete(tc.pods, tc.n) {
				got = append(got, p.Name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, recent := now.Add(-time.Minute), now.Add(-5*time.Second)
	pods := []*corev1.Pod{pod("a", "", corev1.PodRunning, &old, now), pod("b", "", corev1.PodRunning, &recent, now), pod("c", "", corev1.PodPending, nil, now)}
	pods[0].Labels = map[string]string{"app": "x"}
	r := newRS(10)
	r.Spec.Template.Labels = map[string]string{"app": "x"}
	s := computeStatus(r, pods, now)
	if s.Replicas != 3 || s.FullyLabeledReplicas != 1 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1 {
		t.Errorf("status %+v", s)
	}
	r.Spec.MinReadySeconds = 0
	if s := computeStatus(r, pods, now); s.AvailableReplicas != 2 {
		t.Errorf("minReadySeconds 0: available %d, want 2", s.AvailableReplicas)
	}
}

func newRS(minReady int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{MinReadySeconds: minReady}}
}
