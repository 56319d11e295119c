package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestUncovered(t *testing.T) {
	rule := func(verbs, groups, resources, names []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
	}
	s := func(v ...string) []string { return v }
	owner := []rbacv1.PolicyRule{
		rule(s("get", "list"), s(""), s("pods", "pods/log"), nil),
		rule(s("*"), s("apps"), s("deployments"), nil),
		rule(s("get"), s(""), s("secrets"), s("tls")),
		{Verbs: s("get"), NonResourceURLs: s("/healthz", "/logs/*")},
	}
	cases := []struct {
		name      string
		requested []rbacv1.PolicyRule
		want      int
	}{
		{"same", []rbacv1.PolicyRule{rule(s("get"), s(""), s("pods"), nil)}, 0},
		{"subresource held", []rbacv1.PolicyRule{rule(s("get"), s(""), s("pods/log"), nil)}, 0},
		{"subresource not held", []rbacv1.PolicyRule{rule(s("get"), s(""), s("pods/exec"), nil)}, 1},
		{"wildcard verb held", []rbacv1.PolicyRule{rule(s("*"), s("apps"), s("deployments"), nil)}, 0},
		{"wildcard verb not held", []rbacv1.PolicyRule{rule(s("*"), s(""), s("pods"), nil)}, 1},
		{"wildcard resource", []rbacv1.PolicyRule{rule(s("get"), s(""), s("*"), nil)}, 1},
		{"two verbs one missing", []rbacv1.PolicyRule{rule(s("get", "delete"), s(""), s("pods"), nil)}, 1},
		{"named secret held", []rbacv1.PolicyRule{rule(s("get"), s(""), s("secrets"), s("tls"))}, 0},
		{"all secrets not held", []rbacv1.PolicyRule{rule(s("get"), s(""), s("secrets"), nil)}, 1},
		{"other named secret", []rbacv1.PolicyRule{rule(s("get"), s(""), s("secrets"), s("tls", "db"))}, 1},
		{"url held", []rbacv1.PolicyRule{{Verbs: s("get"), NonResourceURLs: s("/logs/kube.log")}}, 0},
		{"url not held", []rbacv1.PolicyRule{{Verbs: s("get"), NonResourceURLs: s("/metrics")}}, 1},
		{"nothing", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Uncovered(owner, tc.requested); len(got) != tc.want {
				t.Errorf("Uncovered = %v, want %d rules", got, tc.want)
			}
		})
	}
}
