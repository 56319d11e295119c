package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// HorizontalPodAutoscalers are stored as autoscaling/v2. The v1 form has
// room only for a CPU utilization target, so what it cannot hold travels in
// these annotations, in the same encoding Kubernetes uses, and survives a
// read-modify-write through v1.
const (
	hpaMetricsAnnotation        = "autoscaling.alpha.kubernetes.io/metrics"         // []autoscalingv1.MetricSpec
	hpaCurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics" // []autoscalingv1.MetricStatus
	hpaConditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"      // []autoscalingv1.HorizontalPodAutoscalerCondition
	hpaBehaviorAnnotation       = "autoscaling.alpha.kubernetes.io/behavior"        // autoscalingv2.HorizontalPodAutoscalerBehavior
)

var hpaAnnotations = []string{hpaMetricsAnnotation, hpaCurrentMetricsAnnotation, hpaConditionsAnnotation, hpaBehaviorAnnotation}

// defaultCPUUtilization is the target of an autoscaler given no metrics.
const defaultCPUUtilization = 80

// Limits on scaling behavior.
const (
	maxStabilizationWindowSeconds = 3600
	maxScalingPeriodSeconds       = 1800
)

var hpaColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Reference", "string", "The scale target."),
	col("Targets", "string", "Current and target value of each metric."),
	col("MinPods", "string", "Lower limit of replicas."),
	col("MaxPods", "integer", "Upper limit of replicas."),
	col("Replicas", "integer", "Current number of replicas."),
	ageColumn,
}

func horizontalPodAutoscalersV2() *Kind {
	return &Kind{
		GVK:        autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
		Resource:   "horizontalpodautoscalers",
		Singular:   "horizontalpodautoscaler",
		ShortNames: []string{"hpa"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList:    func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		Defaults:   func(obj runtime.Object) { defaultHPA(obj.(*autoscalingv2.HorizontalPodAutoscaler)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validateHPASpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec, field.NewPath("spec"))
		},
		HasStatus: true,
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*autoscalingv2.HorizontalPodAutoscaler).Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
		},
		Generation: true,
		Columns:    hpaColumns,
		Row:        func(obj runtime.Object) []any { return hpaRow(obj.(*autoscalingv2.HorizontalPodAutoscaler)) },
	}
}

func horizontalPodAutoscalersV1() *Kind {
	k := horizontalPodAutoscalersV2()
	k.GVK = autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
	k.New = func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }
	k.NewList = func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} }
	k.Defaults = func(obj runtime.Object) {
		if h := obj.(*autoscalingv1.HorizontalPodAutoscaler); h.Spec.MinReplicas == nil {
			h.Spec.MinReplicas = new(int32(1))
		}
	}
	// Creation and validation are the stored (v2) kind's: the CPU target is
	// reported as spec.metrics[0], as Kubernetes does; annotations that do
	// not decode fail the conversion.
	k.Validate = nil
	k.PrepareForCreate = nil
	k.Row = func(obj runtime.Object) []any {
		v2, err := hpaFromV1(obj.(*autoscalingv1.HorizontalPodAutoscaler))
		if err != nil {
			// Unreadable annotations only cost the extra metrics.
			h := obj.(*autoscalingv1.HorizontalPodAutoscaler).DeepCopy()
			for _, a := range hpaAnnotations {
				delete(h.Annotations, a)
			}
			v2, _ = hpaFromV1(h)
		}
		return hpaRow(v2)
	}
	k.StoredAs = &StoredAs{
		GVK: autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
		ToStorage: func(obj runtime.Object) (runtime.Object, error) {
			v2, err := hpaFromV1(obj.(*autoscalingv1.HorizontalPodAutoscaler))
			if err != nil {
				return nil, err
			}
			// A v1 object without a CPU target reads back, in either
			// version, with the default one.
			defaultHPA(v2)
			return v2, nil
		},
		FromStorage: func(obj runtime.Object) (runtime.Object, error) {
			return hpaToV1(obj.(*autoscalingv2.HorizontalPodAutoscaler))
		},
	}
	return k
}

