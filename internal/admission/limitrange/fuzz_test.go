package limitrange

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FuzzApply feeds quantities parsed from fuzzed text into every field of a
// range and a pod; Apply must not panic, and a second Apply must change
// nothing more (defaulting is idempotent).
func FuzzApply(f *testing.F) {
	f.Add("1", "500m", "0", "2Gi", "1e3")
	f.Add("9223372036854775807", "1n", "-1", "0.5", "100Ei")
	f.Fuzz(func(t *testing.T, a, b, c, d, e string) {
		q := func(s string) corev1.ResourceList {
			v, err := resource.ParseQuantity(s)
			if err != nil {
				return nil
			}
			return corev1.ResourceList{corev1.ResourceCPU: v, corev1.ResourceMemory: v}
		}
		lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: corev1.LimitTypeContainer, Min: q(a), Max: q(b), Default: q(c), DefaultRequest: q(d), MaxLimitRequestRatio: q(e)},
			{Type: corev1.LimitTypePod, Min: q(a), Max: q(b), MaxLimitRequestRatio: q(e)},
			{Type: corev1.LimitTypePersistentVolumeClaim, Min: q(c), Max: q(d)},
		}}}
		pod := &corev1.Pod{Spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: q(e)}}},
			InitContainers: []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Limits: q(a)}}},
			Overhead:       q(b),
		}}
		err1 := Apply([]*corev1.LimitRange{lr}, pod)
		before := pod.DeepCopy()
		err2 := Apply([]*corev1.LimitRange{lr}, pod)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("second Apply changed the verdict: %v then %v", err1, err2)
		}
		if len(before.Spec.Containers[0].Resources.Requests) != len(pod.Spec.Containers[0].Resources.Requests) {
			t.Fatalf("second Apply added requests")
		}
		pvc := &corev1.PersistentVolumeClaim{}
		pvc.Spec.Resources.Requests = q(a)
		_ = ApplyPVC([]*corev1.LimitRange{lr}, pvc)
	})
}
