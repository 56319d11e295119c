package registry

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func leases() *Kind {
	return &Kind{
		GVK:        coordinationv1.SchemeGroupVersion.WithKind("Lease"),
		Resource:   "leases",
		Singular:   "lease",
		Namespaced: true,
		New:        func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			s := &obj.(*coordinationv1.Lease).Spec
			spec := field.NewPath("spec")
			var errs field.ErrorList
			if d := s.LeaseDurationSeconds; d != nil && *d <= 0 {
				errs = append(errs, field.Invalid(spec.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
			}
			errs = append(errs, nonNegative32(s.LeaseTransitions, spec.Child("leaseTransitions"))...)
			if s.PreferredHolder != nil && *s.PreferredHolder != "" && (s.Strategy == nil || *s.Strategy == "") {
				errs = append(errs, field.Forbidden(spec.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Holder", "string", "Identity of the current holder."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			l := obj.(*coordinationv1.Lease)
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, age(obj)}
		},
	}
}
