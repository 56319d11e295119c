package registry

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Helpers shared by the workload kinds (apps and batch): selectors against
// pod templates, int-or-percent knobs and the CONTAINERS/IMAGES columns.

// validateTemplateSelector checks a workload's required selector and that it
// selects the pods the template will create. spec is the path of the
// workload's spec (or of a job template's spec).
func validateTemplateSelector(sel *metav1.LabelSelector, tmplLabels map[string]string, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	p := spec.Child("selector")
	if sel == nil {
		return append(errs, field.Required(p, ""))
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)...)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for this workload"))
	}
	errs = append(errs, selectorMatchesTemplate(sel, tmplLabels, spec)...)
	return errs
}

func selectorMatchesTemplate(sel *metav1.LabelSelector, tmplLabels map[string]string, spec *field.Path) field.ErrorList {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Matches(labels.Set(tmplLabels)) {
		// A malformed selector is reported by ValidateLabelSelector.
		return nil
	}
	return field.ErrorList{field.Invalid(spec.Child("template", "metadata", "labels"), tmplLabels, "`selector` does not match template `labels`")}
}

// validateWorkloadTemplate validates a pod template and restricts its
// restart policy to what the owning controller can honour.
func validateWorkloadTemplate(t *corev1.PodTemplateSpec, p *field.Path, allowed ...corev1.RestartPolicy) field.ErrorList {
	errs := validatePodTemplateSpec(t, p)
	rp := t.Spec.RestartPolicy
	ok := false
	for _, a := range allowed {
		ok = ok || rp == a
	}
	if !ok {
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), rp, names))
	}
	return errs
}

// validateAppsTemplate adds the rules for long-running workloads: pods must
// restart forever and may not carry a deadline.
func validateAppsTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	errs := validateWorkloadTemplate(t, p, corev1.RestartPolicyAlways)
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds is not supported for this workload"))
	}
	return errs
}

// immutableField reports a change between two values as Kubernetes does.
func immutableField(now, old any, p *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(now, old, p)
}

func nonNegative32(v *int32, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), p)
}

func nonNegative64(v *int64, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(*v, p)
}

// intOrPercent returns the number held by v and whether it is a percentage.
// ok is false for a string that is not a percentage.
func intOrPercent(v *intstr.IntOrString) (n int, percent, ok bool) {
	if v.Type == intstr.Int {
		return v.IntValue(), false, true
	}
	s, found := strings.CutSuffix(v.StrVal, "%")
	if !found {
		return 0, true, false
	}
	n, err := strconv.Atoi(s)
	return n, true, err == nil
}

// validateIntOrPercent accepts a non-negative integer or a percentage, at
// most 100% when capped is set.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path, capped bool) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v.StrVal, msg))
		}
		if len(errs) > 0 {
			return errs
		}
	}
	n, percent, _ := intOrPercent(v)
	if n < 0 {
		return field.ErrorList{field.Invalid(p, v.String(), apivalidation.IsNegativeErrorMsg)}
	}
	if capped && percent && n > 100 {
		return field.ErrorList{field.Invalid(p, v.String(), "must not be greater than 100%")}
	}
	return nil
}

func isZeroIntOrPercent(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	n, _, ok := intOrPercent(v)
	return ok && n == 0
}

// semanticEqual compares API values the way Kubernetes does (quantities by
// value, nil and empty alike for some types).
func semanticEqual(a, b any) bool { return apiequality.Semantic.DeepEqual(a, b) }

// templateContainers renders the CONTAINERS and IMAGES columns.
func templateContainers(spec *corev1.PodSpec) (names, images string) {
	n := make([]string, 0, len(spec.Containers))
	im := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		n = append(n, c.Name)
		im = append(im, c.Image)
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// selectorString renders a selector as kubectl does in SELECTOR columns.
func selectorString(sel *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(sel)
}

// replicasOr1 reads a defaulted replica count.
func replicasOr1(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

var (
	containersColumn = wideCol("Containers", "string", "Names of each container in the template.")
	imagesColumn     = wideCol("Images", "string", "Images referenced by each container in the template.")
	selectorColumn   = wideCol("Selector", "string", "Label selector for the pods.")
)

func ratio(a, b int32) string { return fmt.Sprintf("%d/%d", a, b) }
