package registry

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC names are path segments, not DNS names: "system:controller:foo" is a
// valid ClusterRole.
func rbacNameRule(name string, prefix bool) []string {
	return path.ValidatePathSegmentName(name, prefix)
}

// rbacRoleColumns is the table of Roles and ClusterRoles, which show a
// timestamp rather than an age.
var rbacRoleColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Created At", "date", "Time the role was created."),
}

func createdAt(obj runtime.Object) []any {
	m := obj.(metav1.Object)
	return []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
}

func roles() *Kind {
	return &Kind{
		GVK:        rbacv1.SchemeGroupVersion.WithKind("Role"),
		Resource:   "roles",
		Singular:   "role",
		Namespaced: true,
		New:        func() runtime.Object { return &rbacv1.Role{} },
		NewList:    func() runtime.Object { return &rbacv1.RoleList{} },
		NameRule:   rbacNameRule,
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validatePolicyRules(obj.(*rbacv1.Role).Rules, true)
		},
		Columns: rbacRoleColumns,
		Row:     createdAt,
	}
}

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i := range rules {
		errs = append(errs, validatePolicyRule(&rules[i], namespaced, field.NewPath("rules").Index(i))...)
	}
	return errs
}

// validatePolicyRule: a rule grants verbs either on API resources or, in
// cluster roles only, on non-resource URLs such as /healthz.
func validatePolicyRule(r *rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(r.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}
