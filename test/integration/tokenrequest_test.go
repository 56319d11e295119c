package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// serverIssuer verifies tokens the way the server signs them, from the
// key it keeps in its data directory.
func serverIssuer(t *testing.T, s *testserver.Server) *serviceaccount.Issuer {
	t.Helper()
	key, err := serviceaccount.LoadOrCreateKey(filepath.Join(s.DataDir, "tls", "service-account.key"))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := serviceaccount.NewIssuer(key, "https://kubernetes.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// TestKubectlCreateToken: `kubectl create token` gets tokens the server
// verifies, with the audiences, lifetime and pod binding asked for, and
// is refused with Kubernetes' messages.
func TestKubectlCreateToken(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{})
	iss := serverIssuer(t, s)
	k.ok(t, "create", "namespace", "team")
	k.ok(t, "-n", "team", "create", "serviceaccount", "dev")
	k.apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: team}
spec:
  serviceAccountName: dev
  containers: [{name: c, image: busybox}]
`)
	pod, err := s.Client.CoreV1().Pods("team").Get(context.Background(), "worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := s.Client.CoreV1().ServiceAccounts("team").Get(context.Background(), "dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	ok := []struct {
		name      string
		args      []string
		audiences []string
		lifetime  time.Duration
		boundPod  string
	}{
		{name: "defaults", lifetime: time.Hour, audiences: serviceaccount.DefaultAudiences()},
		{name: "duration", args: []string{"--duration", "2h"}, lifetime: 2 * time.Hour, audiences: serviceaccount.DefaultAudiences()},
		{name: "audience", args: []string{"--audience", "vault", "--audience", "ci"}, lifetime: time.Hour, audiences: []string{"vault", "ci"}},
		{name: "bound to a pod", args: []string{"--bound-object-kind", "Pod", "--bound-object-name", "worker"}, lifetime: time.Hour, audiences: serviceaccount.DefaultAudiences(), boundPod: "worker"},
		{name: "bound to a pod with its UID", args: []string{"--bound-object-kind", "Pod", "--bound-object-name", "worker", "--bound-object-uid", string(pod.UID)}, lifetime: time.Hour, audiences: serviceaccount.DefaultAudiences(), boundPod: "worker"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			out := k.ok(t, append([]string{"-n", "team", "create", "token", "dev"}, tc.args...)...)
			token := strings.TrimSpace(out)
			c, err := iss.Verify(token, time.Now())
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if c.Namespace != "team" || c.ServiceAccountName != "dev" || c.ServiceAccountUID != string(sa.UID) {
				t.Errorf("token for %s/%s (uid %s), want team/dev (uid %s)", c.Namespace, c.ServiceAccountName, c.ServiceAccountUID, sa.UID)
			}
			if c.Username() != "system:serviceaccount:team:dev" {
				t.Errorf("username %q", c.Username())
			}
			if !slices.Equal(c.Audiences, tc.audiences) {
				t.Errorf("audiences %q, want %q", c.Audiences, tc.audiences)
			}
			if c.Expiration != tc.lifetime {
				t.Errorf("lifetime %v, want %v", c.Expiration, tc.lifetime)
			}
			switch {
			case tc.boundPod == "" && c.BoundPod != nil:
				t.Errorf("bound to pod %+v, want unbound", c.BoundPod)
			case tc.boundPod != "" && (c.BoundPod == nil || c.BoundPod.Name != tc.boundPod || c.BoundPod.UID != string(pod.UID)):
				t.Errorf("bound to %+v, want pod %s uid %s", c.BoundPod, tc.boundPod, pod.UID)
			}
		})
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{name: "too short", args: []string{"dev", "--duration", "5m"},
			want: `TokenRequest.authentication.k8s.io "dev" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes`},
		{name: "missing service account", args: []string{"nobody"},
			want: `serviceaccounts "nobody" not found`},
		{name: "missing bound pod", args: []string{"dev", "--bound-object-kind", "Pod", "--bound-object-name", "ghost"},
			want: `pods "ghost" not found`},
		{name: "bound pod UID mismatch", args: []string{"dev", "--bound-object-kind", "Pod", "--bound-object-name", "worker", "--bound-object-uid", "0b6c0b9e-0000-4000-8000-000000000000"},
			want: `the UID in the bound object reference (0b6c0b9e-0000-4000-8000-000000000000) does not match the UID in record. The object might have been deleted and then recreated`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := k.fails(t, "", append([]string{"-n", "team", "create", "token"}, tc.args...)...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("kubectl's error lacks %q:\n%s", tc.want, r.stderr)
			}
		})
	}

	// Through client-go: a reference without a name is invalid, and a
	// name in the body must be the URL's.
	tokens := s.Client.CoreV1().ServiceAccounts("team")
	_, err = tokens.CreateToken(context.Background(), "dev", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod"},
	}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.boundObjectRef.name: Required value") {
		t.Errorf("a bound reference without a name: %v, want Invalid naming spec.boundObjectRef.name", err)
	}
	_, err = tokens.CreateToken(context.Background(), "dev", &authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must match the service account name if specified") {
		t.Errorf("a body naming another account: %v, want Invalid", err)
	}
	tr, err := tokens.CreateToken(context.Background(), "dev", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != "dev" || tr.Namespace != "team" || tr.Status.Token == "" || tr.Spec.ExpirationSeconds == nil || *tr.Spec.ExpirationSeconds != 3600 {
		t.Errorf("TokenRequest answer %s/%s, expirationSeconds %v, token set %v", tr.Namespace, tr.Name, tr.Spec.ExpirationSeconds, tr.Status.Token != "")
	}
	if left := time.Until(tr.Status.ExpirationTimestamp.Time); left < 58*time.Minute || left > 61*time.Minute {
		t.Errorf("expirationTimestamp %v is %v away, want an hour", tr.Status.ExpirationTimestamp, left)
	}

	// The subresource is in discovery, as kubectl api-resources and
	// RBAC tooling expect.
	res, err := s.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res.APIResources {
		if r.Name == "serviceaccounts/token" {
			found = r.Group == "authentication.k8s.io" && r.Version == "v1" && r.Kind == "TokenRequest" && slices.Equal(r.Verbs, []string{"create"})
		}
	}
	if !found {
		t.Error("discovery lacks serviceaccounts/token as a create of authentication.k8s.io/v1 TokenRequest")
	}
}

// TestServiceAccountAdmission: pods run as "default" unless they name an
// account, which must exist, and get the projected token volume and its
// mounts unless automounting is off.
func TestServiceAccountAdmission(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{})
	ctx := context.Background()
	k.ok(t, "create", "namespace", "team")
	k.ok(t, "-n", "team", "create", "serviceaccount", "dev")
	k.apply(t, `
apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: team}
automountServiceAccountToken: false
`)
	get := func(name string) *corev1.Pod {
		t.Helper()
		p, err := s.Client.CoreV1().Pods("team").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Defaults: the "default" account (made on demand even though no
	// controller runs here), the volume, a mount in every container.
	k.apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: team}
spec:
  initContainers: [{name: init, image: busybox}]
  containers: [{name: a, image: busybox}, {name: b, image: busybox}]
`)
	p := get("plain")
	if p.Spec.ServiceAccountName != "default" || p.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q / %q, want default", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
	}
	vol := checkTokenVolume(t, p)
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == vol && m.ReadOnly && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" && m.SubPath == ""
		}) {
			t.Errorf("container %s mounts %+v, want the token volume read-only", c.Name, c.VolumeMounts)
		}
	}
	out := k.ok(t, "-n", "team", "get", "pod", "plain", "-o", "jsonpath={.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds}")
	if out != "3607" {
		t.Errorf("kubectl shows expirationSeconds %q", out)
	}

	// Turned off, on the pod or on its account.
	k.apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: mount-off, namespace: team}
