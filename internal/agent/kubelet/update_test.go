package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnStatusWrite(t *testing.T) {
	base := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}, ResourceVersion: "1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	now := metav1.Now()
	grace := int64(0)
	cases := []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"container state only", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}
		}, true},
		{"phase", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
		{"grace", func(p *corev1.Pod) { p.DeletionGracePeriodSeconds = &grace }, false},
		{"labels", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "b"} }, false},
		{"annotations", func(p *corev1.Pod) { p.Annotations = map[string]string{"x": "y"} }, false},
		{"spec", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "j" }, false},
		{"readiness gate condition", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
		}, false},
		{"other condition", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := base.DeepCopy()
			cur.ResourceVersion = "2"
			tc.change(cur)
			if got := ownStatusWrite(base, cur); got != tc.want {
				t.Fatalf("ownStatusWrite = %v, want %v", got, tc.want)
			}
		})
	}
}
