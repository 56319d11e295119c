package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
)

// RuleAllows reports whether rule grants the request a. Resource requests
// need the verb, API group, resource (with subresource) and name to match;
// other requests need the verb and path.
func RuleAllows(a *authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if !verbMatches(rule.Verbs, a.Verb) {
		return false
	}
	if a.ResourceRequest {
		return apiGroupMatches(rule.APIGroups, a.APIGroup) &&
			resourceMatches(rule.Resources, a.Resource, a.Subresource) &&
			resourceNameMatches(rule.ResourceNames, a.Name)
	}
	return nonResourceURLMatches(rule.NonResourceURLs, a.Path)
}

func verbMatches(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb || v == rbacv1.VerbAll {
			return true
		}
	}
	return false
}

func apiGroupMatches(groups []string, group string) bool {
	for _, g := range groups {
		if g == group || g == rbacv1.APIGroupAll {
			return true
		}
	}
	return false
}

// resourceMatches matches "*", the resource itself when there is no
// subresource, "resource/subresource", and "*/subresource". A rule for
// "pods" does not grant "pods/log": subresources are granted by name.
func resourceMatches(rules []string, resource, subresource string) bool {
	for _, r := range rules {
		if r == rbacv1.ResourceAll {
			return true
		}
		if subresource == "" {
			if r == resource {
				return true
			}
			continue
		}
		// r == resource+"/"+subresource, without building the string on
		// every request.
		if len(r) == len(resource)+1+len(subresource) && strings.HasPrefix(r, resource) &&
			r[len(resource)] == '/' && strings.HasSuffix(r, subresource) {
			return true
		}
		if len(r) == 2+len(subresource) && strings.HasPrefix(r, "*/") && strings.HasSuffix(r, subresource) {
			return true
		}
	}
	return false
}

// resourceNameMatches: a rule without names covers every object; a rule
// with names covers only requests naming one of them, so never list,
// watch, create or deletecollection, which carry no name.
func resourceNameMatches(names []string, name string) bool {
	if len(names) == 0 {
		return true
	}
	return name != "" && slices.Contains(names, name)
}

// nonResourceURLMatches matches "*", the exact path, and a path starting
// with a rule's text before its trailing "*". "/healthz*" thus matches
// "/healthz/etcd" and "/healthzzz"; "/healthz/*" does not match "/healthz".
func nonResourceURLMatches(rules []string, path string) bool {
	for _, u := range rules {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}
