package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/audit"
	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// userKey carries the user a request acts as (after impersonation).
type userKey struct{}

func withUser(ctx context.Context, u *user.Info) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// userFrom returns the user a request acts as, or nil outside a request.
func userFrom(ctx context.Context) *user.Info {
	u, _ := ctx.Value(userKey{}).(*user.Info)
	return u
}

// The headers a client impersonates another user with, as kubectl's
// --as, --as-group and --as-uid send them.
const (
	headerImpersonateUser        = "Impersonate-User"
	headerImpersonateGroup       = "Impersonate-Group"
	headerImpersonateUID         = "Impersonate-Uid"
	headerImpersonateExtraPrefix = "Impersonate-Extra-"
)

// authorize asks the authorizer about a; nil means allowed. A refusal is
// the Forbidden status Kubernetes answers, with its message.
func (s *Server) authorize(ctx context.Context, a *authorizer.Attributes) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	d, reason, err := s.cfg.Authorizer.Authorize(ctx, *a)
	if d == authorizer.Allow {
		return nil
	}
	if err != nil {
		s.log.Debug("authorization error", "user", a.User.Name, "verb", a.Verb, "resource", a.Resource, "err", err)
	}
	return forbidden(a, reason)
}

// forbidden is the 403 of a request the authorizer did not allow, worded
// as kube-apiserver words it so that tools matching on it keep working.
func forbidden(a *authorizer.Attributes, reason string) error {
	msg := forbiddenMessage(a)
	if reason != "" {
		msg += ": " + reason
	}
	gr := schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}
	if !a.ResourceRequest {
		gr = schema.GroupResource{}
	}
	return apierrors.NewForbidden(gr, a.Name, errors.New(msg))
}

func forbiddenMessage(a *authorizer.Attributes) string {
	name := a.User.Name
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, resource, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, resource, a.APIGroup)
}

// authorizerAttributes turns the request's attributes into the
// authorizer's, for user u.
func authorizerAttributes(ra *requestAttributes, u *user.Info) authorizer.Attributes {
	return authorizer.Attributes{
		User:            *u,
		Verb:            ra.verb,
		ResourceRequest: ra.resourceRequest,
		APIGroup:        ra.apiGroup,
		APIVersion:      ra.apiVersion,
		Resource:        ra.resource,
		Subresource:     ra.subresource,
		Namespace:       ra.namespace,
		Name:            ra.name,
		Path:            ra.path,
		FieldSelector:   ra.fieldSelector,
	}
}

// impersonate returns the user r asks to act as with the Impersonate-*
// headers, after checking that u may impersonate each part of it, or nil
// when r impersonates nobody. The headers are removed from r.
func (s *Server) impersonate(ctx context.Context, r *http.Request, u *user.Info) (*user.Info, error) {
	h := r.Header
	name := h.Get(headerImpersonateUser)
	groups := h.Values(headerImpersonateGroup)
	uid := h.Get(headerImpersonateUID)
	extra := map[string][]string{}
	for k, v := range h {
		key, ok := strings.CutPrefix(k, headerImpersonateExtraPrefix)
		if !ok {
			continue
		}
		// Header names are canonicalised; extra keys are lower case and
		// may be percent-encoded, as client-go sends them.
		dec, err := url.PathUnescape(strings.ToLower(key))
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("impersonation extra key %q: %v", key, err))
		}
		extra[dec] = append(extra[dec], v...)
	}
	_, hasUser := h[headerImpersonateUser]
	if !hasUser && len(groups) == 0 && uid == "" && len(extra) == 0 {
		return nil, nil
	}
	if name == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("requested %s without impersonating a user", describeImpersonation(groups, uid, extra)))
	}

	check := func(a authorizer.Attributes) error {
		a.User, a.Verb, a.ResourceRequest = *u, "impersonate", true
		return s.authorize(ctx, &a)
	}
	out := &user.Info{Name: name, UID: uid}
	if ns, sa, err := user.ParseServiceAccountUsername(name); err == nil {
		if err := check(authorizer.Attributes{Resource: "serviceaccounts", Namespace: ns, Name: sa, APIVersion: "v1"}); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			// A service account's groups come with it, unless the
			// caller names the groups itself.
			out.Groups = user.ServiceAccountGroups(ns)
		}
	} else if err := check(authorizer.Attributes{Resource: "users", Name: name, APIVersion: "v1"}); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check(authorizer.Attributes{Resource: "groups", Name: g, APIVersion: "v1"}); err != nil {
			return nil, err
		}
		if !slices.Contains(out.Groups, g) {
			out.Groups = append(out.Groups, g)
		}
	}
	if uid != "" {
		if err := check(authorizer.Attributes{APIGroup: "authentication.k8s.io", APIVersion: "v1", Resource: "uids", Name: uid}); err != nil {
			return nil, err
		}
	}
	for k, vs := range extra {
		for _, v := range vs {
			if err := check(authorizer.Attributes{APIGroup: "authentication.k8s.io", APIVersion: "v1", Resource: "userextras", Subresource: k, Name: v}); err != nil {
				return nil, err
			}
		}
	}
	if len(extra) > 0 {
		out.Extra = extra
	}
	// As in Kubernetes, an impersonated user is authenticated unless it
	// is the anonymous user, whatever groups were asked for.
	switch {
	case name == user.Anonymous:
		if !slices.Contains(out.Groups, user.AllUnauthenticated) {
			out.Groups = append(out.Groups, user.AllUnauthenticated)
		}
	case !slices.Contains(out.Groups, user.AllAuthenticated):
		out.Groups = append(out.Groups, user.AllAuthenticated)
	}
	for k := range h {
		if strings.HasPrefix(k, "Impersonate-") {
			h.Del(k)
		}
	}
	return out, nil
}

func describeImpersonation(groups []string, uid string, extra map[string][]string) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, "group "+g)
	}
	if uid != "" {
		parts = append(parts, "uid "+uid)
	}
	for k := range extra {
		parts = append(parts, "extra "+k)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// auditUser is how an audit event names u.
func auditUser(u *user.Info) *audit.UserInfo {
	return &audit.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
}
