// Package rbac owns role-based access control as Kubernetes defines it:
// the authorizer that grants a request when a Role or ClusterRole bound to
// the user (by name, group or service account) has a rule matching it, the
// rule listing behind SelfSubjectRulesReview, and the default policy
// (cluster-admin, admin, edit, view and the roles bosun's own components
// run with). RBAC only allows; it never denies, so a request no rule grants
// gets no opinion and the chain's end refuses it.
package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Authorizer decides on requests from the RBAC objects in its listers.
type Authorizer struct {
	roles        rbaclisters.RoleLister
	clusterRoles rbaclisters.ClusterRoleLister
	bindings     bindingSource
}

var (
	_ authorizer.Authorizer   = (*Authorizer)(nil)
	_ authorizer.RuleResolver = (*Authorizer)(nil)
)

// New returns an authorizer reading the four listers on every decision.
// It looks at every ClusterRoleBinding and every RoleBinding of the
// request's namespace, which is right but grows with their number;
// NewFromInformers finds a user's bindings through an index instead.
func New(roles rbaclisters.RoleLister, roleBindings rbaclisters.RoleBindingLister, clusterRoles rbaclisters.ClusterRoleLister, clusterRoleBindings rbaclisters.ClusterRoleBindingLister) *Authorizer {
	return &Authorizer{roles: roles, clusterRoles: clusterRoles, bindings: listerBindings{roleBindings, clusterRoleBindings}}
}

// NewFromInformers returns an authorizer over f's RBAC informers, adding
// to the binding informers an index by subject so a decision only reads
// the bindings naming the user or one of their groups. The caller starts
// f and waits for its caches. If an index cannot be added, the authorizer
// reads every binding instead, as New's does: slower, equally right.
func NewFromInformers(f informers.SharedInformerFactory) *Authorizer {
	rbac := f.Rbac().V1()
	rbInf, crbInf := rbac.RoleBindings().Informer(), rbac.ClusterRoleBindings().Informer()
	a := New(rbac.Roles().Lister(), rbac.RoleBindings().Lister(), rbac.ClusterRoles().Lister(), rbac.ClusterRoleBindings().Lister())
	if addIndexers(rbInf, bindingIndexers) == nil && addIndexers(crbInf, bindingIndexers) == nil {
		a.bindings = indexedBindings{rbs: rbInf.GetIndexer(), crbs: crbInf.GetIndexer()}
	}
	return a
}

