package authn

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// The bootstrap token Secret format, as kubeadm writes it.
const (
	BootstrapTokenSecretPrefix = "bootstrap-token-"
	BootstrapTokenUserPrefix   = "system:bootstrap:"
	BootstrappersGroup         = "system:bootstrappers"

	bootstrapKeyTokenID     = "token-id"
	bootstrapKeyTokenSecret = "token-secret"
	bootstrapKeyExpiration  = "expiration"
	bootstrapKeyUsageAuthn  = "usage-bootstrap-authentication"
	bootstrapKeyExtraGroups = "auth-extra-groups"
)

var (
	bootstrapTokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	bootstrapGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
)

// BootstrapTokens authenticates bootstrap tokens, ID.SECRET, against
// Secrets of type bootstrap.kubernetes.io/token named bootstrap-token-ID
// in kube-system. A token authenticates as system:bootstrap:ID in
// system:bootstrappers and the Secret's auth-extra-groups.
type BootstrapTokens struct {
	Secrets corev1listers.SecretLister
	// Now is the clock expiration is checked against; nil means time.Now.
	Now func() time.Time
}

// ParseBootstrapToken splits a token of the form [a-z0-9]{6}.[a-z0-9]{16}.
func ParseBootstrapToken(token string) (id, secret string, ok bool) {
	m := bootstrapTokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// AuthenticateToken has no opinion on a token of another shape or whose
// Secret does not exist; it fails for a wrong secret, an expired token or
// one not meant for authentication.
func (b *BootstrapTokens) AuthenticateToken(_ context.Context, token string) (*user.Info, bool, error) {
	id, secret, ok := ParseBootstrapToken(token)
	if !ok {
		return nil, false, nil
	}
	name := BootstrapTokenSecretPrefix + id
	s, err := b.Secrets.Secrets(metav1.NamespaceSystem).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("bootstrap token %s: %w", id, err)
	}
	if s.DeletionTimestamp != nil || s.Type != corev1.SecretTypeBootstrapToken {
		return nil, false, nil
	}
	// The ID is not secret and the Secret's name already matched it; the
	// comparison that must not leak timing is the secret's.
	if string(s.Data[bootstrapKeyTokenID]) != id ||
		subtle.ConstantTimeCompare(s.Data[bootstrapKeyTokenSecret], []byte(secret)) != 1 {
		return nil, false, fmt.Errorf("bootstrap token %s: secret does not match", id)
	}
	if string(s.Data[bootstrapKeyUsageAuthn]) != "true" {
		return nil, false, fmt.Errorf("bootstrap token %s: not marked for authentication (%s)", id, bootstrapKeyUsageAuthn)
	}
	if exp := s.Data[bootstrapKeyExpiration]; len(exp) > 0 {
		t, err := time.Parse(time.RFC3339, string(exp))
		if err != nil {
			return nil, false, fmt.Errorf("bootstrap token %s: expiration %q: %w", id, exp, err)
		}
		now := time.Now
		if b.Now != nil {
			now = b.Now
		}
		if !now().Before(t) {
			return nil, false, fmt.Errorf("bootstrap token %s: expired at %s", id, t.UTC().Format(time.RFC3339))
		}
	}
	groups := []string{BootstrappersGroup}
	if extra := strings.TrimSpace(string(s.Data[bootstrapKeyExtraGroups])); extra != "" {
		for g := range strings.SplitSeq(extra, ",") {
			g = strings.TrimSpace(g)
			if !bootstrapGroupRE.MatchString(g) {
				return nil, false, fmt.Errorf("bootstrap token %s: extra group %q must match %s", id, g, bootstrapGroupRE)
			}
			groups = append(groups, g)
		}
	}
	return &user.Info{Name: BootstrapTokenUserPrefix + id, Groups: authenticated(groups)}, true, nil
}

// Authenticate checks r's bearer token.
func (b *BootstrapTokens) Authenticate(r *http.Request) (*user.Info, bool, error) {
	return authenticateBearer(r, b)
}
