package apiserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// admitRBAC refuses a Role, ClusterRole or binding that would give
// someone rights its author does not hold, as Kubernetes' RBAC does: a
// namespace admin may hand out what they have, not cluster-admin. Authors
// allowed to escalate (roles) or bind (the bound role) are exempt, and so
// is system:masters, and an update (old set) that leaves the rules, or
// the binding's role and subjects, as they were. Other objects pass.
func (s *Server) admitRBAC(ctx context.Context, obj, old runtime.Object) error {
	if s.cfg.RuleResolver == nil || s.cfg.Authorizer == nil || grantsUnchanged(obj, old) {
		return nil
	}
	u := userFrom(ctx)
	if u == nil || slices.Contains(u.Groups, user.SystemPrivilegedGroup) {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		if s.may(ctx, u, "escalate", "roles", o.Namespace, o.Name) {
			return nil
		}
		return s.mayGrant(ctx, u, o.Namespace, o.Rules, rbacv1.Resource("roles"), o.Name)
	case *rbacv1.ClusterRole:
		if s.may(ctx, u, "escalate", "clusterroles", "", o.Name) {
			return nil
		}
		if o.AggregationRule != nil {
			return apierrors.NewForbidden(rbacv1.Resource("clusterroles"), o.Name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
		return s.mayGrant(ctx, u, "", o.Rules, rbacv1.Resource("clusterroles"), o.Name)
	case *rbacv1.RoleBinding:
		return s.mayBind(ctx, u, o.Namespace, o.RoleRef, rbacv1.Resource("rolebindings"), o.Name)
	case *rbacv1.ClusterRoleBinding:
		return s.mayBind(ctx, u, "", o.RoleRef, rbacv1.Resource("clusterrolebindings"), o.Name)
	}
	return nil
}

// may asks the authorizer whether u may do verb on an RBAC resource.
func (s *Server) may(ctx context.Context, u *user.Info, verb, resource, namespace, name string) bool {
	d, _, _ := s.cfg.Authorizer.Authorize(ctx, authorizer.Attributes{
		User: *u, Verb: verb, ResourceRequest: true,
		APIGroup: rbacv1.GroupName, APIVersion: "v1", Resource: resource, Namespace: namespace, Name: name,
	})
	return d == authorizer.Allow
}

// mayBind lets u bind ref in namespace ("" for a cluster binding) when u
// may bind that role or already holds all of its rules there.
func (s *Server) mayBind(ctx context.Context, u *user.Info, namespace string, ref rbacv1.RoleRef, gr schema.GroupResource, name string) error {
	roleNS, resource := "", "clusterroles"
	if ref.Kind == "Role" {
		roleNS, resource = namespace, "roles"
	}
	if s.may(ctx, u, "bind", resource, roleNS, ref.Name) {
		return nil
	}
	rules, err := s.roleRules(ctx, roleNS, ref)
	if err != nil {
		return err
	}
	return s.mayGrant(ctx, u, namespace, rules, gr, name)
}

// roleRules reads the rules of the role ref names.
func (s *Server) roleRules(ctx context.Context, namespace string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, error) {
	kind := rbacv1.SchemeGroupVersion.WithKind(ref.Kind)
	rs := s.byGVK[kind]
	if rs == nil || ref.APIGroup != rbacv1.GroupName {
		return nil, errBadRequest("roleRef: unsupported kind %q in API group %q", ref.Kind, ref.APIGroup)
	}
	obj, _, err := rs.get(ctx, s.store, namespace, ref.Name)
	if err != nil {
		return nil, err
	}
	switch r := obj.(type) {
	case *rbacv1.Role:
		return r.Rules, nil
	case *rbacv1.ClusterRole:
		return r.Rules, nil
	}
	return nil, fmt.Errorf("roleRef %s/%s: unexpected %T", ref.Kind, ref.Name, obj)
}

// mayGrant refuses rules u does not hold in namespace.
func (s *Server) mayGrant(ctx context.Context, u *user.Info, namespace string, rules []rbacv1.PolicyRule, gr schema.GroupResource, name string) error {
	owned, _, _, err := s.cfg.RuleResolver.RulesFor(ctx, *u, namespace)
	if err != nil {
		s.log.Debug("resolving the rules of a user granting RBAC permissions", "user", u.Name, "err", err)
	}
	missing := rbac.Uncovered(owned, rules)
	if len(missing) == 0 {
		return nil
	}
	lines := make([]string, len(missing))
	for i, r := range missing {
		lines[i] = compactRule(r)
	}
	return apierrors.NewForbidden(gr, name, fmt.Errorf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.Name, u.Groups, strings.Join(lines, "\n")))
}

// compactRule prints a rule the way Kubernetes' escalation errors do.
func compactRule(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) == 0 {
			return
		}
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		parts = append(parts, name+":["+strings.Join(q, " ")+"]")
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("ResourceNames", r.ResourceNames)
	add("NonResourceURLs", r.NonResourceURLs)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}

// grantsUnchanged reports whether an update keeps what obj grants.
func grantsUnchanged(obj, old runtime.Object) bool {
	if old == nil {
		return false
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		p, ok := old.(*rbacv1.Role)
		return ok && equality.Semantic.DeepEqual(o.Rules, p.Rules)
	case *rbacv1.ClusterRole:
		p, ok := old.(*rbacv1.ClusterRole)
		return ok && equality.Semantic.DeepEqual(o.Rules, p.Rules) && equality.Semantic.DeepEqual(o.AggregationRule, p.AggregationRule)
	case *rbacv1.RoleBinding:
		p, ok := old.(*rbacv1.RoleBinding)
		return ok && o.RoleRef == p.RoleRef && equality.Semantic.DeepEqual(o.Subjects, p.Subjects)
	case *rbacv1.ClusterRoleBinding:
		p, ok := old.(*rbacv1.ClusterRoleBinding)
		return ok && o.RoleRef == p.RoleRef && equality.Semantic.DeepEqual(o.Subjects, p.Subjects)
	}
	return true
}
