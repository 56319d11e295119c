package integration

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/audit"
	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestAuditLog: the server records who did what in DATA_DIR/audit.log as
// audit.k8s.io/v1 Events at Metadata level — a create, a request refused
// with 403, one refused with 401 — and never a Secret's value.
func TestAuditLog(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	secretValue := fmt.Sprintf("audit-secret-%d", time.Now().UnixNano())
	if _, err := s.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"password": secretValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A 403: a pod the namespace's Pod Security level refuses.
	nsObj, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	if _, err := s.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "refused"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("creating a pod breaking restricted: %v, want 403", err)
	}
	// A 401: no client certificate.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(s.Config.Host + "/api/v1/namespaces/" + ns + "/configmaps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous request: %d, want 401", resp.StatusCode)
	}

	path := filepath.Join(s.DataDir, "audit.log")
	type want struct {
		verb, resource, user string
		code                 int32
	}
	wants := []want{
		{"create", "secrets", "admin", 201},
		{"create", "pods", "admin", 403},
		{"list", "configmaps", "system:anonymous", 401},
	}
	var events []audit.Event
	var raw []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err = os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		events = events[:0]
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("audit line is not an Event: %v\n%s", err, sc.Text())
			}
			events = append(events, e)
		}
		missing := 0
		for _, w := range wants {
			if findAuditEvent(events, ns, w.verb, w.resource, w.user, w.code) == nil {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range wants {
				if findAuditEvent(events, ns, w.verb, w.resource, w.user, w.code) == nil {
					t.Errorf("no ResponseComplete event for %s %s by %s with code %d", w.verb, w.resource, w.user, w.code)
				}
			}
			t.Fatalf("audit log (%d events):\n%s", len(events), raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e := findAuditEvent(events, ns, "create", "pods", "admin", 403)
	if e.Level != audit.LevelMetadata || e.APIVersion != "audit.k8s.io/v1" || e.Kind != "Event" || e.AuditID == "" {
		t.Errorf("the 403 event: %+v", e)
	}
	if !strings.Contains(e.ResponseStatus.Message, "violates PodSecurity") {
		t.Errorf("the 403 event does not say why: %+v", e.ResponseStatus)
	}
	if bytes.Contains(raw, []byte(secretValue)) {
		t.Error("the audit log holds the Secret's value")
	}
	for _, e := range events {
		if strings.HasPrefix(e.RequestURI, "/readyz") || strings.HasPrefix(e.RequestURI, "/healthz") {
			t.Errorf("a health check was audited: %s", e.RequestURI)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: %v %v, want 0600", st.Mode(), err)
	}
}

func findAuditEvent(events []audit.Event, ns, verb, resource, user string, code int32) *audit.Event {
	for i, e := range events {
		if e.Stage == audit.StageResponseComplete && e.Verb == verb && e.User.Username == user &&
			e.ObjectRef != nil && e.ObjectRef.Resource == resource && e.ObjectRef.Namespace == ns &&
			e.ResponseStatus != nil && e.ResponseStatus.Code == code {
			return &events[i]
		}
	}
	return nil
}

// TestAuditBodies: a policy asking for RequestResponse gets the request
// and response bodies of a ConfigMap create, and an RBAC refusal is
// recorded with the refused user; a Secret's body stays out at any level.
func TestAuditBodies(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps", "secrets"]
- level: Metadata
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, testserver.Options{Configure: func(c *server.Config) { c.AuditPolicyFile = policy }})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	marker := fmt.Sprintf("audit-body-%d", time.Now().UnixNano())
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"k": marker},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secretValue := "secret-" + marker
	if _, err := s.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"password": secretValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod the namespace's audit level would refuse: admitted, and the
	// audit event says why it would not be at that level.
	nsObj, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/audit"] = "restricted"
	if _, err := s.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "loose"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A user the cluster CA vouches for, with no role at all.
	cfg := impersonating(s, "mallory")
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list by a user without a role: %v, want 403", err)
	}

	path := filepath.Join(s.DataDir, "audit.log")
	var events []audit.Event
	var raw []byte
	pollUntil(t, 10*time.Second, "the audit events", func() (bool, error) {
		raw, err = os.ReadFile(path)
		if err != nil {
			return false, err
		}
		events = events[:0]
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return false, err
			}
			events = append(events, e)
		}
		return findAuditEvent(events, ns, "create", "configmaps", "admin", 201) != nil &&
			findAuditEvent(events, ns, "create", "pods", "admin", 201) != nil &&
			findImpersonated(events, ns, "mallory") != nil, nil
	})
	e := findAuditEvent(events, ns, "create", "configmaps", "admin", 201)
	if e.Level != audit.LevelRequestResponse || !bytes.Contains(e.RequestObject, []byte(marker)) || !bytes.Contains(e.ResponseObject, []byte(marker)) {
		t.Errorf("the ConfigMap create at RequestResponse: level %s, request %s, response %s", e.Level, e.RequestObject, e.ResponseObject)
	}
	if bytes.Contains(raw, []byte(secretValue)) {
		t.Error("the audit log holds the Secret's value")
	}
	if p := findAuditEvent(events, ns, "create", "pods", "admin", 201); !strings.HasPrefix(p.Annotations["pod-security.kubernetes.io/audit-violations"], `would violate PodSecurity "restricted:latest": `) {
		t.Errorf("the pod create's audit annotations: %v", p.Annotations)
	}
	f := findImpersonated(events, ns, "mallory")
	if f.ResponseStatus == nil || f.ResponseStatus.Code != http.StatusForbidden || !strings.Contains(f.ResponseStatus.Message, `User "mallory" cannot list resource "configmaps"`) {
		t.Errorf("the refused list: %+v", f.ResponseStatus)
	}
}

// impersonating is the admin's client config acting as name.
func impersonating(s *testserver.Server, name string) *rest.Config {
	cfg := rest.CopyConfig(s.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: name}
	return cfg
}

func findImpersonated(events []audit.Event, ns, name string) *audit.Event {
	for i, e := range events {
		if e.Stage == audit.StageResponseComplete && e.ImpersonatedUser != nil && e.ImpersonatedUser.Username == name &&
			e.ObjectRef != nil && e.ObjectRef.Namespace == ns {
			return &events[i]
		}
	}
	return nil
}