spec:
  serviceAccountName: dev
  automountServiceAccountToken: false
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: quiet-account, namespace: team}
spec:
  serviceAccountName: quiet
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: quiet-account-but-pod-wants, namespace: team}
spec:
  serviceAccountName: quiet
  automountServiceAccountToken: true
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: own-mount, namespace: team}
spec:
  serviceAccountName: dev
  volumes: [{name: mine, emptyDir: {}}]
  containers:
  - {name: own, image: busybox, volumeMounts: [{name: mine, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]}
  - {name: other, image: busybox}
`)
	for _, name := range []string{"mount-off", "quiet-account"} {
		p := get(name)
		for _, v := range p.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				t.Errorf("pod %s got volume %s with automounting off", name, v.Name)
			}
		}
		if n := len(p.Spec.Containers[0].VolumeMounts); n != 0 {
			t.Errorf("pod %s has %d mounts, want none", name, n)
		}
	}
	checkTokenVolume(t, get("quiet-account-but-pod-wants"))
	own := get("own-mount")
	vol = checkTokenVolume(t, own)
	if m := own.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Errorf("a container with its own mount at the path got %+v", m)
	}
	if m := own.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != vol {
		t.Errorf("the other container got %+v", m)
	}

	// A missing account refuses the pod, through kubectl and client-go.
	r := k.fails(t, `
apiVersion: v1
kind: Pod
metadata: {name: orphan, namespace: team}
spec:
  serviceAccountName: nobody
  containers: [{name: c, image: busybox}]
`, "apply", "-f", "-")
	want := `pods "orphan" is forbidden: error looking up service account team/nobody: serviceaccount "nobody" not found`
	if !strings.Contains(r.stderr, want) {
		t.Errorf("kubectl's error lacks %q:\n%s", want, r.stderr)
	}
	_, err := s.Client.CoreV1().Pods("team").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan"},
		Spec:       corev1.PodSpec{ServiceAccountName: "nobody", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create with a missing account: %v, want 403 Forbidden", err)
	}
	// In a missing namespace the namespace is what is reported.
	_, err = s.Client.CoreV1().Pods("nowhere").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "nowhere" not found`) {
		t.Errorf("create in a missing namespace: %v, want namespaces \"nowhere\" not found", err)
	}

	// A mirror pod is left alone but may not use accounts or secrets.
	mirror := func(name string, spec corev1.PodSpec) error {
		_, err := s.Client.CoreV1().Pods("team").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kubernetes.io/config.mirror": "abc"}},
			Spec:       spec,
		}, metav1.CreateOptions{})
		return err
	}
	if err := mirror("static", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}); err != nil {
		t.Fatal(err)
	}
	if p := get("static"); len(p.Spec.Volumes) != 0 || p.Spec.ServiceAccountName != "" {
		t.Errorf("mirror pod changed: account %q, volumes %+v", p.Spec.ServiceAccountName, p.Spec.Volumes)
	}
	err = mirror("static-sa", corev1.PodSpec{ServiceAccountName: "dev", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "a mirror pod may not reference service accounts") {
		t.Errorf("mirror pod naming an account: %v", err)
	}
}

