package registry

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// serviceAccounts have nothing to validate beyond metadata: the secret
// references are names the token controller and kubelet look up, and
// Kubernetes accepts any.
func serviceAccounts() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		Resource:   "serviceaccounts",
		Singular:   "serviceaccount",
		ShortNames: []string{"sa"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:    func() runtime.Object { return &corev1.ServiceAccountList{} },
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Secrets", "integer", "The number of secrets listed by the service account."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			sa := obj.(*corev1.ServiceAccount)
			return []any{sa.Name, int64(len(sa.Secrets)), age(obj)}
		},
	}
}
