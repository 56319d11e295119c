package registry

import (
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func limitRanges() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("LimitRange"),
		Resource:   "limitranges",
		Singular:   "limitrange",
		ShortNames: []string{"limits"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.LimitRange{} },
		NewList:    func() runtime.Object { return &corev1.LimitRangeList{} },
		Defaults: func(obj runtime.Object) {
			lr := obj.(*corev1.LimitRange)
			for i := range lr.Spec.Limits {
				defaultLimitRangeItem(&lr.Spec.Limits[i])
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			lr := obj.(*corev1.LimitRange)
			var errs field.ErrorList
			seen := map[corev1.LimitType]bool{}
			for i := range lr.Spec.Limits {
				item := &lr.Spec.Limits[i]
				ip := field.NewPath("spec", "limits").Index(i)
				if seen[item.Type] {
					errs = append(errs, field.Duplicate(ip.Child("type"), item.Type))
				}
				seen[item.Type] = true
				errs = append(errs, validateLimitRangeItem(item, ip)...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			{Name: "Created At", Type: "date", Description: "When the limit range was created."},
		},
		Row: func(obj runtime.Object) []any {
			lr := obj.(*corev1.LimitRange)
			return []any{lr.Name, lr.CreationTimestamp.UTC().Format(time.RFC3339)}
		},
	}
}

// defaultLimitRangeItem: for containers, a missing default limit is the
// max, and a missing default request the default limit, else the min.
func defaultLimitRangeItem(item *corev1.LimitRangeItem) {
	if item.Type != corev1.LimitTypeContainer {
		return
	}
	fill := func(dst *corev1.ResourceList, src corev1.ResourceList) {
		for name, q := range src {
			if _, ok := (*dst)[name]; ok {
				continue
			}
			if *dst == nil {
				*dst = corev1.ResourceList{}
			}
			(*dst)[name] = q.DeepCopy()
		}
	}
	fill(&item.Default, item.Max)
	fill(&item.DefaultRequest, item.Default)
	fill(&item.DefaultRequest, item.Min)
}

func validateLimitRangeItem(item *corev1.LimitRangeItem, p *field.Path) field.ErrorList {
	errs := oneOf(p.Child("type"), item.Type, corev1.LimitTypeContainer, corev1.LimitTypePod, corev1.LimitTypePersistentVolumeClaim)
	lists := []struct {
		name string
		l    corev1.ResourceList
	}{
		{"max", item.Max}, {"min", item.Min}, {"default", item.Default},
		{"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio},
	}
	names := map[corev1.ResourceName]bool{}
	for _, l := range lists {
		for _, name := range sortedResourceNames(l.l) {
			kp := p.Child(l.name).Key(string(name))
			for _, msg := range validation.IsQualifiedName(string(name)) {
				errs = append(errs, field.Invalid(kp, string(name), msg))
			}
			errs = append(errs, nonNegative(l.l[name], kp)...)
			names[name] = true
		}
	}

	switch item.Type {
	case corev1.LimitTypePod:
		if len(item.Default) > 0 {
			errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
		}
		if len(item.DefaultRequest) > 0 {
			errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
		}
	case corev1.LimitTypePersistentVolumeClaim:
		_, hasMin := item.Min[corev1.ResourceStorage]
		_, hasMax := item.Max[corev1.ResourceStorage]
		if !hasMin && !hasMax {
			errs = append(errs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
		}
	}

	for _, name := range slices.Sorted(maps.Keys(names)) {
		key := string(name)
		lo, hasMin := item.Min[name]
		hi, hasMax := item.Max[name]
		def, hasDef := item.Default[name]
		req, hasReq := item.DefaultRequest[name]
		ratio, hasRatio := item.MaxLimitRequestRatio[name]
		// order refuses a > b, reported at the field named by at.
		order := func(at string, a resource.Quantity, hasA bool, b resource.Quantity, hasB bool, what string) {
			if !hasA || !hasB || a.Cmp(b) <= 0 {
				return
			}
			v := map[string]resource.Quantity{"min": lo, "default": def, "defaultRequest": req}[at]
			errs = append(errs, field.Invalid(p.Child(at).Key(key), v.String(), fmt.Sprintf(what, a.String(), b.String())))
		}
		order("min", lo, hasMin, hi, hasMax, "min value %s is greater than max value %s")
		order("defaultRequest", lo, hasMin, req, hasReq, "min value %s is greater than default request value %s")
		order("defaultRequest", req, hasReq, hi, hasMax, "default request value %s is greater than max value %s")
		order("default", lo, hasMin, def, hasDef, "min value %s is greater than default value %s")
		order("default", def, hasDef, hi, hasMax, "default value %s is greater than max value %s")
		order("defaultRequest", req, hasReq, def, hasDef, "default request value %s is greater than default limit value %s")
		if hasRatio {
			rp := p.Child("maxLimitRequestRatio").Key(key)
			if ratio.Cmp(resource.MustParse("1")) < 0 {
				errs = append(errs, field.Invalid(rp, ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
			}
			if hasMin && hasMax && lo.Sign() > 0 {
				limit := float64(hi.MilliValue()) / float64(lo.MilliValue())
				if float64(ratio.MilliValue())/1000 > limit {
					errs = append(errs, field.Invalid(rp, ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
				}
			}
		}
	}
	return errs
}
