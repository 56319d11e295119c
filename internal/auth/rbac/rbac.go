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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Authorizer decides on requests from the RBAC objects in its listers
// or in its own index.
type Authorizer struct {
	// Exactly one is set. Two concrete fields rather than an interface
	// keep a decision's working state on the stack.
	idx *index
	lst *listerSource
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
	return &Authorizer{lst: &listerSource{roles, roleBindings, clusterRoles, clusterRoleBindings}}
}

// NewFromInformers returns an authorizer over f's RBAC informers that
// keeps its own index of bindings by subject and of roles by name, fed by
// the informers' events, so a decision reads only the bindings naming the
// user or one of their groups and allocates nothing. The caller starts f;
// the authorizer has no opinion on anything until HasSynced.
func NewFromInformers(f informers.SharedInformerFactory) *Authorizer {
	x := newIndex()
	r := f.Rbac().V1()
	x.watch(r.Roles().Informer(), r.RoleBindings().Informer(), r.ClusterRoles().Informer(), r.ClusterRoleBindings().Informer())
	return &Authorizer{idx: x}
}

// HasSynced reports whether the authorizer has seen the informers'
// initial lists. An authorizer from New always has.
func (z *Authorizer) HasSynced() bool {
	return z.idx == nil || z.idx.hasSynced()
}

// Authorize allows a when a rule of a role bound to its user matches.
// Bindings whose role cannot be found are skipped; if nothing allows,
// the reason lists them. The error is always nil.
func (z *Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	v := visitor{authorizing: true, attrs: a}
	z.visit(&a.User, requestNamespace(&a), &v)
	if v.allowed {
		return authorizer.Allow, v.allowedBy.allowReason(), nil
	}
	if len(v.errs) > 0 {
		return authorizer.NoOpinion, "RBAC: " + errors.Join(v.errs...).Error(), nil
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
	v := visitor{}
	z.visit(&u, namespace, &v)
	return v.resourceRules, v.nonResourceRules, len(v.errs) > 0, errors.Join(v.errs...)
}

// visit shows v the rules of each role bound to u that applies in
// namespace (cluster-wide bindings first, then namespace's RoleBindings),
// or the error resolving one, until v is done.
func (z *Authorizer) visit(u *user.Info, namespace string, v *visitor) {
	if z.idx != nil {
		z.idx.visit(u, namespace, v)
		return
	}
	z.lst.visit(u, namespace, v)
}

// visitor is the state of one Authorize or RulesFor.
type visitor struct {
	authorizing bool
	// attrs is a copy, not a pointer: escape analysis does not tell the
	// fields of a visitor apart, and errs goes to the heap.
	attrs     authorizer.Attributes
	allowed   bool
	allowedBy binding
	errs      []error

	resourceRules, nonResourceRules []rbacv1.PolicyRule
}

// visit takes the rules granted through b, or the error finding them,
// and reports whether to go on.
func (v *visitor) visit(b binding, rules []rbacv1.PolicyRule, err error) bool {
	if err != nil {
		v.errs = append(v.errs, err)
		return true
	}
	if v.authorizing {
		for i := range rules {
			if RuleAllows(&v.attrs, &rules[i]) {
				v.allowed, v.allowedBy = true, b
				return false
			}
		}
		return true
	}
	for _, r := range rules {
		if len(r.Resources) > 0 {
			rr := r
			rr.NonResourceURLs = nil
			v.resourceRules = append(v.resourceRules, rr)
		}
		if len(r.NonResourceURLs) > 0 && b.kind == clusterRoleBindingKind {
			nr := r
			nr.APIGroups, nr.Resources, nr.ResourceNames = nil, nil, nil
			v.nonResourceRules = append(v.nonResourceRules, nr)
		}
	}
	return true
}

const (
	roleBindingKind        = "RoleBinding"
	clusterRoleBindingKind = "ClusterRoleBinding"
)

var (
	clusterRoleResource = schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrole"}
	roleResource        = schema.GroupResource{Group: rbacv1.GroupName, Resource: "role"}
)

// roleKind says which kind of role b refers to, "" for a reference no
// binding of its kind may make.
func (b *binding) roleKind() string {
	switch {
	case b.roleRef.Kind == "ClusterRole":
		return "ClusterRole"
	case b.roleRef.Kind == "Role" && b.kind == roleBindingKind:
		return "Role"
	}
	return ""
}

// resolveError says why the role of b was not found.
func (b *binding) resolveError(err error) error {
	return fmt.Errorf("%s: %w", b.String(), err)
}

func (b *binding) badReference() error {
	return b.resolveError(fmt.Errorf("a %s can not refer to a role of kind %q", b.kind, b.roleRef.Kind))
}

// binding names the binding and subject that granted a request; it is
// formatted only when a reason is needed.
type binding struct {
	kind, name, namespace string
	roleRef               *rbacv1.RoleRef
	subject               *rbacv1.Subject
	// reason, when set, is "RBAC: allowed by " and String(), worked out
	// when the binding was indexed.
	reason string
}

func (b binding) allowReason() string {
	if b.reason != "" {
		return b.reason
	}
	return "RBAC: allowed by " + b.String()
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

// listerSource reads every binding through the listers.
type listerSource struct {
	roles        rbaclisters.RoleLister
	rbs          rbaclisters.RoleBindingLister
	clusterRoles rbaclisters.ClusterRoleLister
	crbs         rbaclisters.ClusterRoleBindingLister
}

func (l *listerSource) visit(u *user.Info, namespace string, v *visitor) {
	crbs, err := l.crbs.List(labels.Everything())
	if err != nil {
		v.visit(binding{}, nil, fmt.Errorf("listing cluster role bindings: %w", err))
	}
	for _, b := range crbs {
		if i, ok := appliesTo(u, b.Subjects, ""); ok {
			bb := binding{kind: clusterRoleBindingKind, name: b.Name, roleRef: &b.RoleRef, subject: &b.Subjects[i]}
			rules, err := l.rules(&bb)
			if !v.visit(bb, rules, err) {
				return
			}
		}
	}
	if namespace == "" {
		return
	}
	rbs, err := l.rbs.RoleBindings(namespace).List(labels.Everything())
	if err != nil {
		v.visit(binding{}, nil, fmt.Errorf("listing role bindings in namespace %q: %w", namespace, err))
	}
	for _, b := range rbs {
		if i, ok := appliesTo(u, b.Subjects, b.Namespace); ok {
			bb := binding{kind: roleBindingKind, name: b.Name, namespace: b.Namespace, roleRef: &b.RoleRef, subject: &b.Subjects[i]}
			rules, err := l.rules(&bb)
			if !v.visit(bb, rules, err) {
				return
			}
		}
	}
}

func (l *listerSource) rules(b *binding) ([]rbacv1.PolicyRule, error) {
	switch b.roleKind() {
	case "ClusterRole":
		r, err := l.clusterRoles.Get(b.roleRef.Name)
		if err != nil {
			return nil, b.resolveError(err)
		}
		return r.Rules, nil
	case "Role":
		r, err := l.roles.Roles(b.namespace).Get(b.roleRef.Name)
		if err != nil {
			return nil, b.resolveError(err)
		}
		return r.Rules, nil
	}
	return nil, b.badReference()
}
