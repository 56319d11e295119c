// Package clusterroleaggregation keeps the rules of every ClusterRole that
// has an aggregationRule equal to the union of the rules of the
// ClusterRoles its selectors match, so that admin, edit and view grow as
// roles labelled aggregate-to-admin/edit/view appear, change and go.
package clusterroleaggregation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

// workers is one: aggregated roles are few and each reconcile reads only
// the cache.
const workers = 1

// Controller fills aggregated ClusterRoles.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger

	lister rbaclisters.ClusterRoleLister
	queue  *controller.Queue
}

// New returns a ClusterRole aggregation controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "clusterrole-aggregation")}
}

// Run keeps aggregated ClusterRoles until ctx ends. Queue keys are the
// names of ClusterRoles with an aggregationRule.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("clusterrole-aggregation")
	inf := c.ctx.Informers.Rbac().V1().ClusterRoles()
	c.lister = inf.Lister()
	// Any change to any ClusterRole may change what a selector matches,
	// so every aggregated role is looked at again; there are few.
	enqueueAll := func(any) { c.enqueueAggregated() }
	remove, err := c.ctx.Sync(ctx, controller.Watch{Informer: inf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueAll,
		UpdateFunc: func(_, obj any) { enqueueAll(obj) },
		DeleteFunc: enqueueAll,
	}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) enqueueAggregated() {
	roles, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, r := range roles {
		if r.AggregationRule != nil {
			c.queue.Add(r.Name)
		}
	}
}

// reconcile writes the aggregated rules of ClusterRole name if they
// differ from what it holds.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	role, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.AggregationRule == nil {
		return nil
	}
	all, err := c.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	rules, err := AggregatedRules(role, all)
	if err != nil {
		// A selector that does not parse will not parse on retry
		// either; the role's author has to fix it.
		c.log.Warn("cannot aggregate cluster role", "clusterrole", name, "err", err)
		return nil
	}
	if equality.Semantic.DeepEqual(rules, role.Rules) {
		return nil
	}
	updated := role.DeepCopy()
	updated.Rules = rules
	if _, err := c.client.RbacV1().ClusterRoles().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating aggregated cluster role %q: %w", name, err)
	}
	c.log.Info("aggregated cluster role", "clusterrole", name, "rules", len(rules))
	return nil
}

// AggregatedRules returns the rules role should hold: for each of its
// selectors in order, the rules of the other ClusterRoles in all that
// match it, taken in order of role name, each rule once. A role with no
// match gets no rules (nil), never an error.
func AggregatedRules(role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	if role.AggregationRule == nil {
		return role.Rules, nil
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	var rules []rbacv1.PolicyRule
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, fmt.Errorf("cluster role %q: aggregation selector %d: %w", role.Name, i, err)
		}
		for _, other := range sorted {
			if other.Name == role.Name || !sel.Matches(labels.Set(other.Labels)) {
				continue
			}
			for _, rule := range other.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, rule) }) {
					rules = append(rules, *rule.DeepCopy())
				}
			}
		}
	}
	return rules, nil
}
