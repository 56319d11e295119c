package apiserver

import (
	"context"
	"errors"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/storage"
)

// bootstrapPolicy creates the default ClusterRoles and ClusterRoleBindings
// and reconciles the ones still marked for automatic update, as Kubernetes
// does at every start: a role gains the rules it lacks (extra rules an
// administrator added stay), an aggregated role keeps its aggregation
// rule (the aggregation loop fills its rules), a binding gains the
// subjects it lacks. Objects whose autoupdate annotation is "false" are
// left as they are.
func (s *Server) bootstrapPolicy(ctx context.Context) error {
	for _, want := range rbac.DefaultClusterRoles() {
		if err := s.reconcileDefault(ctx, want, func(cur runtime.Object) bool {
			role := cur.(*rbacv1.ClusterRole)
			if want.AggregationRule != nil {
				if equality.Semantic.DeepEqual(role.AggregationRule, want.AggregationRule) {
					return false
				}
				role.AggregationRule = want.AggregationRule.DeepCopy()
				return true
			}
			changed := false
			for _, rule := range want.Rules {
				if !containsRule(role.Rules, rule) {
					role.Rules = append(role.Rules, rule)
					changed = true
				}
			}
			return changed
		}); err != nil {
			return err
		}
	}
	for _, want := range rbac.DefaultClusterRoleBindings() {
		if err := s.reconcileDefault(ctx, want, func(cur runtime.Object) bool {
			b := cur.(*rbacv1.ClusterRoleBinding)
			if b.RoleRef != want.RoleRef {
				return false // roleRef cannot change; an administrator's binding stays
			}
			changed := false
			for _, gone := range retiredSubjects[b.Name] {
				if i := slices.IndexFunc(b.Subjects, func(s rbacv1.Subject) bool { return s == gone }); i >= 0 {
					b.Subjects = slices.Delete(b.Subjects, i, i+1)
					changed = true
				}
			}
			for _, sub := range want.Subjects {
				if !containsSubject(b.Subjects, sub) {
					b.Subjects = append(b.Subjects, sub)
					changed = true
				}
			}
			return changed
		}); err != nil {
			return err
		}
	}
	return nil
}

// retiredSubjects are subjects earlier versions put in default bindings
// and that must go: the nodes group held the node role outright before
// the Node authorizer narrowed it to each agent's own pods.
var retiredSubjects = map[string][]rbacv1.Subject{
	"system:node": {{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: user.NodesGroup}},
}

// reconcileDefault creates want, or applies fix to the existing object
// when it is still marked for automatic update.
func (s *Server) reconcileDefault(ctx context.Context, want runtime.Object, fix func(runtime.Object) bool) error {
	rs := s.byGVK[gvkOf(want)]
	name := accessor(want).GetName()
	cur, _, err := rs.get(ctx, s.store, "", name)
	if errors.Is(err, storage.ErrNotFound) {
		return s.ensure(ctx, "", want)
	}
	if err != nil {
		return fmt.Errorf("bootstrap %s %s: %w", rs.served.GVK.Kind, name, err)
	}
	if accessor(cur).GetAnnotations()[rbac.AutoupdateAnnotation] == "false" {
		return nil
	}
	if !fix(cur.DeepCopyObject()) {
		return nil
	}
	_, err = s.updateObject(ctx, rs, "", name, "", false, func(cur runtime.Object) (runtime.Object, error) {
		next := cur.DeepCopyObject()
		fix(next)
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap %s %s: %w", rs.served.GVK.Kind, name, err)
	}
	return nil
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, x := range rules {
		if equality.Semantic.DeepEqual(x, r) {
			return true
		}
	}
	return false
}

func containsSubject(subjects []rbacv1.Subject, s rbacv1.Subject) bool {
	for _, x := range subjects {
		if x == s {
			return true
		}
	}
	return false
}
