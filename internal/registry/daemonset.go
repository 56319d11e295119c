package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func daemonSets() *Kind {
	return &Kind{
		GVK:        appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
		Resource:   "daemonsets",
		Singular:   "daemonset",
		ShortNames: []string{"ds"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList:    func() runtime.Object { return &appsv1.DaemonSetList{} },
		Defaults:   func(obj runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			ds := obj.(*appsv1.DaemonSet)
			spec := field.NewPath("spec")
			errs := validateTemplateSelector(ds.Spec.Selector, ds.Spec.Template.Labels, spec)
			errs = append(errs, validateAppsTemplate(&ds.Spec.Template, spec.Child("template"))...)
			errs = append(errs, nonNegative32(&ds.Spec.MinReadySeconds, spec.Child("minReadySeconds"))...)
			errs = append(errs, nonNegative32(ds.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
			errs = append(errs, validateDaemonSetStrategy(&ds.Spec.UpdateStrategy, spec.Child("updateStrategy"))...)
			if o, ok := old.(*appsv1.DaemonSet); ok {
				errs = append(errs, immutableField(ds.Spec.Selector, o.Spec.Selector, spec.Child("selector"))...)
			}
			return errs
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{} },
		Generation:       true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Desired", "integer", "Number of nodes that should run the daemon pod."),
			col("Current", "integer", "Number of nodes running at least one daemon pod."),
			col("Ready", "integer", "Number of nodes with a ready daemon pod."),
			col("Up-to-date", "integer", "Number of nodes running the latest template."),
			col("Available", "integer", "Number of nodes with an available daemon pod."),
			col("Node Selector", "string", "Node selector of the pod template."),
			ageColumn,
			containersColumn, imagesColumn, selectorColumn,
		},
		Row: func(obj runtime.Object) []any {
			ds := obj.(*appsv1.DaemonSet)
			st := &ds.Status
			names, images := templateContainers(&ds.Spec.Template.Spec)
			return []any{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled),
				int64(st.NumberReady), int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
				labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), age(obj),
				names, images, selectorString(ds.Spec.Selector)}
		},
	}
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	us := &ds.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			us.RollingUpdate.MaxUnavailable = new(intstr.FromInt32(1))
		}
		if us.RollingUpdate.MaxSurge == nil {
			us.RollingUpdate.MaxSurge = new(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = new(int32(10))
	}
	defaultPodTemplateSpec(&ds.Spec.Template)
}

func validateDaemonSetStrategy(s *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdate(s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge, p.Child("rollingUpdate"))
	}
	return field.ErrorList{field.NotSupported(p.Child("type"), s.Type, []string{
		string(appsv1.OnDeleteDaemonSetStrategyType), string(appsv1.RollingUpdateDaemonSetStrategyType)})}
}
