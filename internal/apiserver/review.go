package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// serveReview answers a create of a review kind (access reviews, rules
// reviews, self and token reviews): the request's object comes back with
// its status filled in, and nothing is stored.
func (h *handler) serveReview(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || h.t.name != "" || h.t.subresource != "" {
		writeStatus(w, r, toStatus(errMethodNotAllowed(r.Method), h.rs.gr(), h.t.name))
		return
	}
	obj := h.rs.served.New()
	if err := h.decodeBody(r, obj); err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	if err := h.checkBodyKind(obj); err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	ctx := r.Context()
	u := userFrom(ctx)
	if u == nil {
		u = &user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	}
	var err error
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		err = h.s.reviewAccess(ctx, u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes, &o.Status, h.rs.served.GVK.Kind)
	case *authorizationv1.SubjectAccessReview:
		err = h.s.subjectAccessReview(ctx, o.Spec, "", &o.Status, h.rs.served.GVK.Kind)
	case *authorizationv1.LocalSubjectAccessReview:
		err = h.s.subjectAccessReview(ctx, o.Spec, h.t.namespace, &o.Status, h.rs.served.GVK.Kind)
		o.Namespace = h.t.namespace
	case *authorizationv1.SelfSubjectRulesReview:
		h.s.reviewRules(ctx, u, o)
	case *authenticationv1.SelfSubjectReview:
		o.Status.UserInfo = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		if len(u.Extra) > 0 {
			o.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range u.Extra {
				o.Status.UserInfo.Extra[k] = v
			}
		}
	case *authenticationv1.TokenReview:
		h.s.reviewToken(ctx, o)
	default:
		err = errMethodNotAllowed(r.Method)
	}
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	h.respond(w, r, http.StatusCreated, obj)
}

// reviewAccess answers whether u may do what exactly one of ra and nra
// describes.
func (s *Server) reviewAccess(ctx context.Context, u *user.Info, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes, status *authorizationv1.SubjectAccessReviewStatus, kind string) error {
	spec := field.NewPath("spec")
	switch {
	case ra != nil && nra != nil:
		return errInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), "", field.ErrorList{
			field.Invalid(spec.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes")})
	case ra == nil && nra == nil:
		return errInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), "", field.ErrorList{
			field.Invalid(spec.Child("resourceAttributes"), nil, "exactly one of nonResourceAttributes or resourceAttributes must be specified")})
	}
	a := authorizer.Attributes{User: *u}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.APIGroup, a.APIVersion = ra.Verb, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Namespace, a.Name = ra.Resource, ra.Subresource, ra.Namespace, ra.Name
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	*status = authorizationv1.SubjectAccessReviewStatus{}
	if s.cfg.Authorizer == nil {
		status.Allowed = true
		return nil
	}
	d, reason, err := s.cfg.Authorizer.Authorize(ctx, a)
	status.Allowed = d == authorizer.Allow
	status.Denied = d == authorizer.Deny
	status.Reason = reason
	if err != nil {
		status.EvaluationError = err.Error()
	}
	return nil
}

// subjectAccessReview answers for the user the spec names. A local review
// (namespace set) must ask about that namespace only.
func (s *Server) subjectAccessReview(ctx context.Context, spec authorizationv1.SubjectAccessReviewSpec, namespace string, status *authorizationv1.SubjectAccessReviewStatus, kind string) error {
	gk := authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind()
	path := field.NewPath("spec")
	if spec.User == "" && len(spec.Groups) == 0 {
		return errInvalid(gk, "", field.ErrorList{field.Invalid(path.Child("user"), spec.User, "at least one of user or group must be specified")})
	}
	if namespace != "" {
		if spec.NonResourceAttributes != nil {
			return errInvalid(gk, "", field.ErrorList{field.Invalid(path.Child("nonResourceAttributes"), spec.NonResourceAttributes, "disallowed on this kind of request")})
		}
		if spec.ResourceAttributes != nil {
			if spec.ResourceAttributes.Namespace == "" {
				spec.ResourceAttributes.Namespace = namespace
			} else if spec.ResourceAttributes.Namespace != namespace {
				return errInvalid(gk, "", field.ErrorList{field.Invalid(path.Child("resourceAttributes", "namespace"), spec.ResourceAttributes.Namespace, "must match metadata.namespace")})
			}
		}
	}
	u := &user.Info{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return s.reviewAccess(ctx, u, spec.ResourceAttributes, spec.NonResourceAttributes, status, kind)
}

// reviewRules lists what u may do in the review's namespace, as
// `kubectl auth can-i --list` prints it.
func (s *Server) reviewRules(ctx context.Context, u *user.Info, o *authorizationv1.SelfSubjectRulesReview) {
	o.Status = authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	if s.cfg.RuleResolver == nil {
		o.Status.Incomplete = true
		o.Status.EvaluationError = "this server cannot list rules"
		return
	}
	resource, nonResource, incomplete, err := s.cfg.RuleResolver.RulesFor(ctx, *u, o.Spec.Namespace)
	for _, r := range resource {
		o.Status.ResourceRules = append(o.Status.ResourceRules, resourceRule(r))
	}
	for _, r := range nonResource {
		o.Status.NonResourceRules = append(o.Status.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
	}
	o.Status.Incomplete = incomplete
	if err != nil {
		o.Status.EvaluationError = err.Error()
	}
}

func resourceRule(r rbacv1.PolicyRule) authorizationv1.ResourceRule {
	return authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames}
}

// reviewToken says whom a token authenticates, for webhook-style token
// checks from outside the server.
func (s *Server) reviewToken(ctx context.Context, o *authenticationv1.TokenReview) {
	o.Status = authenticationv1.TokenReviewStatus{}
	if s.cfg.TokenAuthenticator == nil || o.Spec.Token == "" {
		o.Status.Error = "no token authenticator is configured"
		if o.Spec.Token == "" {
			o.Status.Error = "token is empty"
		}
		return
	}
	u, ok, err := s.cfg.TokenAuthenticator.AuthenticateToken(ctx, o.Spec.Token)
	if err != nil {
		o.Status.Error = err.Error()
		return
	}
	if !ok {
		return
	}
	o.Status.Authenticated = true
	o.Status.Audiences = o.Spec.Audiences
	o.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		o.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			o.Status.User.Extra[k] = v
		}
	}
}
