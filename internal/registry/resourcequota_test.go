package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreQuota(hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
}

func TestResourceQuotaWrites(t *testing.T) {
	runCoreCases(t, resourceQuotas(), []coreCase{
		{name: "valid", obj: coreQuota(corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"),
			"count/deployments.apps": resource.MustParse("5")}, corev1.ResourceQuotaScopeNotTerminating)},
		{name: "bad", obj: coreQuota(corev1.ResourceList{"pods": resource.MustParse("-1"), "bad name!": resource.MustParse("1")}, "Sometimes"),
			paths: []string{"spec.hard[bad name!]", "spec.hard[pods]", "spec.scopes[0]"}},
		{name: "scope selector", obj: &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{
			ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn},
			}}}}, paths: []string{"spec.scopeSelector.matchExpressions[0].values"}},
	})
}

func TestResourceQuotaRow(t *testing.T) {
	k := resourceQuotas()
	q := coreQuota(nil)
	q.Status = corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "limits.memory": resource.MustParse("8Gi")},
		Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")},
	}
	row := k.Row(q)
	if len(row) != len(k.Columns) || row[2] != "pods: 3/10, requests.cpu: 500m/4" || row[3] != "limits.memory: 0/8Gi" {
		t.Errorf("row = %q", row)
	}
	k.PrepareForCreate(q)
	if q.Status.Hard != nil {
		t.Errorf("status kept on create: %+v", q.Status)
	}
}
