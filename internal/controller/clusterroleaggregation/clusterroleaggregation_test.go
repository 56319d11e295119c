package clusterroleaggregation

import (
	"context"
	"log/slog"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

func labelled(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func aggregating(name string, rules []rbacv1.PolicyRule, selectors ...metav1.LabelSelector) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: selectors}, Rules: rules}
}

func match(k string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{k: "true"}}
}

func read(resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{resource}}
}

func TestReconcile(t *testing.T) {
	yes := map[string]string{"agg": "true"}
	both := map[string]string{"agg": "true", "other": "true"}
	cases := []struct {
		name      string
		roles     []*rbacv1.ClusterRole
		key       string
		wantRules []rbacv1.PolicyRule // nil with wantWrite false: no update expected
		wantWrite bool
	}{
		{"fills in name order, each rule once",
			[]*rbacv1.ClusterRole{
				aggregating("target", nil, match("agg"), match("other")),
				labelled("b", yes, read("secrets"), read("pods")),
				labelled("a", both, read("pods"), read("services")),
				labelled("c", map[string]string{"agg": "false"}, read("nodes")),
			}, "target",
			[]rbacv1.PolicyRule{read("pods"), read("services"), read("secrets")}, true},
		{"unchanged is not written",
			[]*rbacv1.ClusterRole{
				aggregating("target", []rbacv1.PolicyRule{read("pods")}, match("agg")),
				labelled("a", yes, read("pods")),
			}, "target", nil, false},
		{"stale rules are dropped",
			[]*rbacv1.ClusterRole{
				aggregating("target", []rbacv1.PolicyRule{read("pods"), read("secrets")}, match("agg")),
				labelled("a", yes, read("pods")),
			}, "target", []rbacv1.PolicyRule{read("pods")}, true},
		{"nothing matches empties it",
			[]*rbacv1.ClusterRole{aggregating("target", []rbacv1.PolicyRule{read("pods")}, match("agg"))},
			"target", []rbacv1.PolicyRule{}, true},
		{"a role does not aggregate itself",
			[]*rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "target", Labels: yes},
				AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{match("agg")}}}},
			"target", nil, false},
		{"role without aggregation rule is left alone",
			[]*rbacv1.ClusterRole{labelled("plain", nil, read("pods")), labelled("a", yes, read("secrets"))},
			"plain", nil, false},
		{"role gone", nil, "target", nil, false},
		{"bad selector is not retried",
			[]*rbacv1.ClusterRole{aggregating("target", nil, metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "agg", Operator: "Bogus"}}})},
			"target", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for _, r := range tc.roles {
				objs = append(objs, r)
				if err := idx.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			client := fake.NewClientset(objs...)
			c := &Controller{client: client, log: slog.New(slog.DiscardHandler), lister: rbaclisters.NewClusterRoleLister(idx)}
			if err := c.reconcile(context.Background(), tc.key); err != nil {
				t.Fatal(err)
			}
			var updates []*rbacv1.ClusterRole
			for _, a := range client.Actions() {
				if a.GetVerb() == "update" {
					updates = append(updates, a.(interface{ GetObject() runtime.Object }).GetObject().(*rbacv1.ClusterRole))
				}
			}
			if !tc.wantWrite {
				if len(updates) != 0 {
					t.Fatalf("%d updates, want none", len(updates))
				}
				return
			}
			if len(updates) != 1 {
				t.Fatalf("%d updates, want one", len(updates))
			}
			got := updates[0].Rules
			if len(got) != len(tc.wantRules) {
				t.Fatalf("rules %v, want %v", got, tc.wantRules)
			}
			for i := range got {
				if got[i].Resources[0] != tc.wantRules[i].Resources[0] {
					t.Errorf("rule %d is for %v, want %v", i, got[i].Resources, tc.wantRules[i].Resources)
				}
			}
		})
	}
}

// TestRun drives the loop through informers: a role labelled later is
// folded in, and its removal takes its rules out again.
func TestRun(t *testing.T) {
	client := fake.NewClientset(
		aggregating("view", nil, match("agg")),
		labelled("base", map[string]string{"agg": "true"}, read("pods")),
	)
	cc := &controller.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cc).Run(ctx) }()
	defer func() {
		cancel()
		<-done
		cc.Informers.Shutdown()
	}()

	waitRules := func(want int) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			r, err := client.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
			return err == nil && len(r.Rules) == want, nil
		})
		if err != nil {
			t.Fatalf("view never held %d rules", want)
		}
	}
	waitRules(1)
	extra := labelled("extra", map[string]string{"agg": "true"}, read("services"))
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, extra, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRules(2)
	if err := client.RbacV1().ClusterRoles().Delete(ctx, "extra", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRules(1)
}
