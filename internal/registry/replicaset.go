package registry

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func replicaSets() *Kind {
	return &Kind{
		GVK:        appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
		Resource:   "replicasets",
		Singular:   "replicaset",
		ShortNames: []string{"rs"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:    func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Defaults: func(obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas == nil {
				rs.Spec.Replicas = new(int32(1))
			}
			defaultPodTemplateSpec(&rs.Spec.Template)
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			rs := obj.(*appsv1.ReplicaSet)
			spec := field.NewPath("spec")
			errs := nonNegative32(rs.Spec.Replicas, spec.Child("replicas"))
			errs = append(errs, nonNegative32(&rs.Spec.MinReadySeconds, spec.Child("minReadySeconds"))...)
			errs = append(errs, validateTemplateSelector(rs.Spec.Selector, rs.Spec.Template.Labels, spec)...)
			errs = append(errs, validateAppsTemplate(&rs.Spec.Template, spec.Child("template"))...)
			if o, ok := old.(*appsv1.ReplicaSet); ok {
				errs = append(errs, immutableField(rs.Spec.Selector, o.Spec.Selector, spec.Child("selector"))...)
			}
			return errs
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} },
		Generation:       true,
		Scale: &ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				rs := obj.(*appsv1.ReplicaSet)
				return replicasOr1(rs.Spec.Replicas), rs.Status.Replicas, selectorString(rs.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Desired", "integer", "Number of desired pods."),
			col("Current", "integer", "Number of pods created."),
			col("Ready", "integer", "Number of ready pods."),
			ageColumn,
			containersColumn, imagesColumn, selectorColumn,
		},
		Row: func(obj runtime.Object) []any {
			rs := obj.(*appsv1.ReplicaSet)
			names, images := templateContainers(&rs.Spec.Template.Spec)
			return []any{rs.Name, int64(replicasOr1(rs.Spec.Replicas)), int64(rs.Status.Replicas),
				int64(rs.Status.ReadyReplicas), age(obj), names, images, selectorString(rs.Spec.Selector)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*appsv1.ReplicaSet).Status.Replicas))}
		},
	}
}
