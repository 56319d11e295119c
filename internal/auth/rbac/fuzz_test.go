package rbac

import (
	"strings"
	"testing"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// FuzzResourceMatches checks the allocation-free matcher against the
// plain reading of the rules: "*", "resource" without a subresource,
// "resource/subresource", "*/subresource".
func FuzzResourceMatches(f *testing.F) {
	f.Add("pods", "pods", "")
	f.Add("pods/log", "pods", "log")
	f.Add("*/status", "deployments", "status")
	f.Add("pods/", "pods", "")
	f.Add("*/", "pods", "")
	f.Add("a/b/c", "a/b", "c")
	f.Add("a/b/c", "a", "b/c")
	f.Fuzz(func(t *testing.T, ruleResource, resource, subresource string) {
		want := ruleResource == "*"
		if subresource == "" {
			want = want || ruleResource == resource
		} else {
			want = want || ruleResource == resource+"/"+subresource || ruleResource == "*/"+subresource
		}
		if got := resourceMatches([]string{ruleResource}, resource, subresource); got != want {
			t.Fatalf("resourceMatches(%q, %q, %q) = %v, want %v", ruleResource, resource, subresource, got, want)
		}
	})
}

func FuzzNonResourceURLMatches(f *testing.F) {
	f.Add("/healthz", "/healthz")
	f.Add("/api/*", "/api/v1")
	f.Add("/api/*", "/api")
	f.Add("*", "/")
	f.Add("/a**", "/a")
	f.Fuzz(func(t *testing.T, ruleURL, path string) {
		got := nonResourceURLMatches([]string{ruleURL}, path)
		if ruleURL == path || ruleURL == "*" {
			if !got {
				t.Fatalf("%q does not match itself or *", path)
			}
			return
		}
		prefix, starred := strings.CutSuffix(ruleURL, "*")
		want := starred && strings.HasPrefix(path, strings.TrimRight(prefix, "*"))
		if got != want {
			t.Fatalf("nonResourceURLMatches(%q, %q) = %v, want %v", ruleURL, path, got, want)
		}
	})
}

// FuzzIsServiceAccount checks the allocation-free comparison against the
// user name built the ordinary way.
func FuzzIsServiceAccount(f *testing.F) {
	f.Add("system:serviceaccount:team:dev", "team", "dev")
	f.Add("system:serviceaccount:a:b:c", "a:b", "c")
	f.Add("system:serviceaccount:a:b:c", "a", "b:c")
	f.Fuzz(func(t *testing.T, username, namespace, name string) {
		want := username == user.ServiceAccountUsername(namespace, name)
		if got := isServiceAccount(username, namespace, name); got != want {
			t.Fatalf("isServiceAccount(%q, %q, %q) = %v, want %v", username, namespace, name, got, want)
		}
	})
}
