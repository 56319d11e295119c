package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func deployments() *Kind {
	return &Kind{
		GVK:        appsv1.SchemeGroupVersion.WithKind("Deployment"),
		Resource:   "deployments",
		Singular:   "deployment",
		ShortNames: []string{"deploy"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.Deployment{} },
		NewList:    func() runtime.Object { return &appsv1.DeploymentList{} },
		Defaults:   func(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			d := obj.(*appsv1.Deployment)
			errs := validateDeploymentSpec(&d.Spec)
			if o, ok := old.(*appsv1.Deployment); ok {
				errs = append(errs, immutableField(d.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
			}
			return errs
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} },
		Generation:       true,
		Scale: &ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				d := obj.(*appsv1.Deployment)
				return replicasOr1(d.Spec.Replicas), d.Status.Replicas, selectorString(d.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Ready", "string", "Number of ready pods out of the desired replicas."),
			col("Up-to-date", "integer", "Number of pods running the latest template."),
			col("Available", "integer", "Number of available pods."),
			ageColumn,
			containersColumn, imagesColumn, selectorColumn,
		},
		Row: func(obj runtime.Object) []any {
			d := obj.(*appsv1.Deployment)
			names, images := templateContainers(&d.Spec.Template.Spec)
			return []any{d.Name, ratio(d.Status.ReadyReplicas, replicasOr1(d.Spec.Replicas)),
				int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(obj),
				names, images, selectorString(d.Spec.Selector)}
		},
	}
}

func defaultDeployment(d *appsv1.Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = new(int32(1))
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = new(intstr.FromString("25%"))
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = new(intstr.FromString("25%"))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = new(int32(10))
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = new(int32(600))
	}
	defaultPodTemplateSpec(&s.Template)
}

func validateDeploymentSpec(s *appsv1.DeploymentSpec) field.ErrorList {
	spec := field.NewPath("spec")
	errs := nonNegative32(s.Replicas, spec.Child("replicas"))
	errs = append(errs, validateTemplateSelector(s.Selector, s.Template.Labels, spec)...)
	errs = append(errs, validateAppsTemplate(&s.Template, spec.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&s.Strategy, spec.Child("strategy"))...)
	errs = append(errs, nonNegative32(&s.MinReadySeconds, spec.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative32(s.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if p := s.ProgressDeadlineSeconds; p != nil {
		errs = append(errs, nonNegative32(p, spec.Child("progressDeadlineSeconds"))...)
		if *p <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		errs = append(errs, validateRollingUpdate(s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge, p.Child("rollingUpdate"))...)
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []string{
			string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}))
	}
	return errs
}

// validateRollingUpdate checks the surge/unavailable pair of deployments and
// daemon sets: both valid, unavailable at most 100%, and not both zero.
func validateRollingUpdate(maxUnavailable, maxSurge *intstr.IntOrString, p *field.Path) field.ErrorList {
	errs := validateIntOrPercent(maxUnavailable, p.Child("maxUnavailable"), true)
	errs = append(errs, validateIntOrPercent(maxSurge, p.Child("maxSurge"), false)...)
	if len(errs) == 0 && isZeroIntOrPercent(maxUnavailable) && isZeroIntOrPercent(maxSurge) {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), intstrText(maxUnavailable), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

func intstrText(v *intstr.IntOrString) string {
	if v == nil {
		return ""
	}
	return v.String()
}
