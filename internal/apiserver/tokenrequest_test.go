package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
)

// FuzzTokenRequestBody: whatever a client posts to serviceaccounts/token
// either is refused with a 4xx status or yields a token that verifies,
// names the account and carries what the request asked for.
func FuzzTokenRequestBody(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	iss, err := serviceaccount.NewIssuer(key, "https://kubernetes.default.svc.cluster.local")
	if err != nil {
		f.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: "team", UID: "sa-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}, Spec: corev1.PodSpec{ServiceAccountName: "dev"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "team", UID: "secret-uid"}}

	f.Add([]byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}`))
	f.Add([]byte(`{"spec":{"audiences":["vault",""],"expirationSeconds":1}}`))
	f.Add([]byte(`{"spec":{"expirationSeconds":3607,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"pod-uid"}}}`))
	f.Add([]byte(`{"spec":{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"s"}}}`))
	f.Add([]byte(`{"spec":{"boundObjectRef":{"kind":"Node","apiVersion":"v1","name":"n"}}}`))
	f.Add([]byte(`{"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"a/b/c","name":"web"}}}`))
	f.Add([]byte(`{"spec":{"expirationSeconds":-9223372036854775808}}`))
	f.Add([]byte(`{"spec":{"expirationSeconds":9223372036854775807}}`))
	f.Add([]byte("spec:\n  audiences: [a]\n"))

	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxBodyBytes {
			return
		}
		var req authenticationv1.TokenRequest
		if _, err := decodeRequest("application/json", body, &req, validateStrict); err != nil {
			wantStatus(t, err, http.StatusBadRequest)
			return
		}
		var bound metav1.Object
		if r := req.Spec.BoundObjectRef; r != nil && r.APIVersion == "v1" {
			switch r.Kind {
			case "Pod":
				if r.Name == pod.Name {
					bound = pod
				}
			case "Secret":
				if r.Name == secret.Name {
					bound = secret
				}
			}
		}
		now := time.Unix(1_700_000_000, 0)
		out, err := iss.TokenRequest(sa, &req, bound, now)
		if err != nil {
			var st apierrors.APIStatus
			if !errors.As(err, &st) || st.Status().Code < 400 || st.Status().Code >= 500 {
				t.Fatalf("refused with %v, want a 4xx API status", err)
			}
			return
		}
		c, err := iss.Verify(out.Status.Token, now)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if c.Namespace != "team" || c.ServiceAccountName != "dev" || c.ServiceAccountUID != "sa-uid" {
			t.Fatalf("token for %s/%s (%s)", c.Namespace, c.ServiceAccountName, c.ServiceAccountUID)
		}
		if !slices.Equal(c.Audiences, out.Spec.Audiences) || len(c.Audiences) == 0 {
			t.Fatalf("token audiences %q, answer says %q", c.Audiences, out.Spec.Audiences)
		}
		if exp := out.Status.ExpirationTimestamp.Time; exp.Before(now.Add(serviceaccount.MinExpiration)) || exp.After(now.Add(serviceaccount.MaxExpiration)) {
			t.Fatalf("expires at %v, outside the allowed lifetimes from %v", exp, now)
		}
	})
}

func TestRequestTokenWithoutIssuer(t *testing.T) {
	h := &handler{s: &Server{}}
	r, err := http.NewRequest(http.MethodPost, "/api/v1/namespaces/team/serviceaccounts/dev/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.requestToken(r.Context(), r)
	wantStatus(t, err, http.StatusServiceUnavailable)
}
