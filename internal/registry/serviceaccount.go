package registry

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func serviceAccounts() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		Resource:   "serviceaccounts",
		Singular:   "serviceaccount",
		ShortNames: []string{"sa"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:    func() runtime.Object { return &corev1.ServiceAccountList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			sa := obj.(*corev1.ServiceAccount)
			var errs field.ErrorList
			for i, s := range sa.Secrets {
				errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, s.Name, field.NewPath("secrets").Index(i).Child("name"))...)
			}
			for i, s := range sa.ImagePullSecrets {
				errs = append(errs, requiredSubdomain(s.Name, field.NewPath("imagePullSecrets").Index(i).Child("name"))...)
			}
			return errs
		},
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
