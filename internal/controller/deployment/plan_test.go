package deployment

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func deploy(replicas int32, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
	}}
}

func TestSurgeAndUnavailable(t *testing.T) {
	cases := []struct {
		name                   string
		d                      *appsv1.Deployment
		wantSurge, wantUnavail int32
	}{
		{"defaults 25% of 10", deploy(10, "25%", "25%"), 3, 2},
		{"25% of 1", deploy(1, "25%", "25%"), 1, 0},
		{"ints", deploy(5, "2", "1"), 2, 1},
		{"20% of 5", deploy(5, "20%", "20%"), 1, 1},
		{"both zero", deploy(3, "0", "0"), 0, 1},
		{"unavailable capped", deploy(2, "0", "5"), 0, 2},
		{"recreate", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, u := surgeAndUnavailable(tc.d)
			if s != tc.wantSurge || u != tc.wantUnavail {
				t.Errorf("got surge %d unavailable %d, want %d %d", s, u, tc.wantSurge, tc.wantUnavail)
			}
		})
	}
}

func rs(replicas, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: &replicas}, Status: appsv1.ReplicaSetStatus{Replicas: replicas, AvailableReplicas: available, ReadyReplicas: available}}
}

func TestRollingSteps(t *testing.T) {
	cases := []struct {
		name        string
		d           *appsv1.Deployment
		newRS       *appsv1.ReplicaSet
		old         []*appsv1.ReplicaSet
		wantNew     int32
		wantOldDown int32
	}{
		{"start: surge 2, one unavailable allowed", deploy(5, "2", "1"), rs(0, 0), []*appsv1.ReplicaSet{rs(5, 5)}, 2, 1},
		{"surge used up", deploy(5, "2", "1"), rs(2, 0), []*appsv1.ReplicaSet{rs(5, 5)}, 2, 1},
		{"new ready: old may shrink", deploy(5, "2", "1"), rs(2, 2), []*appsv1.ReplicaSet{rs(5, 5)}, 2, 3},
		{"new not ready, unavailable 1", deploy(5, "2", "1"), rs(2, 1), []*appsv1.ReplicaSet{rs(5, 5)}, 2, 2},
		{"no surge", deploy(4, "0", "1"), rs(0, 0), []*appsv1.ReplicaSet{rs(4, 4)}, 0, 1},
		{"done", deploy(3, "1", "0"), rs(3, 3), nil, 3, 0},
		{"scale down new", deploy(2, "1", "0"), rs(3, 3), nil, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := append([]*appsv1.ReplicaSet{tc.newRS}, tc.old...)
			if got := newRSReplicas(tc.d, all, tc.newRS); got != tc.wantNew {
				t.Errorf("newRSReplicas = %d, want %d", got, tc.wantNew)
			}
			if got := oldScaleDown(tc.d, all, tc.newRS); got != tc.wantOldDown {
				t.Errorf("oldScaleDown = %d, want %d", got, tc.wantOldDown)
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	a := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i:1"}}}}
	b := *a.DeepCopy()
	b.Spec.Containers[0].Image = "i:2"
	withLabel := *a.DeepCopy()
	withLabel.Labels[hashLabel] = "abc"
	one := int32(1)
	h := templateHash(&a, nil)
	switch {
	case h != templateHash(a.DeepCopy(), nil):
		t.Error("hash not stable")
	case h == templateHash(&b, nil):
		t.Error("different images, same hash")
	case h != templateHash(&withLabel, nil):
		t.Error("the hash label changed the hash")
	case h == templateHash(&a, &one):
		t.Error("collision count ignored")
	}
	for _, r := range h {
		if !(r >= 'b' && r <= 'z' || r >= '2' && r <= '9') {
			t.Errorf("hash %q has %q, outside the safe alphabet", h, r)
		}
	}
	if !sameTemplate(&a, &withLabel) || sameTemplate(&a, &b) {
		t.Error("sameTemplate must ignore only the hash label")
	}
}

func TestStatusAndConditions(t *testing.T) {
	d := deploy(3, "1", "0")
	d.Generation = 4
	newRS, oldRS := rs(3, 2), rs(1, 1)
	s := computeStatus(d, []*appsv1.ReplicaSet{newRS, oldRS}, newRS)
	want := appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 4, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, UnavailableReplicas: 0}
	if s.ObservedGeneration != want.ObservedGeneration || s.Replicas != want.Replicas || s.UpdatedReplicas != want.UpdatedReplicas ||
		s.ReadyReplicas != want.ReadyReplicas || s.AvailableReplicas != want.AvailableReplicas || s.UnavailableReplicas != want.UnavailableReplicas {
		t.Errorf("status %+v, want %+v", s, want)
	}
	if complete(d, s) {
		t.Error("complete with an old pod left")
	}
	s = computeStatus(d, []*appsv1.ReplicaSet{rs(3, 3)}, rs(3, 3))
	if !complete(d, s) {
		t.Error("not complete")
	}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline := int32(60)
	d.Spec.ProgressDeadlineSeconds = &deadline
	st := appsv1.DeploymentStatus{}
	setCondition(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: metav1.NewTime(t0), LastTransitionTime: metav1.NewTime(t0)})
	if ex, left := deadlineExceeded(d, &st, t0.Add(30*time.Second)); ex || left != 30*time.Second {
		t.Errorf("at 30s: exceeded %v left %v", ex, left)
	}
	if ex, _ := deadlineExceeded(d, &st, t0.Add(61*time.Second)); !ex {
		t.Error("at 61s: not exceeded")
	}
	// Same status and reason: transition and update times are kept.
	setCondition(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: metav1.NewTime(t0.Add(time.Hour)), LastTransitionTime: metav1.NewTime(t0.Add(time.Hour))})
	if c := condition(&st, appsv1.DeploymentProgressing); !c.LastUpdateTime.Time.Equal(t0) || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("times moved: %+v", c)
	}
	setConditionAt(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: metav1.NewTime(t0.Add(time.Hour)), LastTransitionTime: metav1.NewTime(t0.Add(time.Hour))}, true)
	if c := condition(&st, appsv1.DeploymentProgressing); !c.LastUpdateTime.Time.Equal(t0.Add(time.Hour)) || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("progress: %+v", c)
	}
}

func TestProportionalSizes(t *testing.T) {
	cases := []struct {
		name    string
		sizes   []int32
		allowed int32
		want    []int32
	}{
		{"double", []int32{4, 2}, 12, []int32{8, 4}},
		{"halve", []int32{4, 2}, 3, []int32{2, 1}},
		{"rounding to first", []int32{3, 2}, 8, []int32{5, 3}},
		{"down rounding", []int32{3, 3, 1}, 4, []int32{1, 2, 1}},
		{"to zero", []int32{2, 1}, 0, []int32{0, 0}},
		{"unchanged", []int32{5, 2}, 7, []int32{5, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := proportionalSizes(tc.sizes, tc.allowed)
			var sum int32
			for _, g := range got {
				sum += g
			}
			if sum != tc.allowed {
				t.Errorf("sizes %v sum to %d, want %d", got, sum, tc.allowed)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