func defaultHPA(h *autoscalingv2.HorizontalPodAutoscaler) {
	s := &h.Spec
	if s.MinReplicas == nil {
		s.MinReplicas = new(int32(1))
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(defaultCPUUtilization)}
	}
	// Behavior stays absent unless asked for; the controller then uses its
	// own defaults. A given behavior is completed field by field.
	if b := s.Behavior; b != nil {
		b.ScaleUp = completeScalingRules(b.ScaleUp, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(0)),
			SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		})
		// Scale-down stabilization is left to the controller's flag.
		b.ScaleDown = completeScalingRules(b.ScaleDown, autoscalingv2.HPAScalingRules{
			SelectPolicy: new(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		})
	}
}

func completeScalingRules(r *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return &def
	}
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = def.SelectPolicy
	}
	if len(r.Policies) == 0 {
		r.Policies = def.Policies
	}
	return r
}

func cpuUtilizationMetric(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent},
		},
	}
}

func validateHPASpec(s *autoscalingv2.HorizontalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	errs := validateCrossVersionRef(s.ScaleTargetRef, p.Child("scaleTargetRef"))
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *s.MinReplicas, "must be greater than or equal to 1"))
	}
	switch {
	case s.MaxReplicas < 1:
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than 0"))
	case s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas:
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i := range s.Metrics {
		errs = append(errs, validateMetricSpec(&s.Metrics[i], p.Child("metrics").Index(i))...)
	}
	if b := s.Behavior; b != nil {
		bp := p.Child("behavior")
		errs = append(errs, validateScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return errs
}

func validateCrossVersionRef(r autoscalingv2.CrossVersionObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct{ name, value string }{{"kind", r.Kind}, {"name", r.Name}} {
		if f.value == "" {
			errs = append(errs, field.Required(p.Child(f.name), ""))
			continue
		}
		for _, msg := range path.IsValidPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.value, msg))
		}
	}
	return errs
}

func validateMetricSpec(m *autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, isSet := range []bool{m.Object != nil, m.Pods != nil, m.Resource != nil, m.ContainerResource != nil, m.External != nil} {
		if isSet {
			set++
		}
	}
	if set > 1 {
		errs = append(errs, field.Forbidden(p, "must populate the information for only one metric source"))
	}
	valueOrAverage := []autoscalingv2.MetricTargetType{autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType}
	utilizationOrAverage := []autoscalingv2.MetricTargetType{autoscalingv2.UtilizationMetricType, autoscalingv2.AverageValueMetricType}
	missing := func(member string) field.ErrorList {
		return field.ErrorList{field.Required(p.Child(member), "must populate information for the given metric source")}
	}
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object == nil {
			return append(errs, missing("object")...)
		}
		op := p.Child("object")
		errs = append(errs, validateCrossVersionRef(m.Object.DescribedObject, op.Child("describedObject"))...)
		errs = append(errs, validateMetricIdentifier(m.Object.Metric, op.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Object.Target, op.Child("target"), valueOrAverage)...)
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods == nil {
			return append(errs, missing("pods")...)
		}
		pp := p.Child("pods")
		errs = append(errs, validateMetricIdentifier(m.Pods.Metric, pp.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Pods.Target, pp.Child("target"),
			[]autoscalingv2.MetricTargetType{autoscalingv2.AverageValueMetricType})...)
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource == nil {
			return append(errs, missing("resource")...)
		}
		rp := p.Child("resource")
		if m.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		errs = append(errs, validateMetricTarget(m.Resource.Target, rp.Child("target"), utilizationOrAverage)...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource == nil {
			return append(errs, missing("containerResource")...)
		}
		cp := p.Child("containerResource")
		if m.ContainerResource.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "must specify a resource name"))
		}
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(cp.Child("container"), "must specify a container"))
		}
		errs = append(errs, validateMetricTarget(m.ContainerResource.Target, cp.Child("target"), utilizationOrAverage)...)
	case autoscalingv2.ExternalMetricSourceType:
		if m.External == nil {
			return append(errs, missing("external")...)
		}
		ep := p.Child("external")
		errs = append(errs, validateMetricIdentifier(m.External.Metric, ep.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.External.Target, ep.Child("target"), valueOrAverage)...)
	case "":
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), m.Type, []string{
			string(autoscalingv2.ObjectMetricSourceType), string(autoscalingv2.PodsMetricSourceType),
			string(autoscalingv2.ResourceMetricSourceType), string(autoscalingv2.ContainerResourceMetricSourceType),
			string(autoscalingv2.ExternalMetricSourceType)}))
	}
	return errs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "must specify a metric name"))
	} else {
		for _, msg := range path.IsValidPathSegmentName(id.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), id.Name, msg))
		}
	}
	if id.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(id.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	return errs
}

