package rbac

import (
	"context"
	"strings"
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

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func crb(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}, Subjects: subjects}
}

func rb(ns, name, kind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
}

func userSubject(n string) rbacv1.Subject  { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
func groupSubject(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
func saSubject(ns, n string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
}

func rule(verbs, groups, resources []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

func l(s ...string) []string { return s }

// policy is the fixture every authorizer test runs against.
func policy() []runtime.Object {
	named := rule(l("get", "update", "create", "list"), l(""), l("configmaps"))
	named.ResourceNames = l("app-config")
	return []runtime.Object{
		clusterRole("pod-reader", rule(l("get", "list", "watch"), l(""), l("pods"))),
		clusterRole("star", rule(l("*"), l("*"), l("*"))),
		clusterRole("log-reader", rule(l("get"), l(""), l("pods/log"))),
		clusterRole("any-status", rule(l("get"), l("*"), l("*/status"))),
		clusterRole("named-cm", named),
		clusterRole("health", rbacv1.PolicyRule{Verbs: l("get"), NonResourceURLs: l("/healthz", "/api/*", "/version*")}),
		clusterRole("apps-deploy", rule(l("*"), l("apps"), l("deployments"))),
		clusterRole("all-paths", rbacv1.PolicyRule{Verbs: l("*"), NonResourceURLs: l("*")}),
		role("team", "editor", rule(l("create", "update", "delete"), l(""), l("pods", "configmaps"))),

		crb("readers", "pod-reader", groupSubject("readers")),
		crb("admins", "star", userSubject("root")),
		crb("health", "health", groupSubject(user.AllAuthenticated)),
		crb("sa-without-namespace", "star", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "x"}),
		crb("sa-logs", "log-reader", saSubject("ops", "logger")),
		crb("status", "any-status", userSubject("statususer")),
		crb("dangling", "missing", userSubject("ghost")),
		crb("unknown-kind", "star", rbacv1.Subject{Kind: "Robot", Name: "r2"}),

		rb("team", "team-edit", "Role", "editor", userSubject("alice")),
		rb("team", "team-sa", "ClusterRole", "apps-deploy", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "dev"}),
		rb("team", "team-cm", "ClusterRole", "named-cm", groupSubject("cm")),
		rb("team", "team-paths", "ClusterRole", "all-paths", userSubject("alice")),
		rb("team", "team-other-sa", "Role", "editor", saSubject("other", "bot")),
		rb("team", "team-missing", "Role", "missing", userSubject("bob")),
		rb("other", "other-edit", "ClusterRole", "star", userSubject("carol")),
	}
}

func fromIndexers(t testing.TB, objs []runtime.Object) *Authorizer {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	r, rbs, cr, crbs := idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *rbacv1.Role:
			err = r.Add(o)
		case *rbacv1.RoleBinding:
			err = rbs.Add(o)
		case *rbacv1.ClusterRole:
			err = cr.Add(o)
		case *rbacv1.ClusterRoleBinding:
			err = crbs.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return New(rbaclisters.NewRoleLister(r), rbaclisters.NewRoleBindingLister(rbs), rbaclisters.NewClusterRoleLister(cr), rbaclisters.NewClusterRoleBindingLister(crbs))
}

func fromInformers(t testing.TB, objs []runtime.Object) *Authorizer {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	a := NewFromInformers(f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v cache did not sync", typ)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.HasSynced) {
		t.Fatal("authorizer did not sync")
	}
	return a
}

// implementations are the two ways to build an authorizer; every case
// must decide the same through both.
var implementations = []struct {
	name  string
	build func(testing.TB, []runtime.Object) *Authorizer
}{
	{"listers", fromIndexers},
	{"informers", fromInformers},
}

func res(verb, group, resource, sub, ns, name string) authorizer.Attributes {
	return authorizer.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1", Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func path(verb, p string) authorizer.Attributes { return authorizer.Attributes{Verb: verb, Path: p} }

func TestAuthorize(t *testing.T) {
	authed := func(name string, groups ...string) user.Info {
		return user.Info{Name: name, Groups: append(groups, user.AllAuthenticated)}
	}
	sa := func(ns, name string) user.Info {
		return user.Info{Name: user.ServiceAccountUsername(ns, name), Groups: append(user.ServiceAccountGroups(ns), user.AllAuthenticated)}
	}
	cases := []struct {
		name   string
		user   user.Info
		attrs  authorizer.Attributes
		allow  bool
		reason string // exact for an allow, a substring for a denial
	}{
		{"group grant", authed("u", "readers"), res("list", "", "pods", "", "x", ""), true,
			`RBAC: allowed by ClusterRoleBinding "readers" of ClusterRole "pod-reader" to Group "readers"`},
		{"group grant across namespaces", authed("u", "readers"), res("watch", "", "pods", "", "", ""), true, ""},
		{"verb not granted", authed("u", "readers"), res("delete", "", "pods", "", "x", "p"), false, ""},
		{"resource grant does not cover subresource", authed("u", "readers"), res("get", "", "pods", "log", "x", "p"), false, ""},
		{"wrong api group", authed("u", "readers"), res("get", "apps", "pods", "", "x", "p"), false, ""},
		{"user named like a group is not in it", user.Info{Name: "readers"}, res("get", "", "pods", "", "x", "p"), false, ""},
		{"stars grant cluster-scoped", authed("root"), res("delete", "", "nodes", "", "", "n1"), true,
			`RBAC: allowed by ClusterRoleBinding "admins" of ClusterRole "star" to User "root"`},
		{"stars grant subresources", authed("root"), res("create", "", "pods", "exec", "x", "p"), true, ""},
		{"stars grant custom verbs", authed("root"), res("impersonate", "", "users", "", "", "bob"), true, ""},
		{"role binding in its namespace", authed("alice"), res("create", "", "pods", "", "team", ""), true,
			`RBAC: allowed by RoleBinding "team-edit/team" of Role "editor" to User "alice"`},
		{"role binding not in another namespace", authed("alice"), res("create", "", "pods", "", "other", ""), false, ""},
		{"role binding not cluster-wide", authed("alice"), res("create", "", "pods", "", "", ""), false, ""},
		{"role binding to cluster role is namespaced", authed("carol"), res("delete", "", "secrets", "", "other", "s"), true,
			`RBAC: allowed by RoleBinding "other-edit/other" of ClusterRole "star" to User "carol"`},
		{"role binding to cluster role gives no cluster-scoped access", authed("carol"), res("get", "", "nodes", "", "", "n"), false, ""},
		{"non-resource exact", authed("anyone"), path("get", "/healthz"), true,
			`RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated"`},
		{"non-resource verb", authed("anyone"), path("post", "/healthz"), false, ""},
		{"non-resource prefix", authed("anyone"), path("get", "/api/v1"), true, ""},
		{"non-resource prefix needs the slash", authed("anyone"), path("get", "/api"), false, ""},
		{"non-resource star suffix without slash", authed("anyone"), path("get", "/versionz/x"), true, ""},
		{"non-resource not listed", authed("anyone"), path("get", "/metrics"), false, ""},
		{"non-resource needs the group", user.Info{Name: "anon", Groups: []string{user.AllUnauthenticated}}, path("get", "/healthz"), false, ""},
		{"non-resource rules of a role binding do not apply", authed("alice"), authorizer.Attributes{Verb: "get", Path: "/metrics", Namespace: "team"}, false, ""},
		{"service account defaults to the binding namespace", sa("team", "dev"), res("patch", "apps", "deployments", "", "team", "d"), true,
			`RBAC: allowed by RoleBinding "team-sa/team" of ClusterRole "apps-deploy" to ServiceAccount "dev/team"`},
		{"service account of the same name elsewhere", sa("other", "dev"), res("patch", "apps", "deployments", "", "team", "d"), false, ""},
		{"service account outside the binding namespace", sa("team", "dev"), res("patch", "apps", "deployments", "", "other", "d"), false, ""},
		{"service account from another namespace", sa("other", "bot"), res("delete", "", "configmaps", "", "team", "c"), true,
			`RBAC: allowed by RoleBinding "team-other-sa/team" of Role "editor" to ServiceAccount "bot/other"`},
		{"service account subject without namespace in a cluster binding names nobody", sa("default", "x"), res("get", "", "pods", "", "default", "p"), false, ""},
		{"service account in a cluster binding", sa("ops", "logger"), res("get", "", "pods", "log", "any", "p"), true,
			`RBAC: allowed by ClusterRoleBinding "sa-logs" of ClusterRole "log-reader" to ServiceAccount "logger/ops"`},
		{"subresource grant does not cover the resource", sa("ops", "logger"), res("get", "", "pods", "", "any", "p"), false, ""},
		{"star subresource", authed("statususer"), res("get", "apps", "deployments", "status", "x", "d"), true, ""},
		{"star subresource needs a subresource", authed("statususer"), res("get", "apps", "deployments", "", "x", "d"), false, ""},
		{"star subresource of another name", authed("statususer"), res("get", "apps", "deployments", "scale", "x", "d"), false, ""},
		{"resource name", authed("c", "cm"), res("update", "", "configmaps", "", "team", "app-config"), true, ""},
		{"other resource name", authed("c", "cm"), res("update", "", "configmaps", "", "team", "other"), false, ""},
		{"resource names never cover list", authed("c", "cm"), res("list", "", "configmaps", "", "team", ""), false, ""},
		{"resource names never cover create without a name", authed("c", "cm"), res("create", "", "configmaps", "", "team", ""), false, ""},
		{"missing cluster role", authed("ghost"), res("get", "", "pods", "", "x", "p"), false, `"missing" not found`},
		{"missing role", authed("bob"), res("get", "", "pods", "", "team", "p"), false, `RoleBinding "team-missing/team" of Role "missing"`},
		{"unknown subject kind", user.Info{Name: "r2"}, res("get", "", "pods", "", "x", "p"), false, ""},
		{"nobody", user.Info{Name: "nobody"}, res("get", "", "pods", "", "x", "p"), false, ""},
	}
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			z := impl.build(t, policy())
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := tc.attrs
					a.User = tc.user
					d, reason, err := z.Authorize(context.Background(), a)
					if err != nil {
						t.Fatalf("error %v", err)
					}
					want := authorizer.NoOpinion
					if tc.allow {
						want = authorizer.Allow
					}
					if d != want {
						t.Fatalf("decision %v (%q), want %v", d, reason, want)
					}
					switch {
					case tc.allow && tc.reason != "" && reason != tc.reason:
						t.Errorf("reason %q\nwant   %q", reason, tc.reason)
					case !tc.allow && !strings.Contains(reason, tc.reason):
						t.Errorf("reason %q, want it to contain %q", reason, tc.reason)
					}
				})
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	cases := []struct {
		name           string
		user           user.Info
		namespace      string
		wantResource   []string // verbs/resources of each resource rule, in order
		wantNon        []string
		wantIncomplete bool
	}{
		{"role and cluster rules in the namespace", user.Info{Name: "alice", Groups: []string{user.AllAuthenticated}}, "team",
			[]string{"create,update,delete pods,configmaps"}, []string{"get /healthz,/api/*,/version*"}, false},
		{"cluster rules only elsewhere", user.Info{Name: "alice", Groups: []string{user.AllAuthenticated}}, "other",
			nil, []string{"get /healthz,/api/*,/version*"}, false},
		{"role binding to a cluster role", user.Info{Name: "carol"}, "other", []string{"* *"}, nil, false},
		{"missing role makes it incomplete", user.Info{Name: "bob"}, "team", nil, nil, true},
		{"service account", user.Info{Name: "system:serviceaccount:team:dev"}, "team", []string{"* deployments"}, nil, false},
	}
	summary := func(rules []rbacv1.PolicyRule, nonResource bool) []string {
		var out []string
		for _, r := range rules {
			what := r.Resources
			if nonResource {
				what = r.NonResourceURLs
			}
			out = append(out, strings.Join(r.Verbs, ",")+" "+strings.Join(what, ","))
		}
		return out
	}
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			z := impl.build(t, policy())
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					rr, nr, incomplete, err := z.RulesFor(context.Background(), tc.user, tc.namespace)
					if incomplete != tc.wantIncomplete || (err != nil) != tc.wantIncomplete {
						t.Errorf("incomplete %v err %v, want incomplete %v", incomplete, err, tc.wantIncomplete)
					}
					if got := summary(rr, false); strings.Join(got, ";") != strings.Join(tc.wantResource, ";") {
						t.Errorf("resource rules %q, want %q", got, tc.wantResource)
					}
					if got := summary(nr, true); strings.Join(got, ";") != strings.Join(tc.wantNon, ";") {
						t.Errorf("non-resource rules %q, want %q", got, tc.wantNon)
					}
				})
			}
		})
	}
}

