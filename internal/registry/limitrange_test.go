package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreLimitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
}

func TestLimitRangeWrites(t *testing.T) {
	runCoreCases(t, limitRanges(), []coreCase{
		{name: "valid", obj: coreLimitRange(
			corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: cpu("100m"), Max: cpu("2"), Default: cpu("500m")},
			corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: cpu("4")},
			corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		)},
		{name: "bad type", obj: coreLimitRange(corev1.LimitRangeItem{Type: "Node"}), paths: []string{"spec.limits[0].type"}},
		{name: "min above max", obj: coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: cpu("2"), Max: cpu("1")}),
			paths: []string{"spec.limits[0].defaultRequest[cpu]", "spec.limits[0].default[cpu]", "spec.limits[0].min[cpu]"}},
		{name: "default above max", obj: coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: cpu("1"), Default: cpu("2")}),
			paths: []string{"spec.limits[0].defaultRequest[cpu]", "spec.limits[0].default[cpu]"}},
		{name: "pod defaults", obj: coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: cpu("1")}),
			paths: []string{"spec.limits[0].default"}},
		{name: "ratio below one", obj: coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: cpu("500m")}),
			paths: []string{"spec.limits[0].maxLimitRequestRatio[cpu]"}},
		{name: "duplicate type", obj: coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePod}, corev1.LimitRangeItem{Type: corev1.LimitTypePod}),
			paths: []string{"spec.limits[1].type"}},
	})
}

func TestLimitRangeDefaults(t *testing.T) {
	lr := coreLimitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{
		corev1.ResourceMemory: resource.MustParse("64Mi")}, Max: cpu("2")})
	limitRanges().Defaults(lr)
	item := lr.Spec.Limits[0]
	if item.Default.Cpu().String() != "2" || item.DefaultRequest.Cpu().String() != "2" || item.DefaultRequest.Memory().String() != "64Mi" {
		t.Errorf("defaults = %v, requests = %v", item.Default, item.DefaultRequest)
	}
}
