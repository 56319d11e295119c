package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Extra keys a service account token's Info carries, as Kubernetes names
// them; the Node authorizer and audit read them.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// deletedPodGrace is how long a token bound to a pod being deleted keeps
// working, so the pod can finish its shutdown calls; Kubernetes allows the
// same minute.
const deletedPodGrace = 60 * time.Second

// ObjectGetter fetches the objects a service account token names. Errors
// for missing objects must satisfy apierrors.IsNotFound. An informer
// lister may lag behind a just-created pod; a getter that falls back to
// storage on a miss avoids refusing its first token.
type ObjectGetter interface {
	GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(namespace, name string) (*corev1.Pod, error)
	GetSecret(namespace, name string) (*corev1.Secret, error)
}

// Listers is an ObjectGetter reading informer caches.
type Listers struct {
	ServiceAccounts corev1listers.ServiceAccountLister
	Pods            corev1listers.PodLister
	Secrets         corev1listers.SecretLister
}

// GetServiceAccount reads the service account cache.
func (l Listers) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	return l.ServiceAccounts.ServiceAccounts(namespace).Get(name)
}

// GetPod reads the pod cache.
func (l Listers) GetPod(namespace, name string) (*corev1.Pod, error) {
	return l.Pods.Pods(namespace).Get(name)
}

// GetSecret reads the secret cache.
func (l Listers) GetSecret(namespace, name string) (*corev1.Secret, error) {
	return l.Secrets.Secrets(namespace).Get(name)
}

// ServiceAccountTokens authenticates the JWTs Issuer signs, as long as
// what they name is still there: the service account with the UID in the
// token, and the pod or secret it is bound to. Deleting any of them
// revokes the token.
type ServiceAccountTokens struct {
	Issuer  *serviceaccount.Issuer
	Objects ObjectGetter
	// Audiences is what the server accepts tokens for; a token must name
	// at least one. Nil means serviceaccount.DefaultAudiences().
	Audiences []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// AuthenticateToken has no opinion on a token that is not a JWT of
// Issuer; it fails for a forged, expired or revoked one, or one meant for
// another audience.
func (a *ServiceAccountTokens) AuthenticateToken(_ context.Context, token string) (*user.Info, bool, error) {
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	c, err := a.Issuer.Verify(token, now)
	if errors.Is(err, serviceaccount.ErrNotOurs) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	auds := a.Audiences
	if auds == nil {
		auds = serviceaccount.DefaultAudiences()
	}
	if !slices.ContainsFunc(c.Audiences, func(s string) bool { return slices.Contains(auds, s) }) {
		return nil, false, fmt.Errorf("token audiences %q are invalid for the target audiences %q", c.Audiences, auds)
	}
	if err := a.checkLive(c, now); err != nil {
		return nil, false, fmt.Errorf("service account token of %s/%s has been invalidated: %w", c.Namespace, c.ServiceAccountName, err)
	}
	info := &user.Info{
		Name:   c.Username(),
		UID:    c.ServiceAccountUID,
		Groups: authenticated(user.ServiceAccountGroups(c.Namespace)),
		Extra:  map[string][]string{},
	}
	if c.BoundPod != nil {
		info.Extra[ExtraPodName] = []string{c.BoundPod.Name}
		info.Extra[ExtraPodUID] = []string{c.BoundPod.UID}
	}
	if c.ID != "" {
		info.Extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	return info, true, nil
}

// checkLive checks the objects the claims name against the cluster.
func (a *ServiceAccountTokens) checkLive(c *serviceaccount.Claims, now time.Time) error {
	sa, err := a.Objects.GetServiceAccount(c.Namespace, c.ServiceAccountName)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	if sa.DeletionTimestamp != nil {
		return errors.New("service account is being deleted")
	}
	if string(sa.UID) != c.ServiceAccountUID {
		return fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccountUID)
	}
	// A bound token stays good for a short grace after its object is
	// marked for deletion, so a terminating pod can still report in.
	cutoff := now.Add(-deletedPodGrace)
	if r := c.BoundPod; r != nil {
		pod, err := a.Objects.GetPod(c.Namespace, r.Name)
		if err != nil {
			return fmt.Errorf("bound pod: %w", err)
		}
		if string(pod.UID) != r.UID {
			return fmt.Errorf("pod UID (%s) does not match claim (%s)", pod.UID, r.UID)
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(cutoff) {
			return fmt.Errorf("bound pod %s was deleted", r.Name)
		}
	}
	if r := c.BoundSecret; r != nil {
		s, err := a.Objects.GetSecret(c.Namespace, r.Name)
		if err != nil {
			return fmt.Errorf("bound secret: %w", err)
		}
		if string(s.UID) != r.UID {
			return fmt.Errorf("secret UID (%s) does not match claim (%s)", s.UID, r.UID)
		}
		if s.DeletionTimestamp != nil && s.DeletionTimestamp.Time.Before(cutoff) {
			return fmt.Errorf("bound secret %s was deleted", r.Name)
		}
	}
	return nil
}

// Authenticate checks r's bearer token.
func (a *ServiceAccountTokens) Authenticate(r *http.Request) (*user.Info, bool, error) {
	return authenticateBearer(r, a)
}