func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path, allowed []autoscalingv2.MetricTargetType) field.ErrorList {
	var errs field.ErrorList
	ok := false
	names := make([]string, len(allowed))
	for i, a := range allowed {
		ok = ok || t.Type == a
		names[i] = string(a)
	}
	if t.Type == "" {
		return append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	}
	if !ok {
		return append(errs, field.NotSupported(p.Child("type"), t.Type, names))
	}
	positive := func(q *resource.Quantity, name string) {
		switch {
		case q == nil:
			errs = append(errs, field.Required(p.Child(name), "must set "+name+" when the target type is "+string(t.Type)))
		case q.Sign() <= 0:
			errs = append(errs, field.Invalid(p.Child(name), q.String(), "must be positive"))
		}
	}
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		u := t.AverageUtilization
		switch {
		case u == nil:
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must set averageUtilization when the target type is Utilization"))
		case *u < 1:
			errs = append(errs, field.Invalid(p.Child("averageUtilization"), *u, "must be greater than 0"))
		}
	case autoscalingv2.ValueMetricType:
		positive(t.Value, "value")
	case autoscalingv2.AverageValueMetricType:
		positive(t.AverageValue, "averageValue")
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		switch {
		case *w < 0:
			errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		case *w > maxStabilizationWindowSeconds:
			errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w,
				fmt.Sprintf("must be less than or equal to %d", maxStabilizationWindowSeconds)))
		}
	}
	if sp := r.SelectPolicy; sp != nil {
		switch *sp {
		case autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect:
		default:
			errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *sp, []string{string(autoscalingv2.MaxChangePolicySelect),
				string(autoscalingv2.MinChangePolicySelect), string(autoscalingv2.DisabledPolicySelect)}))
		}
	}
	pp := p.Child("policies")
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(pp, "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		ip := pp.Index(i)
		switch pol.Type {
		case autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy:
		default:
			errs = append(errs, field.NotSupported(ip.Child("type"), pol.Type, []string{
				string(autoscalingv2.PodsScalingPolicy), string(autoscalingv2.PercentScalingPolicy)}))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero"))
		} else if pol.PeriodSeconds > maxScalingPeriodSeconds {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), pol.PeriodSeconds,
				fmt.Sprintf("must be less than or equal to %d", maxScalingPeriodSeconds)))
		}
	}
	if t := r.Tolerance; t != nil && t.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("tolerance"), t.String(), "must be greater than or equal to zero"))
	}
	return errs
}

func hpaRow(h *autoscalingv2.HorizontalPodAutoscaler) []any {
	var minPods any = "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = int64(*h.Spec.MinReplicas)
	}
	ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
	return []any{h.Name, ref, hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics), minPods,
		int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), age(h)}
}

// hpaTargets renders "current/target" for the first two metrics; statuses
// are matched to specs by position, as the controller reports them.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const shown = 2
	var out []string
	for i, m := range specs {
		if i == shown {
			out[shown-1] += fmt.Sprintf(" + %d more...", len(specs)-shown)
			break
		}
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		out = append(out, hpaTarget(m, st))
	}
	return strings.Join(out, ", ")
}

