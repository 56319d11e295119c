// Package serviceaccount owns the service account tokens the server signs:
// the ES256 signing key on disk, issuing bound JWTs with the claims
// Kubernetes puts in them (audiences, expiry, the pod or secret a token is
// bound to), verifying them, and serving a TokenRequest. Checking that the
// objects a verified token names still exist is the authenticator's job,
// not this package's.
package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Lifetime bounds of an issued token. MinExpiration is Kubernetes'
// TokenRequest validation floor; DefaultExpiration its API default;
// MaxExpiration is this server's cap (Kubernetes' is a flag,
// --service-account-max-token-expiration, which we fix at 48 hours).
const (
	MinExpiration     = 10 * time.Minute
	DefaultExpiration = time.Hour
	MaxExpiration     = 48 * time.Hour
)

// Kubernetes keeps old clients that never reload their token working: a
// pod-bound token asked for with exactly WarnOnlyExpiration of lifetime
// (what the kubelet's projected volume requests by default) really lives
// ExtendedExpiration, and carries a warnafter claim at the asked-for
// lifetime so that use past it can be warned about.
const (
	WarnOnlyExpiration = 3607 * time.Second
	ExtendedExpiration = 365 * 24 * time.Hour
)

// Leeway is the clock skew Verify tolerates on exp, nbf and iat.
const Leeway = 60 * time.Second

// DefaultAudiences is the API server's own audiences: a token without
// explicit audiences gets these, and the authenticator accepts tokens for
// any of them.
func DefaultAudiences() []string {
	return []string{"https://kubernetes.default.svc.cluster.local", "bosun"}
}

// ErrNotOurs is wrapped by Verify when the token is not a JWT at all or
// names another issuer: the caller should let other authenticators try it
// instead of rejecting it.
var ErrNotOurs = errors.New("not a service account token of this issuer")

// ErrInvalid is wrapped by Verify for a token of this issuer that must be
// refused: bad signature, wrong algorithm or key, expired, not yet valid,
// or inconsistent claims.
var ErrInvalid = errors.New("invalid service account token")

// ObjectRef names the object a token is bound to.
type ObjectRef struct {
	Name string
	UID  string
}

// Claims is what a token says: Issue reads the request fields, Verify
// fills them all back plus ID and IssuedAt.
type Claims struct {
	Namespace          string
	ServiceAccountName string
	ServiceAccountUID  string
	Audiences          []string
	// Expiration is the lifetime; zero means DefaultExpiration.
	Expiration time.Duration
	// WarnAfter, when set, is how long after issue a client should have
	// refreshed the token; only for pod-bound tokens with extended
	// expiration (see WarnOnlyExpiration).
	WarnAfter   time.Duration
	BoundPod    *ObjectRef
	BoundSecret *ObjectRef
	// Now is the clock Issue reads; nil means time.Now.
	Now func() time.Time

	// ID (jti) and IssuedAt (iat) are set by Verify; Issue ignores them.
	ID       string
	IssuedAt time.Time
}

// Username is the user the claims authenticate as.
func (c *Claims) Username() string {
	return user.ServiceAccountUsername(c.Namespace, c.ServiceAccountName)
}

// Issuer signs and verifies the server's service account tokens.
type Issuer struct {
	key    *ecdsa.PrivateKey
	keyID  string
	issuer string
	// APIAudiences is the audiences a TokenRequest without any gets, and
	// those for which pod-bound tokens may be extended; NewIssuer sets it
	// to DefaultAudiences.
	APIAudiences []string
}

// NewIssuer returns an Issuer signing with key, which must be a P-256 key,
// and writing issuerURL as every token's "iss".
func NewIssuer(key *ecdsa.PrivateKey, issuerURL string) (*Issuer, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("service account issuer: want a P-256 key")
	}
	if issuerURL == "" {
		return nil, errors.New("service account issuer: empty issuer URL")
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service account issuer: %w", err)
	}
	return &Issuer{key: key, keyID: kid, issuer: issuerURL, APIAudiences: DefaultAudiences()}, nil
}

// Issuer returns the "iss" of tokens it signs.
func (i *Issuer) Issuer() string { return i.issuer }

// KeyID returns the "kid" of tokens it signs.
func (i *Issuer) KeyID() string { return i.keyID }

