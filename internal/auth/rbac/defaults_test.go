package rbac_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/controller/clusterroleaggregation"
)

// aggregatedDefaults returns the default roles with admin, edit and view
// filled as the aggregation controller fills them.
func aggregatedDefaults(t *testing.T) []*rbacv1.ClusterRole {
	t.Helper()
	roles := rbac.DefaultClusterRoles()
	for _, r := range roles {
		if r.AggregationRule == nil {
			continue
		}
		rules, err := clusterroleaggregation.AggregatedRules(r, roles)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) == 0 {
			t.Fatalf("aggregation left %s without rules", r.Name)
		}
		r.Rules = rules
	}
	return roles
}

func TestDefaultPolicy(t *testing.T) {
	objs := []runtime.Object{}
	for _, r := range aggregatedDefaults(t) {
		objs = append(objs, r)
	}
	for _, b := range rbac.DefaultClusterRoleBindings() {
		objs = append(objs, b)
	}
	for _, role := range []string{"admin", "edit", "view"} {
		objs = append(objs, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: role + "-user"}},
		})
	}
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	z := rbac.NewFromInformers(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), z.HasSynced) {
		t.Fatal("authorizer did not sync")
	}

	authed := func(name string, groups ...string) user.Info {
		return user.Info{Name: name, Groups: append(groups, user.AllAuthenticated)}
	}
	res := func(verb, group, resource, sub, ns string) authorizer.Attributes {
		return authorizer.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: "x"}
	}
	path := func(p string) authorizer.Attributes { return authorizer.Attributes{Verb: "get", Path: p} }
	cases := []struct {
		name  string
		user  user.Info
		attrs authorizer.Attributes
		allow bool
	}{
		{"view reads pods", authed("view-user"), res("list", "", "pods", "", "team"), true},
		{"view reads deployments", authed("view-user"), res("get", "apps", "deployments", "", "team"), true},
		{"view reads logs", authed("view-user"), res("get", "", "pods", "log", "team"), true},
		{"view reads no secrets", authed("view-user"), res("get", "", "secrets", "", "team"), false},
		{"view lists no secrets", authed("view-user"), res("list", "", "secrets", "", "team"), false},
		{"view writes nothing", authed("view-user"), res("delete", "", "pods", "", "team"), false},
		{"view only in its namespace", authed("view-user"), res("get", "", "pods", "", "other"), false},
		{"edit writes deployments", authed("edit-user"), res("update", "apps", "deployments", "", "team"), true},
		{"edit scales", authed("edit-user"), res("patch", "apps", "deployments", "scale", "team"), true},
		{"edit execs", authed("edit-user"), res("create", "", "pods", "exec", "team"), true},
		{"edit reads secrets", authed("edit-user"), res("get", "", "secrets", "", "team"), true},
		{"edit writes no roles", authed("edit-user"), res("create", rbacv1.GroupName, "roles", "", "team"), false},
		{"edit writes no role bindings", authed("edit-user"), res("update", rbacv1.GroupName, "rolebindings", "", "team"), false},
		{"admin writes role bindings", authed("admin-user"), res("create", rbacv1.GroupName, "rolebindings", "", "team"), true},
		{"admin writes roles", authed("admin-user"), res("delete", rbacv1.GroupName, "roles", "", "team"), true},
		{"admin edits too", authed("admin-user"), res("create", "batch", "jobs", "", "team"), true},
		{"admin only in its namespace", authed("admin-user"), res("create", rbacv1.GroupName, "rolebindings", "", "other"), false},
		{"admin gets no cluster roles", authed("admin-user"), res("create", rbacv1.GroupName, "clusterroles", "", ""), false},
		{"admin deletes no nodes", authed("admin-user"), res("delete", "", "nodes", "", ""), false},
		{"masters are cluster-admin", authed("root", user.SystemPrivilegedGroup), res("delete", "", "nodes", "", ""), true},
		{"masters reach any path", authed("root", user.SystemPrivilegedGroup), path("/debug/pprof/"), true},
		{"anyone signed in discovers", authed("anyone"), path("/apis/apps/v1"), true},
		{"anyone signed in asks can-i", authed("anyone"), res("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true},
		{"anyone signed in asks whoami", authed("anyone"), res("create", "authentication.k8s.io", "selfsubjectreviews", "", ""), true},
		{"anonymous reads version", user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, path("/version"), true},
		{"anonymous reads readyz", user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, path("/readyz"), true},
		{"anonymous does not discover", user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, path("/api"), false},
		{"signed-in user reads no pods", authed("anyone"), res("get", "", "pods", "", "team"), false},
		// The Node authorizer, not RBAC, grants nodes their own objects.
		{"rbac grants a node no node status", authed("system:node:n1", user.NodesGroup), res("patch", "", "nodes", "status", ""), false},
		{"rbac grants a node no secrets", authed("system:node:n1", user.NodesGroup), res("get", "", "secrets", "", "team"), false},
		{"node reads endpoint slices", authed("system:node:n1", user.NodesGroup), res("list", "discovery.k8s.io", "endpointslices", "", ""), true},
		{"node deletes no deployments", authed("system:node:n1", user.NodesGroup), res("delete", "apps", "deployments", "", "team"), false},
		{"scheduler binds", authed(rbac.SchedulerUser), res("create", "", "pods", "binding", "team"), true},
		{"scheduler reads no secrets", authed(rbac.SchedulerUser), res("get", "", "secrets", "", "team"), false},
		{"controllers create replica sets", authed(rbac.ControllerManagerUser), res("create", "apps", "replicasets", "", "team"), true},
		{"controllers delete anything", authed(rbac.ControllerManagerUser), res("delete", "example.com", "widgets", "", "team"), true},
		{"controllers may aggregate cluster roles", authed(rbac.ControllerManagerUser), res("escalate", rbacv1.GroupName, "clusterroles", "", ""), true},
		{"controllers may not bind cluster roles", authed(rbac.ControllerManagerUser), res("bind", rbacv1.GroupName, "clusterroles", "", ""), false},
		{"controllers create no secrets", authed(rbac.ControllerManagerUser), res("create", "", "secrets", "", "team"), false},
		{"dns watches services", authed(rbac.DNSUser), res("watch", "", "services", "", ""), true},
		{"dns writes nothing", authed(rbac.DNSUser), res("update", "", "services", "", "team"), false},
		{"proxy lists endpoint slices", authed(rbac.ProxyUser), res("list", "discovery.k8s.io", "endpointslices", "", ""), true},
		{"bootstrapper creates CSRs", authed("system:bootstrap:abcdef", rbac.BootstrappersGroup), res("create", "certificates.k8s.io", "certificatesigningrequests", "", ""), true},
		{"bootstrapper watches CSRs", authed("system:bootstrap:abcdef", rbac.BootstrappersGroup), res("watch", "certificates.k8s.io", "certificatesigningrequests", "", ""), true},
		{"bootstrapper approves nothing", authed("system:bootstrap:abcdef", rbac.BootstrappersGroup), res("update", "certificates.k8s.io", "certificatesigningrequests", "approval", ""), false},
		{"bootstrapper may have node client CSRs approved", authed("system:bootstrap:abcdef", rbac.BootstrappersGroup), res("create", "certificates.k8s.io", "certificatesigningrequests", "nodeclient", ""), true},
		{"bootstrapper renews no node", authed("system:bootstrap:abcdef", rbac.BootstrappersGroup), res("create", "certificates.k8s.io", "certificatesigningrequests", "selfnodeclient", ""), false},
		{"node renews itself", authed("system:node:n1", user.NodesGroup), res("create", "certificates.k8s.io", "certificatesigningrequests", "selfnodeclient", ""), true},
		{"node asks for no other node", authed("system:node:n1", user.NodesGroup), res("create", "certificates.k8s.io", "certificatesigningrequests", "nodeclient", ""), false},
		{"controllers approve CSRs", authed(rbac.ControllerManagerUser), res("update", "certificates.k8s.io", "certificatesigningrequests", "approval", ""), true},
		{"controllers approve for the kubelet client signer", authed(rbac.ControllerManagerUser), authorizer.Attributes{Verb: "approve", ResourceRequest: true, APIGroup: "certificates.k8s.io", Resource: "signers", Name: "kubernetes.io/kube-apiserver-client-kubelet"}, true},
		{"controllers approve no other signer", authed(rbac.ControllerManagerUser), authorizer.Attributes{Verb: "approve", ResourceRequest: true, APIGroup: "certificates.k8s.io", Resource: "signers", Name: "kubernetes.io/kube-apiserver-client"}, false},
		{"controllers sign for the client signer", authed(rbac.ControllerManagerUser), authorizer.Attributes{Verb: "sign", ResourceRequest: true, APIGroup: "certificates.k8s.io", Resource: "signers", Name: "kubernetes.io/kube-apiserver-client"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.attrs
			a.User = tc.user
			d, reason, err := z.Authorize(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if (d == authorizer.Allow) != tc.allow {
				t.Errorf("decision %v (%q), want allow=%v", d, reason, tc.allow)
			}
		})
	}
}

func TestDefaultPolicyMetadata(t *testing.T) {
	names := map[string]bool{}
	check := func(kind string, m metav1.ObjectMeta) {
		if names[kind+"/"+m.Name] {
			t.Errorf("%s %q twice", kind, m.Name)
		}
		names[kind+"/"+m.Name] = true
		if m.Labels[rbac.BootstrappingLabel] != rbac.BootstrappingValue || m.Annotations[rbac.AutoupdateAnnotation] != "true" {
			t.Errorf("%s %q lacks the bootstrapping label or autoupdate annotation", kind, m.Name)
		}
	}
	for _, r := range rbac.DefaultClusterRoles() {
		check("ClusterRole", r.ObjectMeta)
	}
	for _, b := range rbac.DefaultClusterRoleBindings() {
		check("ClusterRoleBinding", b.ObjectMeta)
		if !names["ClusterRole/"+b.RoleRef.Name] {
			t.Errorf("binding %q names missing role %q", b.Name, b.RoleRef.Name)
		}
	}
}

// TestNodeRoleUnbound pins what lets the Node authorizer do its job: the
// system:node role holds NodeRules, and no group or user is bound to it,
// so no node reads a Secret through RBAC.
func TestNodeRoleUnbound(t *testing.T) {
	found := false
	for _, r := range rbac.DefaultClusterRoles() {
		if r.Name == "system:node" {
			found = true
			if !equality.Semantic.DeepEqual(r.Rules, rbac.NodeRules()) {
				t.Errorf("system:node rules differ from NodeRules")
			}
		}
	}
	if !found {
		t.Fatal("no system:node role")
	}
	for _, b := range rbac.DefaultClusterRoleBindings() {
		if b.RoleRef.Name == "system:node" && len(b.Subjects) > 0 {
			t.Errorf("binding %q grants system:node to %v", b.Name, b.Subjects)
		}
	}
}
