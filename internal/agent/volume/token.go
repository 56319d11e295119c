package volume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Tokens are refreshed once refreshFraction of their lifetime has passed, and in any
// case after maxTokenAge, as the kubelet does: a pod reading its token file always finds
// one with a good part of its life ahead, and a token that lives for a year (the server
// extends the kubelet's default request) is still replaced daily.
const (
	refreshFraction = 0.8
	maxTokenAge     = 24 * time.Hour
)

// TokenManager issues the service account tokens of projected volumes through the API's
// TokenRequest (serviceaccounts/NAME/token), each bound to its pod, and caches them
// until they are due for refresh, so a pod's every sync does not ask for a new one. It
// implements TokenSource and is safe for concurrent use.
type TokenManager struct {
	client kubernetes.Interface
	clock  clock.PassiveClock

	mu     sync.Mutex
	tokens map[tokenKey]issuedToken
}

// tokenKey tells apart the tokens one pod may hold: one per audience and lifetime its
// volumes ask for.
type tokenKey struct {
	pod       types.UID
	audience  string
	expSecond int64
}

type issuedToken struct {
	token string
	// issued and expires bound the lifetime the API reported.
	issued, expires time.Time
}

// NewTokenManager returns a TokenManager asking client for tokens; clk is the clock
// refreshes are timed by (nil means the real one).
func NewTokenManager(client kubernetes.Interface, clk clock.PassiveClock) *TokenManager {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &TokenManager{client: client, clock: clk, tokens: map[tokenKey]issuedToken{}}
}

// ServiceAccountToken returns a token of pod's service account for audience (the API
// server's own audiences when empty) lasting expirationSeconds, bound to the pod: the
// cached one while it is fresh, otherwise a new one. A failed refresh of a token that
// has not expired yet keeps serving the old one, so an API server that is briefly away
// does not break running pods.
func (m *TokenManager) ServiceAccountToken(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error) {
	key := tokenKey{pod: pod.UID, audience: audience, expSecond: expirationSeconds}
	now := m.clock.Now()
	m.mu.Lock()
	cached, ok := m.tokens[key]
	m.mu.Unlock()
	if ok && !needsRefresh(cached, now) {
		return cached.token, nil
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		return "", errors.New("pod has no service account")
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	resp, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err == nil && resp.Status.Token == "" {
		err = errors.New("the API returned an empty token")
	}
	if err != nil {
		if ok && now.Before(cached.expires) {
			return cached.token, nil
		}
		return "", fmt.Errorf("token request for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	t := issuedToken{token: resp.Status.Token, issued: now, expires: resp.Status.ExpirationTimestamp.Time}
	if t.expires.IsZero() || !t.expires.After(now) {
		// A server that reports no expiry gets the lifetime we asked for.
		t.expires = now.Add(time.Duration(expirationSeconds) * time.Second)
	}
	m.mu.Lock()
	m.tokens[key] = t
	m.mu.Unlock()
	return t.token, nil
}

// needsRefresh reports whether t is past refreshFraction of its lifetime or older than
// maxTokenAge at now.
func needsRefresh(t issuedToken, now time.Time) bool {
	life := t.expires.Sub(t.issued)
	due := t.issued.Add(time.Duration(float64(life) * refreshFraction))
	if age := t.issued.Add(maxTokenAge); age.Before(due) {
		due = age
	}
	return !now.Before(due)
}

// ForgetPod drops the tokens cached for a pod whose volumes are gone.
func (m *TokenManager) ForgetPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.pod == uid {
			delete(m.tokens, k)
		}
	}
}
