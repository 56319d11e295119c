package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func resourceQuotas() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("ResourceQuota"),
		Resource:   "resourcequotas",
		Singular:   "resourcequota",
		ShortNames: []string{"quota"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.ResourceQuota{} },
		NewList:    func() runtime.Object { return &corev1.ResourceQuotaList{} },
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			q := obj.(*corev1.ResourceQuota)
			errs := validateQuotaSpec(&q.Spec, field.NewPath("spec"))
			sp := field.NewPath("status")
			errs = append(errs, validateQuotaList(q.Status.Hard, sp.Child("hard"))...)
			errs = append(errs, validateQuotaList(q.Status.Used, sp.Child("used"))...)
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			ageColumn,
			col("Request", "string", "Used and hard request quotas."),
			col("Limit", "string", "Used and hard limit quotas."),
		},
		Row: func(obj runtime.Object) []any {
			q := obj.(*corev1.ResourceQuota)
			request, limit := quotaUsage(&q.Status)
			return []any{q.Name, age(obj), request, limit}
		},
	}
}

var quotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

func validateQuotaSpec(s *corev1.ResourceQuotaSpec, p *field.Path) field.ErrorList {
	errs := validateQuotaList(s.Hard, p.Child("hard"))
	for i, sc := range s.Scopes {
		errs = append(errs, oneOf(p.Child("scopes").Index(i), sc, quotaScopes...)...)
	}
	if sel := s.ScopeSelector; sel != nil {
		for i, r := range sel.MatchExpressions {
			rp := p.Child("scopeSelector", "matchExpressions").Index(i)
			errs = append(errs, oneOf(rp.Child("scopeName"), r.ScopeName, quotaScopes...)...)
			errs = append(errs, oneOf(rp.Child("operator"), r.Operator, corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn,
				corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist)...)
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					errs = append(errs, field.Required(rp.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) > 0 {
					errs = append(errs, field.Invalid(rp.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			}
		}
	}
	return errs
}

// validateQuotaList checks quota resource names ("pods", "requests.cpu",
// "count/deployments.apps") and that no amount is negative.
func validateQuotaList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedResourceNames(l) {
		kp := p.Key(string(name))
		for _, msg := range validation.IsQualifiedName(string(name)) {
			errs = append(errs, field.Invalid(kp, string(name), msg))
		}
		errs = append(errs, nonNegative(l[name], kp)...)
	}
	return errs
}

// quotaUsage renders "name: used/hard" pairs, limits.* in the second cell.
func quotaUsage(s *corev1.ResourceQuotaStatus) (request, limit string) {
	var req, lim []string
	for _, name := range sortedResourceNames(s.Hard) {
		hard, used := s.Hard[name], s.Used[name]
		cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if strings.HasPrefix(string(name), "limits.") {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return strings.Join(req, ", "), strings.Join(lim, ", ")
}
