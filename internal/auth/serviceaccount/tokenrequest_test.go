package serviceaccount

import (
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

func TestTokenRequest(t *testing.T) {
	i := newTestIssuer(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "dev", UID: "sa-uid"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "pod-uid"},
		Spec:       corev1.PodSpec{ServiceAccountName: "dev"},
	}
	otherSAPod := pod.DeepCopy()
	otherSAPod.Spec.ServiceAccountName = "admin"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "s", UID: "secret-uid"}}
	secs := func(n int64) *int64 { return &n }
	podRef := func(uid string) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: k8stypes.UID(uid)}
	}

	cases := []struct {
		name      string
		spec      authenticationv1.TokenRequestSpec
		bound     metav1.Object
		wantErr   string
		wantCheck func(error) bool
		wantAud   []string
		wantSecs  int64
		wantExp   time.Duration // lifetime of the token itself
		wantWarn  time.Duration
		wantPod   bool
		wantSecr  bool
	}{
		{name: "defaults", wantAud: DefaultAudiences(), wantSecs: 3600, wantExp: time.Hour},
		{name: "audience and expiry", spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: secs(1200)},
			wantAud: []string{"vault"}, wantSecs: 1200, wantExp: 20 * time.Minute},
		{name: "too short", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(599)},
			wantErr: "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes", wantCheck: apierrors.IsInvalid},
		{name: "too long is capped", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(1 << 20)},
			wantAud: DefaultAudiences(), wantSecs: 48 * 3600, wantExp: MaxExpiration},
		{name: "beyond 2^32", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: secs(1<<32 + 1)},
			wantErr: "larger than 2^32 seconds", wantCheck: apierrors.IsInvalid},
		{name: "bound to pod", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("pod-uid")}, bound: pod,
			wantAud: DefaultAudiences(), wantSecs: 3600, wantExp: time.Hour, wantPod: true},
		{name: "bound to pod without uid", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("")}, bound: pod,
			wantAud: DefaultAudiences(), wantSecs: 3600, wantExp: time.Hour, wantPod: true},
		{name: "kubelet's projected token is extended", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("pod-uid"), ExpirationSeconds: secs(3607)}, bound: pod,
			wantAud: DefaultAudiences(), wantSecs: 3607, wantExp: ExtendedExpiration, wantWarn: WarnOnlyExpiration, wantPod: true},
		{name: "other audience is not extended", spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, BoundObjectRef: podRef("pod-uid"), ExpirationSeconds: secs(3607)}, bound: pod,
			wantAud: []string{"vault"}, wantSecs: 3607, wantExp: WarnOnlyExpiration, wantPod: true},
		{name: "pod uid mismatch", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("old-uid")}, bound: pod,
			wantErr: "the UID in the bound object reference (old-uid) does not match the UID in record", wantCheck: apierrors.IsConflict},
		{name: "pod of another account", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("pod-uid")}, bound: otherSAPod,
			wantErr: `cannot bind token for serviceaccount "dev" to pod running with different serviceaccount name.`, wantCheck: apierrors.IsBadRequest},
		{name: "pod missing", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("pod-uid")}, bound: (*corev1.Pod)(nil),
			wantErr: `pods "web" not found`, wantCheck: apierrors.IsNotFound},
		{name: "bound to secret", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s"}}, bound: secret,
			wantAud: DefaultAudiences(), wantSecs: 3600, wantExp: time.Hour, wantSecr: true},
		{name: "secret ref, pod given", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "web"}}, bound: pod,
			wantErr: "but a pod was given", wantCheck: apierrors.IsBadRequest},
		{name: "unsupported kind", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Name: "web"}}, bound: pod,
			wantErr: "cannot bind token to object of type apps/v1, Kind=Deployment", wantCheck: apierrors.IsBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &authenticationv1.TokenRequest{Spec: tc.spec}
			out, err := i.TokenRequest(sa, req, tc.bound, t0)
			if tc.wantErr != "" {
				se, ok := err.(*apierrors.StatusError)
				if !ok || !strings.Contains(se.Error(), tc.wantErr) || !tc.wantCheck(err) {
					t.Fatalf("err = %v, want a status error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Spec.Audiences, tc.wantAud) || *out.Spec.ExpirationSeconds != tc.wantSecs {
				t.Errorf("spec %+v", out.Spec)
			}
			if want := t0.Add(time.Duration(tc.wantSecs) * time.Second); !out.Status.ExpirationTimestamp.Time.Equal(want) {
				t.Errorf("expirationTimestamp %v, want %v", out.Status.ExpirationTimestamp, want)
			}
			c, err := i.Verify(out.Status.Token, t0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Expiration != tc.wantExp || c.WarnAfter != tc.wantWarn || (c.BoundPod != nil) != tc.wantPod || (c.BoundSecret != nil) != tc.wantSecr {
				t.Errorf("claims %+v", c)
			}
			if c.BoundPod != nil && *c.BoundPod != (ObjectRef{"web", "pod-uid"}) {
				t.Errorf("bound pod %+v", c.BoundPod)
			}
			if req.Status.Token != "" || (tc.spec.Audiences == nil && req.Spec.Audiences != nil) {
				t.Error("request modified in place")
			}
		})
	}
}
