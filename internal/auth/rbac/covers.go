package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
)

// Uncovered returns the parts of requested that owner's rules do not
// grant, each as a rule for one verb, group, resource and name (or one
// verb and URL): what a user would give away without holding it by
// writing a role with requested or binding a role holding it. A wildcard
// in requested is covered only by a wildcard in owner.
func Uncovered(owner []rbacv1.PolicyRule, requested []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	allowed := func(a *authorizer.Attributes) bool {
		for i := range owner {
			if RuleAllows(a, &owner[i]) {
				return true
			}
		}
		return false
	}
	for _, r := range requested {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				if !allowed(&authorizer.Attributes{Verb: verb, Path: url}) {
					out = append(out, rbacv1.PolicyRule{Verbs: []string{verb}, NonResourceURLs: []string{url}})
				}
			}
			for _, group := range r.APIGroups {
				for _, res := range r.Resources {
					resource, sub, _ := strings.Cut(res, "/")
					names := r.ResourceNames
					if len(names) == 0 {
						names = []string{""}
					}
					for _, name := range names {
						a := authorizer.Attributes{ResourceRequest: true, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
						if !allowed(&a) {
							u := rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{group}, Resources: []string{res}}
							if name != "" {
								u.ResourceNames = []string{name}
							}
							out = append(out, u)
						}
					}
				}
			}
		}
	}
	return out
}
