package apiserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/storage"
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// requestToken serves serviceaccounts/NAME/token: it signs a token for the
// ServiceAccount, optionally bound to a Pod or Secret of its namespace,
// and answers the TokenRequest with status.token filled in. Nothing is
// stored.
func (h *handler) requestToken(ctx context.Context, r *http.Request) (runtime.Object, error) {
	iss := h.s.cfg.TokenIssuer
	if iss == nil {
		return nil, newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "the TokenRequest API is not enabled: the server has no service account signing key")
	}
	q := r.URL.Query()
	if err := validDryRun(q); err != nil {
		return nil, err
	}
	var req authenticationv1.TokenRequest
	if err := h.decodeBody(r, &req); err != nil {
		return nil, err
	}
	if gvk := req.GetObjectKind().GroupVersionKind(); gvk.Kind != "" && gvk != tokenRequestGVK {
		return nil, errBadRequest("the kind of the provided object %q does not match the kind of the endpoint %q", gvk.GroupVersion().WithKind(gvk.Kind).String(), tokenRequestGVK.String())
	}
	ns, name := h.t.namespace, h.t.name
	// Name and namespace in the body may be left out, but when given must
	// be the URL's.
	var errs field.ErrorList
	if req.Name != "" && req.Name != name {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified"))
	}
	if req.Namespace != "" && req.Namespace != ns {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified"))
	}
	if len(errs) > 0 {
		return nil, errInvalid(tokenRequestGVK.GroupKind(), name, errs)
	}

	obj, _, err := h.rs.get(ctx, h.s.store, ns, name)
	if err != nil {
		return nil, err
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, errBadRequest("the token subresource belongs to serviceaccounts")
	}
	if err := h.s.admitNodeWrite(ctx, h.rs.gr(), "create", "token", ns, name, &req, nil); err != nil {
		return nil, err
	}
	bound, err := h.s.tokenBoundObject(ctx, ns, name, req.Spec.BoundObjectRef)
	if err != nil {
		return nil, err
	}
	out, err := iss.TokenRequest(sa, &req, bound, time.Now())
	if err != nil {
		return nil, err
	}
	// The answer names the account it was issued for, as Kubernetes'
	// does, whatever the request body left out.
	out.Name, out.Namespace = name, ns
	out.CreationTimestamp = metav1.Time{}
	setTypeMeta(out, tokenRequestGVK)
	return out, nil
}

// tokenBoundObject fetches the Pod or Secret a TokenRequest's
// boundObjectRef names, or nil when it names none. An object that does not
// exist is nil too: the issuer answers that with Kubernetes' NotFound, and
// a kind it cannot bind to with BadRequest.
func (s *Server) tokenBoundObject(ctx context.Context, ns, saName string, ref *authenticationv1.BoundObjectReference) (metav1.Object, error) {
	if ref == nil {
		return nil, nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != "" || (ref.Kind != "Pod" && ref.Kind != "Secret") {
		// The issuer refuses it with the reason.
		return nil, nil
	}
	if ref.Name == "" {
		return nil, errInvalid(tokenRequestGVK.GroupKind(), saName, field.ErrorList{field.Required(field.NewPath("spec", "boundObjectRef", "name"), "")})
	}
	rs := s.byGVK[corev1.SchemeGroupVersion.WithKind(ref.Kind)]
	if rs == nil {
		return nil, nil
	}
	obj, _, err := rs.get(ctx, s.store, ns, ref.Name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return o, nil
	case *corev1.Secret:
		return o, nil
	}
	return nil, nil
}
