package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
)

var saNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newSAIssuer(t testing.TB, url string) *serviceaccount.Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i, err := serviceaccount.NewIssuer(key, url)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func newSAAuthenticator(t testing.TB, i *serviceaccount.Issuer, objs ...any) *ServiceAccountTokens {
	idx := newIndexer(t, objs...)
	return &ServiceAccountTokens{
		Issuer: i,
		Objects: Listers{
			ServiceAccounts: corev1listers.NewServiceAccountLister(idx),
			Pods:            corev1listers.NewPodLister(idx),
			Secrets:         corev1listers.NewSecretLister(idx),
		},
		Now: func() time.Time { return saNow },
	}
}

func meta(name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "team", Name: name, UID: typesUID(uid)}
}

func TestServiceAccountTokens(t *testing.T) {
	i := newSAIssuer(t, "https://bosun.test")
	other := newSAIssuer(t, "https://elsewhere.test")
	sa := &corev1.ServiceAccount{ObjectMeta: meta("dev", "sa-uid")}
	pod := &corev1.Pod{ObjectMeta: meta("web", "pod-uid"), Spec: corev1.PodSpec{ServiceAccountName: "dev"}}
	justDeleted := &corev1.Pod{ObjectMeta: meta("stopping", "stop-uid")}
	justDeleted.DeletionTimestamp = &metav1.Time{Time: saNow.Add(-30 * time.Second)}
	longDeleted := &corev1.Pod{ObjectMeta: meta("gone", "gone-uid")}
	longDeleted.DeletionTimestamp = &metav1.Time{Time: saNow.Add(-5 * time.Minute)}
	secret := &corev1.Secret{ObjectMeta: meta("s", "secret-uid")}
	a := newSAAuthenticator(t, i, sa, pod, justDeleted, longDeleted, secret)

	issue := func(iss *serviceaccount.Issuer, mod func(*serviceaccount.Claims)) string {
		c := serviceaccount.Claims{
			Namespace: "team", ServiceAccountName: "dev", ServiceAccountUID: "sa-uid",
			Audiences: []string{"https://kubernetes.default.svc.cluster.local"},
			BoundPod:  &serviceaccount.ObjectRef{Name: "web", UID: "pod-uid"},
			Now:       func() time.Time { return saNow.Add(-time.Minute) },
		}
		if mod != nil {
			mod(&c)
		}
		tok, err := iss.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	cases := []struct {
		name    string
		token   string
		ok      bool
		wantErr string // empty with !ok: no opinion
		pod     string
	}{
		{name: "good", token: issue(i, nil), ok: true, pod: "web"},
		{name: "unbound", token: issue(i, func(c *serviceaccount.Claims) { c.BoundPod = nil }), ok: true},
		{name: "bound to secret", token: issue(i, func(c *serviceaccount.Claims) {
			c.BoundPod, c.BoundSecret = nil, &serviceaccount.ObjectRef{Name: "s", UID: "secret-uid"}
		}), ok: true},
		{name: "bosun audience", token: issue(i, func(c *serviceaccount.Claims) { c.Audiences = []string{"vault", "bosun"} }), ok: true, pod: "web"},
		{name: "pod in its grace minute", token: issue(i, func(c *serviceaccount.Claims) {
			c.BoundPod = &serviceaccount.ObjectRef{Name: "stopping", UID: "stop-uid"}
		}), ok: true, pod: "stopping"},
		{name: "expired", token: issue(i, func(c *serviceaccount.Claims) {
			c.Expiration = 10 * time.Minute
			c.Now = func() time.Time { return saNow.Add(-time.Hour) }
		}), wantErr: "expired"},
		{name: "bad audience", token: issue(i, func(c *serviceaccount.Claims) { c.Audiences = []string{"vault"} }), wantErr: "invalid for the target audiences"},
		{name: "wrong service account UID", token: issue(i, func(c *serviceaccount.Claims) { c.ServiceAccountUID = "old-uid" }), wantErr: "service account UID (sa-uid) does not match claim (old-uid)"},
		{name: "deleted service account", token: issue(i, func(c *serviceaccount.Claims) { c.ServiceAccountName = "removed" }), wantErr: "not found"},
		{name: "wrong pod UID", token: issue(i, func(c *serviceaccount.Claims) { c.BoundPod.UID = "old-pod" }), wantErr: "pod UID (pod-uid) does not match claim (old-pod)"},
		{name: "pod removed", token: issue(i, func(c *serviceaccount.Claims) { c.BoundPod.Name = "nope" }), wantErr: "not found"},
		{name: "pod deleted long ago", token: issue(i, func(c *serviceaccount.Claims) { c.BoundPod = &serviceaccount.ObjectRef{Name: "gone", UID: "gone-uid"} }), wantErr: "was deleted"},
		{name: "wrong secret UID", token: issue(i, func(c *serviceaccount.Claims) {
			c.BoundPod, c.BoundSecret = nil, &serviceaccount.ObjectRef{Name: "s", UID: "x"}
		}), wantErr: "secret UID"},
		{name: "forged with another key", token: forgeIssuer(t, other, i), wantErr: "bad signature"},
		{name: "another issuer", token: issue(other, nil), ok: false},
		{name: "static token", token: "abc", ok: false},
		{name: "bootstrap token", token: "abcdef.0123456789abcdef", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if tc.wantErr != "" {
				if ok || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error %q", ok, err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.ok {
				t.Fatalf("got %+v, %v, %v", info, ok, err)
			}
			if !ok {
				return
			}
			wantGroups := []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}
			if info.Name != "system:serviceaccount:team:dev" || info.UID != "sa-uid" || !slices.Equal(info.Groups, wantGroups) {
				t.Errorf("user %q groups %q", info.Name, info.Groups)
			}
			if got := info.Extra[ExtraPodName]; tc.pod == "" && got != nil || tc.pod != "" && !slices.Equal(got, []string{tc.pod}) {
				t.Errorf("pod-name extra %q, want %q", got, tc.pod)
			}
			if id := info.Extra[ExtraCredentialID]; len(id) != 1 || !strings.HasPrefix(id[0], "JTI=") {
				t.Errorf("credential-id extra %q", id)
			}
		})
	}

	t.Run("from a request", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+issue(i, nil))
		if _, ok, err := a.Authenticate(r); !ok || err != nil {
			t.Fatalf("got %v, %v", ok, err)
		}
		r.Header.Set("Authorization", "Bearer")
		if _, ok, err := a.Authenticate(r); ok || err != nil {
			t.Fatalf("malformed header: got %v, %v", ok, err)
		}
	})
}