func hpaTarget(m autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	q := func(v *resource.Quantity) string {
		if v == nil {
			return unknown
		}
		return v.String()
	}
	// valueOrAverage renders Value and AverageValue targets alike.
	valueOrAverage := func(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
		if t.AverageValue != nil {
			c := unknown
			if cur != nil {
				c = q(cur.AverageValue)
			}
			return c + "/" + t.AverageValue.String() + " (avg)"
		}
		c := unknown
		if cur != nil {
			c = q(cur.Value)
		}
		return c + "/" + q(t.Value)
	}
	resourceTarget := func(name corev1.ResourceName, t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
		c, target := unknown, "<auto>"
		if t.AverageValue != nil {
			target = t.AverageValue.String()
			if cur != nil && cur.AverageValue != nil {
				c = cur.AverageValue.String()
			}
		} else {
			if t.AverageUtilization != nil {
				target = fmt.Sprintf("%d%%", *t.AverageUtilization)
			}
			if cur != nil && cur.AverageUtilization != nil {
				c = fmt.Sprintf("%d%%", *cur.AverageUtilization)
			}
		}
		return fmt.Sprintf("%s: %s/%s", name, c, target)
	}
	switch {
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.External != nil {
			cur = &st.External.Current
		}
		return valueOrAverage(m.External.Target, cur)
	case m.Type == autoscalingv2.ObjectMetricSourceType && m.Object != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Object != nil {
			cur = &st.Object.Current
		}
		return valueOrAverage(m.Object.Target, cur)
	case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
		c := unknown
		if st != nil && st.Pods != nil {
			c = q(st.Pods.Current.AverageValue)
		}
		return c + "/" + q(m.Pods.Target.AverageValue)
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return resourceTarget(m.Resource.Name, m.Resource.Target, cur)
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return resourceTarget(m.ContainerResource.Name, m.ContainerResource.Target, cur)
	}
	return "<unknown type>"
}

// hpaFromV1 converts to the stored form, unpacking the annotations.
func hpaFromV1(in *autoscalingv1.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	out := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
	}
	ann := in.Annotations
	for _, key := range hpaAnnotations {
		delete(out.Annotations, key)
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	decode := func(key string, into any) error {
		v, ok := ann[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal([]byte(v), into); err != nil {
			return fmt.Errorf("annotation %s: %w", key, err)
		}
		return nil
	}

	s := &in.Spec
	out.Spec = autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference(s.ScaleTargetRef),
		MinReplicas:    cloneInt32(s.MinReplicas),
		MaxReplicas:    s.MaxReplicas,
	}
	var metrics []autoscalingv1.MetricSpec
	if err := decode(hpaMetricsAnnotation, &metrics); err != nil {
		return nil, err
	}
	for _, m := range metrics {
		out.Spec.Metrics = append(out.Spec.Metrics, metricSpecFromV1(m))
	}
	// The field wins over a copy of the CPU target kept in the annotation.
	cpu := slices.IndexFunc(out.Spec.Metrics, isCPUTarget)
	switch target := s.TargetCPUUtilizationPercentage; {
	case cpu >= 0 && target != nil:
		out.Spec.Metrics[cpu].Resource.Target.AverageUtilization = new(*target)
	case cpu >= 0:
		out.Spec.Metrics = slices.Delete(out.Spec.Metrics, cpu, cpu+1)
	case target != nil:
		out.Spec.Metrics = slices.Insert(out.Spec.Metrics, 0, cpuUtilizationMetric(*target))
	}
	if _, ok := ann[hpaBehaviorAnnotation]; ok {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if err := decode(hpaBehaviorAnnotation, out.Spec.Behavior); err != nil {
			return nil, err
		}
	}

	st := &in.Status
	out.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: cloneInt64(st.ObservedGeneration),
		LastScaleTime:      st.LastScaleTime.DeepCopy(),
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	var current []autoscalingv1.MetricStatus
	if err := decode(hpaCurrentMetricsAnnotation, &current); err != nil {
		return nil, err
	}
	for _, m := range current {
		out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, metricStatusFromV1(m))
	}
	cpu = slices.IndexFunc(out.Status.CurrentMetrics, isCPUStatus)
	switch c := st.CurrentCPUUtilizationPercentage; {
	case cpu >= 0 && c != nil:
		out.Status.CurrentMetrics[cpu].Resource.Current.AverageUtilization = new(*c)
	case cpu >= 0:
		out.Status.CurrentMetrics = slices.Delete(out.Status.CurrentMetrics, cpu, cpu+1)
	case c != nil:
		out.Status.CurrentMetrics = slices.Insert(out.Status.CurrentMetrics, 0, autoscalingv2.MetricStatus{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(*c)},
			},
		})
	}
	var conds []autoscalingv1.HorizontalPodAutoscalerCondition
	if err := decode(hpaConditionsAnnotation, &conds); err != nil {
		return nil, err
	}
	for _, c := range conds {
		out.Status.Conditions = append(out.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
			Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
			ObservedGeneration: cloneInt64(c.ObservedGeneration),
		})
	}
	return out, nil
}