// addIndexers adds idx unless an earlier authorizer on the same informer
// already did.
func addIndexers(inf cache.SharedIndexInformer, idx cache.Indexers) error {
	have := inf.GetIndexer().GetIndexers()
	missing := cache.Indexers{}
	for name, fn := range idx {
		if _, ok := have[name]; !ok {
			missing[name] = fn
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return inf.AddIndexers(missing)
}

// Authorize allows a when a rule of a role bound to its user matches.
// Bindings whose role cannot be found are skipped; if nothing allows,
// the reason lists them. The error is always nil.
func (z *Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	var (
		allowedBy binding
		errs      []error
	)
	z.visit(&a.User, requestNamespace(&a), func(b binding, rules []rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		for i := range rules {
			if RuleAllows(&a, &rules[i]) {
				allowedBy = b
				return false
			}
		}
		return true
	})
	if allowedBy.kind != "" {
		return authorizer.Allow, "RBAC: allowed by " + allowedBy.String(), nil
	}
	if len(errs) > 0 {
		return authorizer.NoOpinion, "RBAC: " + errors.Join(errs...).Error(), nil
	}
	return authorizer.NoOpinion, "", nil
}

// requestNamespace is the namespace whose RoleBindings apply to a. A
// request for a path is never namespaced, so a RoleBinding can not grant
// one even if its ClusterRole lists non-resource URLs.
func requestNamespace(a *authorizer.Attributes) string {
	if !a.ResourceRequest {
		return ""
	}
	return a.Namespace
}

// RulesFor lists the rules u holds in namespace: those of its
// ClusterRoleBindings and of its RoleBindings there. Non-resource rules
// come only from ClusterRoleBindings, the only place they take effect.
func (z *Authorizer) RulesFor(_ context.Context, u user.Info, namespace string) (resourceRules, nonResourceRules []rbacv1.PolicyRule, incomplete bool, err error) {
	var errs []error
	z.visit(&u, namespace, func(b binding, rules []rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		for _, r := range rules {
			if len(r.Resources) > 0 {
				rr := r
				rr.NonResourceURLs = nil
				resourceRules = append(resourceRules, rr)
			}
			if len(r.NonResourceURLs) > 0 && b.kind == "ClusterRoleBinding" {
				nr := r
				nr.APIGroups, nr.Resources, nr.ResourceNames = nil, nil, nil
				nonResourceRules = append(nonResourceRules, nr)
			}
		}
		return true
	})
	return resourceRules, nonResourceRules, len(errs) > 0, errors.Join(errs...)
}

// visit calls fn with the rules of each role bound to u that applies in
// namespace (cluster-wide bindings first, then namespace's RoleBindings),
// or with the error resolving one, until fn returns false.
func (z *Authorizer) visit(u *user.Info, namespace string, fn func(b binding, rules []rbacv1.PolicyRule, err error) bool) {
	crbs, err := z.bindings.clusterRoleBindings(u)
	if err != nil && !fn(binding{}, nil, fmt.Errorf("listing cluster role bindings: %w", err)) {
		return
	}
	for _, crb := range crbs {
		i, ok := appliesTo(u, crb.Subjects, "")
		if !ok {
			continue
		}
		b := binding{kind: "ClusterRoleBinding", name: crb.Name, roleRef: &crb.RoleRef, subject: &crb.Subjects[i]}
		rules, err := z.clusterRoleRules(&crb.RoleRef)
		if err != nil {
			err = fmt.Errorf("%s: %w", b.String(), err)
		}
		if !fn(b, rules, err) {
			return
		}
	}
	if namespace == "" {
		return
	}
	rbs, err := z.bindings.roleBindings(u, namespace)
	if err != nil && !fn(binding{}, nil, fmt.Errorf("listing role bindings in namespace %q: %w", namespace, err)) {
		return
	}
	for _, rb := range rbs {
		i, ok := appliesTo(u, rb.Subjects, rb.Namespace)
		if !ok {
			continue
		}
		b := binding{kind: "RoleBinding", name: rb.Name, namespace: rb.Namespace, roleRef: &rb.RoleRef, subject: &rb.Subjects[i]}
		var rules []rbacv1.PolicyRule
		switch rb.RoleRef.Kind {
		case "ClusterRole":
			rules, err = z.clusterRoleRules(&rb.RoleRef)
		case "Role":
			var r *rbacv1.Role
			if r, err = z.roles.Roles(rb.Namespace).Get(rb.RoleRef.Name); err == nil {
				rules = r.Rules
			}
		default:
			err = fmt.Errorf("role reference of unsupported kind %q", rb.RoleRef.Kind)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", b.String(), err)
		}
		if !fn(b, rules, err) {
			return
		}
	}
}

func (z *Authorizer) clusterRoleRules(ref *rbacv1.RoleRef) ([]rbacv1.PolicyRule, error) {
	if ref.Kind != "ClusterRole" {
		return nil, fmt.Errorf("role reference of unsupported kind %q", ref.Kind)
	}
	r, err := z.clusterRoles.Get(ref.Name)
	if err != nil {
		return nil, err
	}
	return r.Rules, nil
}

// binding names the binding and subject that granted a request; it is
// formatted only when a reason is needed.
type binding struct {
	kind, name, namespace string
	roleRef               *rbacv1.RoleRef
	subject               *rbacv1.Subject
}

// String reads as Kubernetes writes it, e.g. `RoleBinding "dev/team" of
// Role "editor" to ServiceAccount "ci/team"`.
func (b binding) String() string {
	name := b.name
	if b.namespace != "" {
		name += "/" + b.namespace
	}
	if b.roleRef == nil || b.subject == nil {
		return fmt.Sprintf("%s %q", b.kind, name)
	}
	subject := b.subject.Name
	if b.subject.Kind == rbacv1.ServiceAccountKind {
		ns := b.subject.Namespace
		if ns == "" {
			ns = b.namespace
		}
		subject += "/" + ns
	}
	return fmt.Sprintf("%s %q of %s %q to %s %q", b.kind, name, b.roleRef.Kind, b.roleRef.Name, b.subject.Kind, subject)
}

// appliesTo returns the index of the first subject naming u. A service
// account subject without a namespace means one in the binding's
// namespace; in a ClusterRoleBinding it names nobody.
func appliesTo(u *user.Info, subjects []rbacv1.Subject, bindingNamespace string) (int, bool) {
	for i := range subjects {
		if subjectApplies(u, &subjects[i], bindingNamespace) {
			return i, true
		}
	}
	return 0, false
}

func subjectApplies(u *user.Info, s *rbacv1.Subject, bindingNamespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.Name == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return ns != "" && isServiceAccount(u.Name, ns, s.Name)
	}
	return false
}

// isServiceAccount reports whether username is
// system:serviceaccount:namespace:name, without building that string.
func isServiceAccount(username, namespace, name string) bool {
	rest, ok := strings.CutPrefix(username, user.ServiceAccountPrefix)
	return ok && len(rest) == len(namespace)+1+len(name) &&
		strings.HasPrefix(rest, namespace) && rest[len(namespace)] == ':' && strings.HasSuffix(rest, name)
}

// bindingSource finds the bindings that may name a user. It may return
// more than those (the caller checks subjects) but never fewer.
type bindingSource interface {
	clusterRoleBindings(u *user.Info) ([]*rbacv1.ClusterRoleBinding, error)
	roleBindings(u *user.Info, namespace string) ([]*rbacv1.RoleBinding, error)
}

type listerBindings struct {
	rbs  rbaclisters.RoleBindingLister
	crbs rbaclisters.ClusterRoleBindingLister
}

func (l listerBindings) clusterRoleBindings(*user.Info) ([]*rbacv1.ClusterRoleBinding, error) {
	return l.crbs.List(labels.Everything())
}

func (l listerBindings) roleBindings(_ *user.Info, namespace string) ([]*rbacv1.RoleBinding, error) {
	return l.rbs.RoleBindings(namespace).List(labels.Everything())
}
