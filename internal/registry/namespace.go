package registry

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func namespaces() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Namespace"),
		Resource:   "namespaces",
		Singular:   "namespace",
		ShortNames: []string{"ns"},
		New:        func() runtime.Object { return &corev1.Namespace{} },
		NewList:    func() runtime.Object { return &corev1.NamespaceList{} },
		NameRule:   apivalidation.NameIsDNSLabel,
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			// The namespace controller removes this finalizer once the
			// namespace's content is gone; it is required at birth only.
			if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			// Finalizers change only through /finalize.
			obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
		},
		Defaults: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			if ns.Name != "" {
				if ns.Labels == nil {
					ns.Labels = map[string]string{}
				}
				ns.Labels[corev1.LabelMetadataName] = ns.Name
			}
			if ns.Status.Phase == "" {
				ns.Status.Phase = corev1.NamespaceActive
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			ns := obj.(*corev1.Namespace)
			var errs field.ErrorList
			for i, f := range ns.Spec.Finalizers {
				errs = append(errs, validateNamespaceFinalizer(string(f), field.NewPath("spec", "finalizers").Index(i))...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "The status of the namespace."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			ns := obj.(*corev1.Namespace)
			return []any{ns.Name, string(ns.Status.Phase), age(obj)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
		},
	}
}

// validateNamespaceFinalizer accepts "kubernetes" and domain-qualified names.
func validateNamespaceFinalizer(f string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(f) {
		errs = append(errs, field.Invalid(p, f, msg))
	}
	if len(errs) == 0 && f != string(corev1.FinalizerKubernetes) && !strings.Contains(f, "/") {
		errs = append(errs, field.Invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}