// hpaToV1 converts from the stored form. The first CPU utilization target
// becomes targetCPUUtilizationPercentage and the first CPU utilization
// reading currentCPUUtilizationPercentage; everything else goes into the
// annotations, which also keep a copy of those two entries when the field
// alone would lose their position or other values.
func hpaToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	out := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
	}
	s := &in.Spec
	out.Spec = autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference(s.ScaleTargetRef),
		MinReplicas:    cloneInt32(s.MinReplicas),
		MaxReplicas:    s.MaxReplicas,
	}
	var metrics []autoscalingv1.MetricSpec
	for i, m := range s.Metrics {
		if out.Spec.TargetCPUUtilizationPercentage == nil && isCPUTarget(m) {
			out.Spec.TargetCPUUtilizationPercentage = new(*m.Resource.Target.AverageUtilization)
			// Only a leading target is rebuilt from the field alone;
			// elsewhere a copy keeps its place in the list.
			if i == 0 {
				continue
			}
		}
		metrics = append(metrics, metricSpecToV1(m))
	}

	st := &in.Status
	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{
		ObservedGeneration: cloneInt64(st.ObservedGeneration),
		LastScaleTime:      st.LastScaleTime.DeepCopy(),
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	var current []autoscalingv1.MetricStatus
	for i, m := range st.CurrentMetrics {
		if out.Status.CurrentCPUUtilizationPercentage == nil && isCPUStatus(m) {
			out.Status.CurrentCPUUtilizationPercentage = new(*m.Resource.Current.AverageUtilization)
			// The controller also reports the average value, which the
			// field cannot hold.
			if i == 0 && m.Resource.Current.AverageValue == nil {
				continue
			}
		}
		current = append(current, metricStatusToV1(m))
	}
	var conds []autoscalingv1.HorizontalPodAutoscalerCondition
	for _, c := range st.Conditions {
		conds = append(conds, autoscalingv1.HorizontalPodAutoscalerCondition{
			Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
			ObservedGeneration: cloneInt64(c.ObservedGeneration),
		})
	}

	encode := func(key string, v any, present bool) error {
		if !present {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("annotation %s: %w", key, err)
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(b)
		return nil
	}
	for _, e := range []struct {
		key     string
		v       any
		present bool
	}{
		{hpaMetricsAnnotation, metrics, len(metrics) > 0},
		{hpaCurrentMetricsAnnotation, current, len(current) > 0},
		{hpaConditionsAnnotation, conds, len(conds) > 0},
		{hpaBehaviorAnnotation, s.Behavior, s.Behavior != nil},
	} {
		if err := encode(e.key, e.v, e.present); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isCPUTarget(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
		m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
}

func isCPUStatus(m autoscalingv2.MetricStatus) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
		m.Resource.Current.AverageUtilization != nil
}

func metricSpecToV1(m autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(m.Type)}
	if o := m.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricSource{
			Target:     autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName: o.Metric.Name, Selector: o.Metric.Selector,
			TargetValue: quantityOrZero(o.Target.Value), AverageValue: o.Target.AverageValue,
		}
	}
	if p := m.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricSource{
			MetricName: p.Metric.Name, Selector: p.Metric.Selector,
			TargetAverageValue: quantityOrZero(p.Target.AverageValue),
		}
	}
	if r := m.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{
			Name: r.Name, TargetAverageUtilization: r.Target.AverageUtilization, TargetAverageValue: r.Target.AverageValue,
		}
	}
	if r := m.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container,
			TargetAverageUtilization: r.Target.AverageUtilization, TargetAverageValue: r.Target.AverageValue,
		}
	}
	if e := m.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricSource{
			MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector,
			TargetValue: e.Target.Value, TargetAverageValue: e.Target.AverageValue,
		}
	}
	return out
}

