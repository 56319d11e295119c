package registry

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func podDisruptionBudgets() *Kind {
	return &Kind{
		GVK:        policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
		Resource:   "poddisruptionbudgets",
		Singular:   "poddisruptionbudget",
		ShortNames: []string{"pdb"},
		Namespaced: true,
		New:        func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList:    func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validatePDBSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, field.NewPath("spec"))
		},
		HasStatus: true,
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
		},
		Generation: true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Min Available", "string", "Pods that must stay available."),
			col("Max Unavailable", "string", "Pods that may be unavailable."),
			col("Allowed Disruptions", "integer", "Evictions allowed right now."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			pdb := obj.(*policyv1.PodDisruptionBudget)
			na := func(v *intstr.IntOrString) string {
				if v == nil {
					return "N/A"
				}
				return v.String()
			}
			return []any{pdb.Name, na(pdb.Spec.MinAvailable), na(pdb.Spec.MaxUnavailable),
				int64(pdb.Status.DisruptionsAllowed), age(obj)}
		},
	}
}

func validatePDBSpec(s *policyv1.PodDisruptionBudgetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.MinAvailable != nil && s.MaxUnavailable != nil:
		errs = append(errs, field.Invalid(p, s, "minAvailable and maxUnavailable cannot be both set"))
	case s.MinAvailable == nil && s.MaxUnavailable == nil:
		errs = append(errs, field.Required(p.Child("minAvailable"), "one of minAvailable or maxUnavailable must be set"))
	}
	errs = append(errs, validateIntOrPercent(s.MinAvailable, p.Child("minAvailable"), true)...)
	errs = append(errs, validateIntOrPercent(s.MaxUnavailable, p.Child("maxUnavailable"), true)...)
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	if u := s.UnhealthyPodEvictionPolicy; u != nil {
		switch *u {
		case policyv1.IfHealthyBudget, policyv1.AlwaysAllow:
		default:
			errs = append(errs, field.NotSupported(p.Child("unhealthyPodEvictionPolicy"), *u, []string{
				string(policyv1.IfHealthyBudget), string(policyv1.AlwaysAllow)}))
		}
	}
	return errs
}
