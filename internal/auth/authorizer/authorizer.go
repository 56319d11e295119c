// Package authorizer owns the contract between the API server and the
// parts that decide whether a request may proceed: the attributes of a
// request, the three-valued decision, the chain that asks authorizers in
// order, and the resolver interface SelfSubjectRulesReview lists rules
// through. It holds no policy of its own beyond the system:masters bypass.
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Attributes describe one request as authorization sees it.
type Attributes struct {
	User user.Info
	// Verb is the API verb (get, list, watch, create, update, patch,
	// delete, deletecollection, or a custom one such as impersonate) for
	// a resource request, or the lower-case HTTP method for any other.
	Verb string
	// ResourceRequest tells a request for an API object apart from one
	// for a plain path such as /healthz; only Verb and Path matter then.
	ResourceRequest bool
	APIGroup        string
	APIVersion      string
	Resource        string
	Subresource     string
	// Namespace is empty for cluster-scoped resources and for requests
	// across all namespaces.
	Namespace string
	// Name is empty for collection requests (list, watch, create,
	// deletecollection).
	Name string
	Path string
	// FieldSelector is a list's or watch's field selector, parsed; nil
	// when there is none. A selector of metadata.name=NAME also sets Name.
	FieldSelector fields.Requirements
}

// Decision is an authorizer's answer.
type Decision int

const (
	// NoOpinion lets the next authorizer decide; if none does, the
	// request is denied.
	NoOpinion Decision = iota
	Allow
	// Deny ends the chain: later authorizers are not asked.
	Deny
)

func (d Decision) String() string {
	switch d {
	case NoOpinion:
		return "NoOpinion"
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Authorizer decides on one request. The reason is for people (audit
// logs, SubjectAccessReview status, Forbidden messages) and may be empty.
// An error means the authorizer could not consult all it needed; the
// decision returned with it still stands (an RBAC authorizer missing one
// role may allow through another), and a caller treating the error as a
// denial is always safe.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, string, error)
}

// Func adapts a function to Authorizer.
type Func func(ctx context.Context, a Attributes) (Decision, string, error)

// Authorize calls f.
func (f Func) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	return f(ctx, a)
}

// RuleResolver lists the rules a user holds in a namespace, for
// SelfSubjectRulesReview. Cluster-wide rules come with every namespace.
// incomplete is true when some rules could not be resolved (a binding
// naming a missing role); err then says why. The caller owns the returned
// slices but must not modify the rules in them: they are shared with the
// informer caches.
type RuleResolver interface {
	RulesFor(ctx context.Context, u user.Info, namespace string) (resourceRules, nonResourceRules []rbacv1.PolicyRule, incomplete bool, err error)
}

type union []Authorizer

// Union asks each authorizer in turn; the first Allow or Deny is the
// answer. Reasons from authorizers without an opinion are joined into the
// final NoOpinion's reason, and their errors are returned with it, so a
// denial still says what went wrong on the way.
func Union(authorizers ...Authorizer) Authorizer {
	return union(slices.Clone(authorizers))
}

func (u union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons []string
	var errs []error
	for _, z := range u {
		d, reason, err := z.Authorize(ctx, a)
		if d == Allow || d == Deny {
			return d, reason, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
	}
	return NoOpinion, strings.Join(reasons, "; "), errors.Join(errs...)
}

// Privileged allows every request from a member of system:masters and
// has no opinion on anyone else. It comes first in the chain so that an
// administrator can repair a broken RBAC policy.
var Privileged Authorizer = Func(func(_ context.Context, a Attributes) (Decision, string, error) {
	if slices.Contains(a.User.Groups, user.SystemPrivilegedGroup) {
		return Allow, "", nil
	}
	return NoOpinion, "", nil
})
