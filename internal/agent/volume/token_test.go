package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// tokenAPI is a fake API server's serviceaccounts/token: it records each request and
// answers with a numbered token living as long as asked, or with err when set.
type tokenAPI struct {
	clock    *clocktesting.FakeClock
	requests []*authenticationv1.TokenRequest
	names    []string
	err      error
}

func (a *tokenAPI) client() *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := action.(k8stesting.CreateAction)
		if !ok || action.GetSubresource() != "token" {
			return false, nil, nil
		}
		if a.err != nil {
			return true, nil, a.err
		}
		req := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		a.requests = append(a.requests, req)
		a.names = append(a.names, action.GetNamespace()+"/"+ca.(k8stesting.CreateActionImpl).Name)
		out := req.DeepCopy()
		out.Status.Token = fmt.Sprintf("token-%d", len(a.requests))
		out.Status.ExpirationTimestamp = metav1.NewTime(a.clock.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
		return true, out, nil
	})
	return c
}

func TestTokenManagerRequest(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	api := &tokenAPI{clock: clk}
	m := NewTokenManager(api.client(), clk)
	pod := testPod()
	pod.Spec.ServiceAccountName = "builder"

	cases := []struct {
		name     string
		audience string
		exp      int64
		wantAuds []string
	}{
		{name: "API audiences", exp: 3607},
		{name: "own audience", audience: "vault", exp: 600, wantAuds: []string{"vault"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(api.requests)
			tok, err := m.ServiceAccountToken(context.Background(), pod, tc.audience, tc.exp)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("token-%d", n+1); tok != want {
				t.Errorf("token %q, want %q", tok, want)
			}
			req := api.requests[n]
			if fmt.Sprint(req.Spec.Audiences) != fmt.Sprint(tc.wantAuds) {
				t.Errorf("audiences %q, want %q", req.Spec.Audiences, tc.wantAuds)
			}
			if *req.Spec.ExpirationSeconds != tc.exp {
				t.Errorf("expirationSeconds %d, want %d", *req.Spec.ExpirationSeconds, tc.exp)
			}
			want := authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}
			if req.Spec.BoundObjectRef == nil || *req.Spec.BoundObjectRef != want {
				t.Errorf("bound to %+v, want %+v", req.Spec.BoundObjectRef, want)
			}
			if got := api.names[n]; got != "ns/builder" {
				t.Errorf("asked service account %s, want ns/builder", got)
			}
		})
	}
}

func TestTokenManagerRefresh(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name string
		exp  int64
		// steps move the clock and say whether a new token is expected.
		steps []struct {
			after time.Duration
			fresh bool
		}
	}{
		{name: "hour token refreshed at 80 %", exp: 3600, steps: []struct {
			after time.Duration
			fresh bool
		}{{0, true}, {time.Minute, false}, {47 * time.Minute, false}, {48 * time.Minute, true}, {49 * time.Minute, false}}},
		{name: "long token refreshed daily", exp: 7 * 24 * 3600, steps: []struct {
			after time.Duration
			fresh bool
		}{{0, true}, {23 * time.Hour, false}, {24 * time.Hour, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			api := &tokenAPI{clock: clk}
			m := NewTokenManager(api.client(), clk)
			pod := testPod()
			last := ""
			for _, st := range tc.steps {
				clk.SetTime(start.Add(st.after))
				tok, err := m.ServiceAccountToken(context.Background(), pod, "", tc.exp)
				if err != nil {
					t.Fatal(err)
				}
				if fresh := tok != last; fresh != st.fresh {
					t.Errorf("after %v: new token %v, want %v", st.after, fresh, st.fresh)
				}
				last = tok
			}
		})
	}
}

func TestTokenManagerFailures(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clocktesting.NewFakeClock(start)
	api := &tokenAPI{clock: clk}
	m := NewTokenManager(api.client(), clk)
	pod := testPod()

	api.err = apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "default", errors.New("no"))
	_, err := m.ServiceAccountToken(context.Background(), pod, "", 3600)
	if err == nil || !strings.Contains(err.Error(), "token request for service account ns/default") || !apierrors.IsForbidden(err) {
		t.Fatalf("error %v, want a wrapped Forbidden naming the account", err)
	}

	api.err = nil
	first, err := m.ServiceAccountToken(context.Background(), pod, "", 3600)
	if err != nil {
		t.Fatal(err)
	}
	// Due for refresh but the API is away: the token still valid is kept.
	api.err = errors.New("connection refused")
	clk.SetTime(start.Add(50 * time.Minute))
	if tok, err := m.ServiceAccountToken(context.Background(), pod, "", 3600); err != nil || tok != first {
		t.Errorf("during an outage got %q, %v; want the cached %q", tok, err, first)
	}
	// Once it has expired, the outage shows.
	clk.SetTime(start.Add(61 * time.Minute))
	if _, err := m.ServiceAccountToken(context.Background(), pod, "", 3600); err == nil {
		t.Error("an expired token was served")
	}

	noSA := testPod()
	noSA.Spec.ServiceAccountName = ""
	if _, err := m.ServiceAccountToken(context.Background(), noSA, "", 3600); err == nil {
		t.Error("a pod without a service account got a token")
	}
}

func TestTokenManagerForgetPod(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	api := &tokenAPI{clock: clk}
	m := NewTokenManager(api.client(), clk)
	pod := testPod()
	for range 2 {
		if _, err := m.ServiceAccountToken(context.Background(), pod, "", 3600); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.requests) != 1 {
		t.Fatalf("%d requests, want 1 (cached)", len(api.requests))
	}
	m.ForgetPod(pod.UID)
	if _, err := m.ServiceAccountToken(context.Background(), pod, "", 3600); err != nil {
		t.Fatal(err)
	}
	if len(api.requests) != 2 {
		t.Errorf("%d requests after ForgetPod, want 2", len(api.requests))
	}
}

// TestProjectedTokenRefreshOnDisk follows a token through Setup: written with the
// volume's mode, replaced through the ..data swap once due, dropped with the pod.
func TestProjectedTokenRefreshOnDisk(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clk := clocktesting.NewFakeClock(start)
	api := &tokenAPI{clock: clk}
	src := struct {
		*fakeSources
		*TokenManager
	}{volumeSources(), NewTokenManager(api.client(), clk)}
	m, _ := newTestManager(t, src)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o640)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
		}}}}}
	dir := filepath.Join(m.root, string(pod.UID), "volumes", pluginProjected, "kube-api-access-abcde")
	setup := func() string {
		t.Helper()
		if err := m.Setup(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		return readFile(t, filepath.Join(dir, "token"))
	}
	if got := setup(); got != "token-1" {
		t.Fatalf("token %q, want token-1", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "token")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("token mode %v (%v), want 0640", st.Mode().Perm(), err)
	}
	data, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	clk.SetTime(start.Add(10 * time.Minute))
	if got := setup(); got != "token-1" {
		t.Errorf("token %q before refresh, want token-1", got)
	}
	clk.SetTime(start.Add(49 * time.Minute))
	if got := setup(); got != "token-2" {
		t.Errorf("token %q after 80%% of its life, want token-2", got)
	}
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again == data {
		t.Error("the refreshed token did not go through a new ..data directory")
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if len(src.TokenManager.tokens) != 0 {
		t.Errorf("%d tokens cached after teardown", len(src.TokenManager.tokens))
	}
}