// Issue signs a token carrying c. The lifetime must lie within
// [MinExpiration, MaxExpiration], or up to ExtendedExpiration for a
// pod-bound token with WarnAfter set.
func (i *Issuer) Issue(c Claims) (string, error) {
	if c.Namespace == "" || c.ServiceAccountName == "" || c.ServiceAccountUID == "" {
		return "", errors.New("issuing token: namespace, service account name and UID are required")
	}
	if len(c.Audiences) == 0 {
		return "", errors.New("issuing token: at least one audience is required")
	}
	if c.BoundPod != nil && c.BoundSecret != nil {
		return "", errors.New("issuing token: bound to both a pod and a secret")
	}
	for _, b := range []*ObjectRef{c.BoundPod, c.BoundSecret} {
		if b != nil && (b.Name == "" || b.UID == "") {
			return "", errors.New("issuing token: bound object needs a name and a UID")
		}
	}
	exp := c.Expiration
	if exp == 0 {
		exp = DefaultExpiration
	}
	maxExp := MaxExpiration
	if c.WarnAfter != 0 {
		if c.BoundPod == nil {
			return "", errors.New("issuing token: warnafter is only for pod-bound tokens")
		}
		if c.WarnAfter < 0 || c.WarnAfter >= exp {
			return "", fmt.Errorf("issuing token: warnafter %v must lie within the lifetime %v", c.WarnAfter, exp)
		}
		maxExp = ExtendedExpiration
	}
	if exp < MinExpiration || exp > maxExp {
		return "", fmt.Errorf("issuing token: lifetime %v outside [%v, %v]", exp, MinExpiration, maxExp)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	iat := now().Unix()
	expAt := iat + int64(exp/time.Second)
	jti, err := newUUID()
	if err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	p := &payload{
		Issuer:    i.issuer,
		Subject:   c.Username(),
		Audience:  audience(slices.Clone(c.Audiences)),
		Expiry:    &expAt,
		IssuedAt:  &iat,
		NotBefore: &iat,
		ID:        jti,
		Kubernetes: &privateClaims{
			Namespace:      c.Namespace,
			ServiceAccount: ref{Name: c.ServiceAccountName, UID: c.ServiceAccountUID},
		},
	}
	if c.BoundPod != nil {
		p.Kubernetes.Pod = &ref{Name: c.BoundPod.Name, UID: c.BoundPod.UID}
	}
	if c.BoundSecret != nil {
		p.Kubernetes.Secret = &ref{Name: c.BoundSecret.Name, UID: c.BoundSecret.UID}
	}
	if c.WarnAfter != 0 {
		w := iat + int64(c.WarnAfter/time.Second)
		p.Kubernetes.WarnAfter = &w
	}
	return sign(i.key, header{Alg: algES256, Kid: i.keyID}, p)
}

// Verify checks token's signature, algorithm, key ID, issuer and validity
// window at now (with Leeway), and returns its claims. Audiences are the
// caller's to check, since which ones to accept depends on who is asking.
// Errors wrap ErrNotOurs or ErrInvalid.
func (i *Issuer) Verify(token string, now time.Time) (*Claims, error) {
	j, err := parse(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotOurs, err)
	}
	p := &j.payload
	if p.Issuer != i.issuer {
		return nil, fmt.Errorf("%w: issuer %q", ErrNotOurs, p.Issuer)
	}
	if j.header.Alg != algES256 {
		return nil, fmt.Errorf("%w: signing algorithm %q, want %s", ErrInvalid, j.header.Alg, algES256)
	}
	if j.header.Kid != i.keyID {
		return nil, fmt.Errorf("%w: unknown key ID %q", ErrInvalid, j.header.Kid)
	}
	if len(j.header.Crit) > 0 {
		return nil, fmt.Errorf("%w: unsupported critical header parameters %q", ErrInvalid, j.header.Crit)
	}
	if !j.verifySignature(&i.key.PublicKey) {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	// Past this point the claims are the server's own; the checks below
	// are about time and about the claims hanging together.
	if p.Expiry == nil || p.IssuedAt == nil {
		return nil, fmt.Errorf("%w: missing exp or iat", ErrInvalid)
	}
	exp := time.Unix(*p.Expiry, 0)
	iat := time.Unix(*p.IssuedAt, 0)
	if now.After(exp.Add(Leeway)) {
		return nil, fmt.Errorf("%w: expired at %s", ErrInvalid, exp.UTC().Format(time.RFC3339))
	}
	if p.NotBefore != nil && now.Add(Leeway).Before(time.Unix(*p.NotBefore, 0)) {
		return nil, fmt.Errorf("%w: not valid before %s", ErrInvalid, time.Unix(*p.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	if now.Add(Leeway).Before(iat) {
		return nil, fmt.Errorf("%w: issued in the future, at %s", ErrInvalid, iat.UTC().Format(time.RFC3339))
	}
	k := p.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" {
		return nil, fmt.Errorf("%w: missing kubernetes.io claims", ErrInvalid)
	}
	c := &Claims{
		Namespace:          k.Namespace,
		ServiceAccountName: k.ServiceAccount.Name,
		ServiceAccountUID:  k.ServiceAccount.UID,
		Audiences:          []string(p.Audience),
		Expiration:         exp.Sub(iat),
		ID:                 p.ID,
		IssuedAt:           iat,
	}
	if p.Subject != c.Username() {
		return nil, fmt.Errorf("%w: subject %q does not match service account %s/%s", ErrInvalid, p.Subject, c.Namespace, c.ServiceAccountName)
	}
	if k.Pod != nil {
		c.BoundPod = &ObjectRef{Name: k.Pod.Name, UID: k.Pod.UID}
	}
	if k.Secret != nil {
		c.BoundSecret = &ObjectRef{Name: k.Secret.Name, UID: k.Secret.UID}
	}
	if k.WarnAfter != nil {
		c.WarnAfter = time.Unix(*k.WarnAfter, 0).Sub(iat)
	}
	return c, nil
}

// newUUID returns a random (version 4) UUID for "jti", which Kubernetes
// surfaces as the credential ID in audit logs.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
