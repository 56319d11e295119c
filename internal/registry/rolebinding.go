package registry

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func roleBindings() *Kind {
	return &Kind{
		GVK:        rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
		Resource:   "rolebindings",
		Singular:   "rolebinding",
		Namespaced: true,
		New:        func() runtime.Object { return &rbacv1.RoleBinding{} },
		NewList:    func() runtime.Object { return &rbacv1.RoleBindingList{} },
		NameRule:   rbacNameRule,
		Defaults: func(obj runtime.Object) {
			rb := obj.(*rbacv1.RoleBinding)
			defaultBinding(&rb.RoleRef, rb.Subjects)
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			rb := obj.(*rbacv1.RoleBinding)
			var oldRef *rbacv1.RoleRef
			if o, ok := old.(*rbacv1.RoleBinding); ok {
				oldRef = &o.RoleRef
			}
			return validateBinding(rb.RoleRef, oldRef, rb.Subjects, true)
		},
		Columns: bindingColumns,
		Row: func(obj runtime.Object) []any {
			rb := obj.(*rbacv1.RoleBinding)
			return bindingRow(obj, rb.RoleRef, rb.Subjects)
		},
	}
}

var bindingColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Role", "string", "The role granted."),
	ageColumn,
	wideCol("Users", "string", "Users granted the role."),
	wideCol("Groups", "string", "Groups granted the role."),
	wideCol("ServiceAccounts", "string", "Service accounts granted the role."),
}

func bindingRow(obj runtime.Object, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{name(obj), ref.Kind + "/" + ref.Name, age(obj),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}

// defaultBinding fills in the API group that a role reference and user and
// group subjects can only have; service accounts are in the core group.
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// validateBinding checks a role binding (namespaced) or cluster role
// binding. oldRef is nil on create; the role of a binding never changes,
// as that would silently regrant its subjects.
func validateBinding(ref rbacv1.RoleRef, oldRef *rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	okKind := false
	for _, k := range kinds {
		okKind = okKind || ref.Kind == k
	}
	if !okKind {
		errs = append(errs, field.NotSupported(rp.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else {
		for _, msg := range path.ValidatePathSegmentName(ref.Name, false) {
			errs = append(errs, field.Invalid(rp.Child("name"), ref.Name, msg))
		}
	}
	if oldRef != nil && *oldRef != ref {
		errs = append(errs, field.Invalid(rp, ref, "cannot change roleRef"))
	}
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

func validateSubject(s rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range validation.IsDNS1123Subdomain(s.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A role binding's service accounts default to its own namespace;
		// a cluster role binding has none to offer.
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind,
			[]string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}