// forgeIssuer returns a token claiming issuer iss and the real issuer's
// key ID, signed by another key.
func forgeIssuer(t *testing.T, signer, victim *serviceaccount.Issuer) string {
	t.Helper()
	tok, err := signer.Issue(serviceaccount.Claims{
		Namespace: "team", ServiceAccountName: "dev", ServiceAccountUID: "sa-uid",
		Audiences: []string{"bosun"}, Now: func() time.Time { return saNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Splice the signer's token under the real issuer's name: only the
	// issuer differs, the signature is the wrong key's.
	forged, err := reissue(tok, victim.Issuer(), victim.KeyID())
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

// reissue rewrites tok's header kid and claims iss, keeping its signature.
func reissue(tok, iss, kid string) (string, error) {
	parts := strings.Split(tok, ".")
	rewrite := func(part, key, value string) (string, error) {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			return "", err
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			return "", err
		}
		m[key] = value
		b, err = json.Marshal(m)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := rewrite(parts[0], "kid", kid)
	if err != nil {
		return "", err
	}
	p, err := rewrite(parts[1], "iss", iss)
	if err != nil {
		return "", err
	}
	return h + "." + p + "." + parts[2], nil
}

func typesUID(s string) types.UID { return types.UID(s) }

func BenchmarkServiceAccountToken(b *testing.B) {
	b.Run("verify", func(b *testing.B) { benchmarkServiceAccountToken(b, false) })
	b.Run("cached", func(b *testing.B) { benchmarkServiceAccountToken(b, true) })
}

func benchmarkServiceAccountToken(b *testing.B, cached bool) {
	i := newSAIssuer(b, "https://bosun.test")
	sa := &corev1.ServiceAccount{ObjectMeta: meta("dev", "sa-uid")}
	pod := &corev1.Pod{ObjectMeta: meta("web", "pod-uid")}
	a := newSAAuthenticator(b, i, sa, pod)
	tok, err := i.Issue(serviceaccount.Claims{
		Namespace: "team", ServiceAccountName: "dev", ServiceAccountUID: "sa-uid",
		Audiences: []string{"bosun"}, BoundPod: &serviceaccount.ObjectRef{Name: "web", UID: "pod-uid"},
		Now: func() time.Time { return saNow },
	})
	if err != nil {
		b.Fatal(err)
	}
	var t TokenAuthenticator = a
	if cached {
		t = NewTokenCache(a, DefaultTokenCacheTTL, nil)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := t.AuthenticateToken(ctx, tok); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
