package serviceaccount

import (
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var tokenRequestKind = schema.GroupKind{Group: authenticationv1.GroupName, Kind: "TokenRequest"}

// TokenRequest serves the serviceaccounts/token subresource: it validates
// req for service account sa and returns a copy with the defaults filled
// in (audiences, expirationSeconds) and status.token and
// status.expirationTimestamp set. bound is the object
// req.spec.boundObjectRef names, fetched by the caller — a *corev1.Pod or
// a *corev1.Secret in sa's namespace — or nil when there is no reference.
// Errors are API status errors carrying Kubernetes' messages, ready to be
// served as they are; now is the clock.
func (i *Issuer) TokenRequest(sa *corev1.ServiceAccount, req *authenticationv1.TokenRequest, bound metav1.Object, now time.Time) (*authenticationv1.TokenRequest, error) {
	out := req.DeepCopy()
	spec := &out.Spec
	if spec.ExpirationSeconds == nil {
		d := int64(DefaultExpiration / time.Second)
		spec.ExpirationSeconds = &d
	}
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	switch secs := *spec.ExpirationSeconds; {
	case secs < int64(MinExpiration/time.Second):
		errs = append(errs, field.Invalid(specPath.Child("expirationSeconds"), secs, "may not specify a duration less than 10 minutes"))
	case secs > 1<<32:
		errs = append(errs, field.Invalid(specPath.Child("expirationSeconds"), secs, "may not specify a duration larger than 2^32 seconds"))
	}
	for n, a := range spec.Audiences {
		if a == "" {
			errs = append(errs, field.Invalid(specPath.Child("audiences").Index(n), a, "may not be empty"))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind, sa.Name, errs)
	}
	if len(spec.Audiences) == 0 {
		spec.Audiences = slices.Clone(i.APIAudiences)
	}
	// Kubernetes lowers a too-long request to the cap instead of refusing
	// it, so clients asking for long tokens keep working.
	if *spec.ExpirationSeconds > int64(MaxExpiration/time.Second) {
		d := int64(MaxExpiration / time.Second)
		spec.ExpirationSeconds = &d
	}

	c := Claims{
		Namespace:          sa.Namespace,
		ServiceAccountName: sa.Name,
		ServiceAccountUID:  string(sa.UID),
		Audiences:          spec.Audiences,
		Expiration:         time.Duration(*spec.ExpirationSeconds) * time.Second,
		Now:                func() time.Time { return now },
	}
	if r := spec.BoundObjectRef; r != nil {
		if err := bindTo(&c, sa, r, bound); err != nil {
			return nil, err
		}
		if c.BoundPod != nil && c.Expiration == WarnOnlyExpiration && i.onlyAPIAudiences(spec.Audiences) {
			c.WarnAfter = c.Expiration
			c.Expiration = ExtendedExpiration
		}
	}
	token, err := i.Issue(c)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	out.Status = authenticationv1.TokenRequestStatus{
		Token: token,
		// The asked-for expiry, not an extended one, so clients refresh
		// on the schedule they asked for.
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*spec.ExpirationSeconds) * time.Second).Truncate(time.Second)),
	}
	return out, nil
}

func (i *Issuer) onlyAPIAudiences(auds []string) bool {
	for _, a := range auds {
		if !slices.Contains(i.APIAudiences, a) {
			return false
		}
	}
	return true
}

// bindTo checks reference r against the object the caller fetched for it
// and records the binding in c.
func bindTo(c *Claims, sa *corev1.ServiceAccount, r *authenticationv1.BoundObjectReference, bound metav1.Object) error {
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid bound object reference apiVersion %q: %v", r.APIVersion, err))
	}
	gvk := gv.WithKind(r.Kind)
	var resource string
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		resource = "pods"
	case gvk.Group == "" && gvk.Kind == "Secret":
		resource = "secrets"
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	gr := schema.GroupResource{Resource: resource}
	if isNil(bound) {
		return apierrors.NewNotFound(gr, r.Name)
	}
	if bound.GetName() != r.Name || bound.GetNamespace() != sa.Namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("bound object %s/%s is not the referenced %s %s/%s", bound.GetNamespace(), bound.GetName(), gvk.Kind, sa.Namespace, r.Name))
	}
	if r.UID != "" && bound.GetUID() != r.UID {
		return apierrors.NewConflict(schema.GroupResource{Resource: gvk.Kind}, r.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", r.UID))
	}
	ref := &ObjectRef{Name: bound.GetName(), UID: string(bound.GetUID())}
	switch o := bound.(type) {
	case *corev1.Pod:
		if resource != "pods" {
			return apierrors.NewBadRequest(fmt.Sprintf("bound object reference is a %s, but a pod was given", gvk.Kind))
		}
		if o.Spec.ServiceAccountName != sa.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", sa.Name))
		}
		c.BoundPod = ref
	case *corev1.Secret:
		if resource != "secrets" {
			return apierrors.NewBadRequest(fmt.Sprintf("bound object reference is a %s, but a secret was given", gvk.Kind))
		}
		c.BoundSecret = ref
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to a %T", bound))
	}
	return nil
}

// isNil reports whether o is nil, including a typed nil pointer passed as
// the interface (a caller's `var pod *corev1.Pod`).
func isNil(o metav1.Object) bool {
	switch v := o.(type) {
	case nil:
		return true
	case *corev1.Pod:
		return v == nil
	case *corev1.Secret:
		return v == nil
	}
	return false
}