// metricSpecFromV1 infers each target's type from which value v1 carries.
func metricSpecFromV1(m autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(m.Type)}
	if o := m.Object; o != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: nonZero(o.TargetValue)}
		if o.AverageValue != nil {
			t.Type, t.AverageValue = autoscalingv2.AverageValueMetricType, o.AverageValue
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector},
			Target:          t,
		}
	}
	if p := m.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: nonZero(p.TargetAverageValue)},
		}
	}
	resourceTarget := func(util *int32, avg *resource.Quantity) autoscalingv2.MetricTarget {
		if util != nil {
			return autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: util, AverageValue: avg}
		}
		return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: avg}
	}
	if r := m.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{Name: r.Name, Target: resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue)}
	}
	if r := m.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container, Target: resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue)}
	}
	if e := m.External; e != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: e.TargetValue}
		if e.TargetAverageValue != nil {
			t.Type, t.AverageValue = autoscalingv2.AverageValueMetricType, e.TargetAverageValue
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Target: t,
		}
	}
	return out
}

func metricStatusToV1(m autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(m.Type)}
	if o := m.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricStatus{
			Target:     autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName: o.Metric.Name, Selector: o.Metric.Selector,
			CurrentValue: quantityOrZero(o.Current.Value), AverageValue: o.Current.AverageValue,
		}
	}
	if p := m.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricStatus{
			MetricName: p.Metric.Name, Selector: p.Metric.Selector,
			CurrentAverageValue: quantityOrZero(p.Current.AverageValue),
		}
	}
	if r := m.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricStatus{
			Name: r.Name, CurrentAverageUtilization: r.Current.AverageUtilization,
			CurrentAverageValue: quantityOrZero(r.Current.AverageValue),
		}
	}
	if r := m.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricStatus{
			Name: r.Name, Container: r.Container, CurrentAverageUtilization: r.Current.AverageUtilization,
			CurrentAverageValue: quantityOrZero(r.Current.AverageValue),
		}
	}
	if e := m.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricStatus{
			MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector,
			CurrentValue: quantityOrZero(e.Current.Value), CurrentAverageValue: e.Current.AverageValue,
		}
	}
	return out
}

func metricStatusFromV1(m autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(m.Type)}
	if o := m.Object; o != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector},
			Current:         autoscalingv2.MetricValueStatus{Value: nonZero(o.CurrentValue), AverageValue: o.AverageValue},
		}
	}
	if p := m.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: nonZero(p.CurrentAverageValue)},
		}
	}
	if r := m.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name:    r.Name,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: r.CurrentAverageUtilization, AverageValue: nonZero(r.CurrentAverageValue)},
		}
	}
	if r := m.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name: r.Name, Container: r.Container,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: r.CurrentAverageUtilization, AverageValue: nonZero(r.CurrentAverageValue)},
		}
	}
	if e := m.External; e != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: nonZero(e.CurrentValue), AverageValue: e.CurrentAverageValue},
		}
	}
	return out
}

// v1 requires some quantities that v2 makes optional; zero stands for unset.
func quantityOrZero(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return q.DeepCopy()
}

func nonZero(q resource.Quantity) *resource.Quantity {
	if q.IsZero() {
		return nil
	}
	return new(q.DeepCopy())
}

func cloneInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	return new(*p)
}

func cloneInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	return new(*p)
}