// checkTokenVolume checks the pod's kube-api-access volume against what
// Kubernetes' admission adds and returns its name.
func checkTokenVolume(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	var vol *corev1.Volume
	for i := range p.Spec.Volumes {
		if strings.HasPrefix(p.Spec.Volumes[i].Name, "kube-api-access-") {
			vol = &p.Spec.Volumes[i]
		}
	}
	if vol == nil {
		t.Fatalf("pod %s has no kube-api-access volume: %+v", p.Name, p.Spec.Volumes)
	}
	if len(vol.Name) != len("kube-api-access-")+5 {
		t.Errorf("volume name %q, want five random characters after the prefix", vol.Name)
	}
	pr := vol.Projected
	if pr == nil || pr.DefaultMode == nil || *pr.DefaultMode != 0o644 || len(pr.Sources) != 3 {
		t.Fatalf("volume %s is %+v, want projected, mode 0644, three sources", vol.Name, vol.VolumeSource)
	}
	tok, cm, dw := pr.Sources[0].ServiceAccountToken, pr.Sources[1].ConfigMap, pr.Sources[2].DownwardAPI
	if tok == nil || tok.Path != "token" || tok.Audience != "" || tok.ExpirationSeconds == nil || *tok.ExpirationSeconds != 3607 {
		t.Errorf("token source %+v", tok)
	}
	if cm == nil || cm.Name != "kube-root-ca.crt" || len(cm.Items) != 1 || cm.Items[0].Key != "ca.crt" || cm.Items[0].Path != "ca.crt" {
		t.Errorf("configMap source %+v", cm)
	}
	if dw == nil || len(dw.Items) != 1 || dw.Items[0].Path != "namespace" || dw.Items[0].FieldRef == nil || dw.Items[0].FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("downwardAPI source %+v", dw)
	}
	return vol.Name
}

// TestRootCAConfigMap: every namespace gets kube-root-ca.crt with the
// cluster CA, put back when deleted or edited.
func TestRootCAConfigMap(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ca, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	holdsCA := func(what string) {
		t.Helper()
		pollUntil(t, 10*time.Second, what, func() (bool, error) {
			cm, err := cms.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return len(cm.Data) == 1 && cm.Data["ca.crt"] == string(ca), nil
		})
	}
	holdsCA("kube-root-ca.crt in a new namespace")
	for _, name := range []string{"default", "kube-system"} {
		if _, err := s.Client.CoreV1().ConfigMaps(name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			pollUntil(t, 10*time.Second, "kube-root-ca.crt in "+name, func() (bool, error) {
				_, err := s.Client.CoreV1().ConfigMaps(name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
				return err == nil, err
			})
		}
	}

	if err := cms.Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	holdsCA("kube-root-ca.crt recreated after delete")

	cm, err := cms.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["ca.crt"] = "forged"
	cm.Data["extra"] = "x"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	holdsCA("kube-root-ca.crt fixed after an edit")
}
