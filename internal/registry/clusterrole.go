package registry

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func clusterRoles() *Kind {
	return &Kind{
		GVK:      rbacv1.SchemeGroupVersion.WithKind("ClusterRole"),
		Resource: "clusterroles",
		Singular: "clusterrole",
		New:      func() runtime.Object { return &rbacv1.ClusterRole{} },
		NewList:  func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		NameRule: rbacNameRule,
		Validate: func(obj, old runtime.Object) field.ErrorList {
			cr := obj.(*rbacv1.ClusterRole)
			errs := validatePolicyRules(cr.Rules, false)
			if ar := cr.AggregationRule; ar != nil {
				p := field.NewPath("aggregationRule", "clusterRoleSelectors")
				if len(ar.ClusterRoleSelectors) == 0 {
					errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
				}
				for i := range ar.ClusterRoleSelectors {
					errs = append(errs, metav1validation.ValidateLabelSelector(&ar.ClusterRoleSelectors[i],
						metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
				}
			}
			return errs
		},
		Columns: rbacRoleColumns,
		Row:     createdAt,
	}
}