// TestInformerUpdates checks that the subject index follows bindings as
// they are created, changed and deleted.
func TestInformerUpdates(t *testing.T) {
	client := fake.NewClientset(clusterRole("pod-reader", rule(l("get"), l(""), l("pods"))))
	f := informers.NewSharedInformerFactory(client, 0)
	z := NewFromInformers(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), z.HasSynced)

	a := res("get", "", "pods", "", "team", "p")
	a.User = user.Info{Name: "dave"}
	waitFor := func(want authorizer.Decision) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			d, _, _ := z.Authorize(ctx, a)
			return d == want, nil
		})
		if err != nil {
			t.Fatalf("decision never became %v", want)
		}
	}
	waitFor(authorizer.NoOpinion)
	b := rb("team", "b", "ClusterRole", "pod-reader", userSubject("dave"))
	if _, err := client.RbacV1().RoleBindings("team").Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.Allow)
	b.Subjects = []rbacv1.Subject{userSubject("erin")}
	if _, err := client.RbacV1().RoleBindings("team").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.NoOpinion)
	b.Subjects = []rbacv1.Subject{userSubject("dave")}
	if _, err := client.RbacV1().RoleBindings("team").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.Allow)
	if err := client.RbacV1().RoleBindings("team").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.NoOpinion)

	// Roles come and go as well.
	if err := client.RbacV1().ClusterRoles().Delete(ctx, "pod-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().RoleBindings("team").Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.NoOpinion)
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, clusterRole("pod-reader", rule(l("get"), l(""), l("pods"))), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(authorizer.Allow)
}
