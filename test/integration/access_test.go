package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// tokenKubeconfig writes a kubeconfig that authenticates with token
// alone, without a client certificate.
func tokenKubeconfig(t *testing.T, s *testserver.Server, token string) *kubectl {
	t.Helper()
	ca := base64.StdEncoding.EncodeToString(s.Config.TLSClientConfig.CAData)
	userBlock := "  user:\n    token: " + token + "\n"
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u
%scontexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`, s.Config.Host, ca, userBlock)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubectl{kubeconfig: path, cacheDir: t.TempDir(), tmpDir: t.TempDir()}
}

// waitAllowed waits until RBAC (read from informers) lets user in groups
// do verb on resource in namespace, so that a binding just created has
// reached the authorizer.
func waitAllowed(t *testing.T, s *testserver.Server, userName string, groups []string, verb, group, resource, namespace string) {
	t.Helper()
	pollUntil(t, 10*time.Second, fmt.Sprintf("%s may %s %s in %q", userName, verb, resource, namespace), func() (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: userName, Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: namespace},
		}}
		got, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.Allowed, nil
	})
}

// TestAccessMatrix drives real kubectl with bearer tokens (a static
// token file and a service account token from `kubectl create token`)
// and with --as/--as-group through the access a team is given: its
// namespace and nothing else, 403 with Kubernetes' message outside it,
// 401 without credentials, and `kubectl auth can-i` answering for
// anyone.
func TestAccessMatrix(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(
		"alice-token-0123456789,alice,1001,\"team-devs,staff\"\n"+
			"bob-token-0123456789,bob,1002\n"+
			"carol-token-0123456789,carol,1003\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, admin := startKubectl(t, testserver.Options{
		// The aggregation controller fills in edit and view.
		Controllers: true,
		Configure:   func(c *server.Config) { c.TokenAuthFile = tokenFile },
	})

	admin.ok(t, "create", "namespace", "team")
	admin.ok(t, "create", "namespace", "other")
	admin.ok(t, "create", "serviceaccount", "dev", "-n", "team")
	admin.ok(t, "create", "role", "dev", "-n", "team", "--verb=get,list,watch,create,delete", "--resource=pods,configmaps,deployments.apps")
	admin.ok(t, "create", "rolebinding", "dev", "-n", "team", "--role=dev", "--serviceaccount=team:dev")
	admin.ok(t, "create", "rolebinding", "devs-edit", "-n", "team", "--clusterrole=edit", "--group=team-devs")
	admin.ok(t, "create", "rolebinding", "bob-view", "-n", "team", "--clusterrole=view", "--user=bob")
	admin.ok(t, "create", "rolebinding", "carol-admin", "-n", "team", "--clusterrole=admin", "--user=carol")
	admin.ok(t, "create", "configmap", "settings", "-n", "other", "--from-literal=k=v")
	waitAllowed(t, s, "system:serviceaccount:team:dev", []string{"system:serviceaccounts", "system:serviceaccounts:team"}, "delete", "", "configmaps", "team")
	waitAllowed(t, s, "alice", []string{"team-devs"}, "create", "apps", "deployments", "team")
	waitAllowed(t, s, "bob", nil, "list", "", "pods", "team")
	waitAllowed(t, s, "carol", nil, "create", "rbac.authorization.k8s.io", "rolebindings", "team")

	token := strings.TrimSpace(admin.ok(t, "create", "token", "dev", "-n", "team"))
	dev := tokenKubeconfig(t, s, token)
	alice := tokenKubeconfig(t, s, "alice-token-0123456789")
	bob := tokenKubeconfig(t, s, "bob-token-0123456789")
	carol := tokenKubeconfig(t, s, "carol-token-0123456789")
	forger := tokenKubeconfig(t, s, "not-a-valid-token-at-all")

	const devUser = "system:serviceaccount:team:dev"
	cases := []struct {
		who  string
		k    *kubectl
		args []string
		// forbidden is the message kubectl prints after "Error from
		// server (Forbidden): ", or "" when the command must succeed.
		forbidden string
	}{
		{"dev", dev, []string{"get", "pods", "-n", "team"}, ""},
		{"dev", dev, []string{"create", "configmap", "c1", "-n", "team", "--from-literal=a=b"}, ""},
		{"dev", dev, []string{"get", "configmap", "c1", "-n", "team"}, ""},
		{"dev", dev, []string{"delete", "configmap", "c1", "-n", "team"}, ""},
		{"dev", dev, []string{"create", "deployment", "web", "-n", "team", "--image=bosun.test/testserver:1"}, ""},
		{"dev", dev, []string{"get", "pods", "-n", "other"},
			`pods is forbidden: User "` + devUser + `" cannot list resource "pods" in API group "" in the namespace "other"`},
		{"dev", dev, []string{"get", "configmap", "settings", "-n", "other"},
			`configmaps "settings" is forbidden: User "` + devUser + `" cannot get resource "configmaps" in API group "" in the namespace "other"`},
		{"dev", dev, []string{"get", "secrets", "-n", "team"},
			`secrets is forbidden: User "` + devUser + `" cannot list resource "secrets" in API group "" in the namespace "team"`},
		{"dev", dev, []string{"get", "nodes"},
			`nodes is forbidden: User "` + devUser + `" cannot list resource "nodes" in API group "" at the cluster scope`},
		{"dev", dev, []string{"create", "namespace", "mine"},
			`namespaces is forbidden: User "` + devUser + `" cannot create resource "namespaces" in API group "" at the cluster scope`},
		{"dev", dev, []string{"get", "deployments.apps", "-n", "kube-system"},
			`deployments.apps is forbidden: User "` + devUser + `" cannot list resource "deployments" in API group "apps" in the namespace "kube-system"`},
		{"dev", dev, []string{"get", "pods", "-n", "team", "--as=alice"},
			`users "alice" is forbidden: User "` + devUser + `" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{"alice", alice, []string{"create", "deployment", "api", "-n", "team", "--image=bosun.test/testserver:1"}, ""},
		{"alice", alice, []string{"get", "secrets", "-n", "team"}, ""},
		{"alice", alice, []string{"create", "deployment", "api", "-n", "other", "--image=bosun.test/testserver:1"},
			`deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" in the namespace "other"`},
		{"alice", alice, []string{"create", "rolebinding", "x", "-n", "team", "--clusterrole=admin", "--user=alice"},
			`rolebindings.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team"`},
		{"bob", bob, []string{"get", "pods,deployments", "-n", "team"}, ""},
		{"bob", bob, []string{"create", "configmap", "c2", "-n", "team"},
			`configmaps is forbidden: User "bob" cannot create resource "configmaps" in API group "" in the namespace "team"`},
		{"bob", bob, []string{"get", "secrets", "-n", "team"},
			`secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "team"`},
		// A namespace admin hands out what they hold, and nothing more.
		{"carol", carol, []string{"create", "rolebinding", "dave-view", "-n", "team", "--clusterrole=view", "--user=dave"}, ""},
		{"carol", carol, []string{"create", "role", "pod-reader", "-n", "team", "--verb=get,list", "--resource=pods"}, ""},
		{"carol", carol, []string{"create", "rolebinding", "carol-all", "-n", "team", "--clusterrole=cluster-admin", "--user=carol"},
			`rolebindings.rbac.authorization.k8s.io "carol-all" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`},
		{"carol", carol, []string{"create", "role", "node-reader", "-n", "team", "--verb=get", "--resource=nodes"},
			`roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`},
		{"carol", carol, []string{"create", "rolebinding", "carol-other", "-n", "other", "--clusterrole=view", "--user=carol"},
			`rolebindings.rbac.authorization.k8s.io is forbidden: User "carol" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "other"`},
		{"bob", bob, []string{"get", "--raw", "/metrics-not-here"},
			`forbidden: User "bob" cannot get path "/metrics-not-here"`},
	}
	for _, tc := range cases {
		r := tc.k.run(t, tc.args...)
		what := tc.who + ": kubectl " + strings.Join(tc.args, " ")
		switch {
		case tc.forbidden == "" && r.code != 0:
			t.Errorf("%s: exit %d, want success\nstderr: %s", what, r.code, r.stderr)
		case tc.forbidden != "" && r.code == 0:
			t.Errorf("%s: succeeded, want Forbidden\nstdout: %s", what, r.stdout)
		case tc.forbidden != "" && !strings.Contains(r.stderr, tc.forbidden):
			// kubectl get prints "Error from server (Forbidden): MSG",
			// kubectl create "error: failed to create KIND: MSG".
			t.Errorf("%s: stderr\n%s\nwant the message\n%s", what, r.stderr, tc.forbidden)
		}
	}

	// Credentials nobody issued, or none at all: 401, for every path but
	// the health checks.
	r := forger.run(t, "get", "pods", "-n", "team")
	if r.code == 0 || !strings.Contains(r.stderr, "You must be logged in to the server") {
		t.Errorf("kubectl get pods with a forged token: exit %d, stderr %s; want Unauthorized", r.code, r.stderr)
	}
	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, s)}}}
	defer anonymous.CloseIdleConnections()
	for path, want := range map[string]int{
		"/api/v1/namespaces/team/pods": http.StatusUnauthorized,
		"/apis":                        http.StatusUnauthorized,
		"/readyz":                      http.StatusOK,
		"/version":                     http.StatusOK,
	} {
		resp, err := anonymous.Get(s.Config.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without credentials: %d %s, want %d", path, resp.StatusCode, body, want)
		}
		if want == http.StatusUnauthorized && !strings.Contains(string(body), `"reason":"Unauthorized"`) {
			t.Errorf("GET %s without credentials: body %s, want a Status with reason Unauthorized", path, body)
		}
	}

	// kubectl auth can-i answers truthfully for anyone: the caller itself,
	// and others through --as and --as-group.
	canI := []struct {
		k    *kubectl
		args []string
		want string
	}{
		{dev, []string{"list", "pods", "-n", "team"}, "yes"},
		{dev, []string{"list", "pods", "-n", "other"}, "no"},
		{dev, []string{"get", "secrets", "-n", "team"}, "no"},
		{admin, []string{"create", "deployments.apps", "-n", "team", "--as=" + devUser}, "yes"},
		{admin, []string{"create", "deployments.apps", "-n", "other", "--as=" + devUser}, "no"},
		{admin, []string{"get", "secrets", "-n", "team", "--as=erin", "--as-group=team-devs"}, "yes"},
		{admin, []string{"get", "secrets", "-n", "team", "--as=erin"}, "no"},
		{admin, []string{"delete", "nodes", "--as=bob"}, "no"},
		{admin, []string{"delete", "nodes"}, "yes"},
		{bob, []string{"watch", "deployments.apps", "-n", "team"}, "yes"},
	}
	for _, c := range canI {
		r := c.k.run(t, append([]string{"auth", "can-i"}, c.args...)...)
		if got := strings.TrimSpace(r.stdout); got != c.want {
			t.Errorf("kubectl auth can-i %s = %q (exit %d, stderr %s), want %s", strings.Join(c.args, " "), got, r.code, r.stderr, c.want)
		}
	}

	// --list shows the rules that apply in the namespace.
	list := dev.ok(t, "auth", "can-i", "--list", "-n", "team")
	for _, want := range []string{"pods ", "configmaps ", "deployments.apps ", "selfsubjectaccessreviews.authorization.k8s.io"} {
		if !strings.Contains(list, want) {
			t.Errorf("kubectl auth can-i --list -n team lacks %q:\n%s", want, list)
		}
	}

	// whoami names the token's user and groups.
	who := dev.ok(t, "auth", "whoami")
	for _, want := range []string{devUser, "system:serviceaccounts:team", "system:authenticated"} {
		if !strings.Contains(who, want) {
			t.Errorf("kubectl auth whoami lacks %q:\n%s", want, who)
		}
	}
	who = admin.ok(t, "auth", "whoami", "--as=alice", "--as-group=staff")
	if !strings.Contains(who, "alice") || !strings.Contains(who, "staff") {
		t.Errorf("kubectl auth whoami --as=alice --as-group=staff:\n%s", who)
	}
}

// caPool is the pool of the test server's CA.
func caPool(t *testing.T, s *testserver.Server) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Config.TLSClientConfig.CAData) {
		t.Fatal("the test server's CA does not parse")
	}
	return pool
}
