package registry

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func clusterRoleBindings() *Kind {
	return &Kind{
		GVK:      rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
		Resource: "clusterrolebindings",
		Singular: "clusterrolebinding",
		New:      func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		NewList:  func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		NameRule: rbacNameRule,
		Defaults: func(obj runtime.Object) {
			crb := obj.(*rbacv1.ClusterRoleBinding)
			defaultBinding(&crb.RoleRef, crb.Subjects)
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			crb := obj.(*rbacv1.ClusterRoleBinding)
			var oldRef *rbacv1.RoleRef
			if o, ok := old.(*rbacv1.ClusterRoleBinding); ok {
				oldRef = &o.RoleRef
			}
			return validateBinding(crb.RoleRef, oldRef, crb.Subjects, false)
		},
		Columns: bindingColumns,
		Row: func(obj runtime.Object) []any {
			crb := obj.(*rbacv1.ClusterRoleBinding)
			return bindingRow(obj, crb.RoleRef, crb.Subjects)
		},
	}
}
