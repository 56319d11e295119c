package integration

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestPodSecurityAdmission: namespaces labelled with Pod Security levels
// refuse pods that break the enforce level with Kubernetes' reasons, and
// warn — through kubectl — about pods and workloads that break the warn
// or enforce level.
func TestPodSecurityAdmission(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	k.ok(t, "create", "namespace", "strict")
	k.ok(t, "label", "namespace", "strict", "pod-security.kubernetes.io/enforce=restricted")
	k.ok(t, "create", "namespace", "watched")
	k.ok(t, "label", "namespace", "watched", "pod-security.kubernetes.io/warn=baseline")

	// A plain pod breaks restricted.
	r := k.runWith(t, "", nil, "-n", "strict", "run", "plain", "--image=busybox", "--restart=Never")
	if r.code == 0 {
		t.Fatalf("a pod breaking restricted was admitted:\n%s", r.stdout)
	}
	for _, want := range []string{
		`pods "plain" is forbidden: violates PodSecurity "restricted:latest": `,
		`allowPrivilegeEscalation != false (container "plain" must set securityContext.allowPrivilegeEscalation=false)`,
		`unrestricted capabilities (container "plain" must set securityContext.capabilities.drop=["ALL"])`,
		`runAsNonRoot != true (pod or container "plain" must set securityContext.runAsNonRoot=true)`,
		`seccompProfile (pod or container "plain" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("kubectl's error lacks %q:\n%s", want, r.stderr)
		}
	}

	// A compliant pod is admitted.
	k.apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: compliant, namespace: strict}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: busybox
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`)

	// A Deployment whose pods would be refused is admitted with a warning.
	r = k.runWith(t, "", nil, "-n", "strict", "create", "deployment", "web", "--image=busybox")
	if r.code != 0 {
		t.Fatalf("create deployment in a restricted namespace: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, `Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false`) {
		t.Errorf("no PodSecurity warning for the Deployment:\n%s", r.stderr)
	}

	// warn=baseline: a privileged pod is admitted, with the warning.
	r = k.runWith(t, `
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: watched}
spec:
  containers:
  - {name: c, image: busybox, securityContext: {privileged: true}}
`, nil, "apply", "-f", "-")
	if r.code != 0 {
		t.Fatalf("apply a privileged pod under warn=baseline: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, `Warning: would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`) {
		t.Errorf("no baseline warning:\n%s", r.stderr)
	}
}

// TestLimitRangeAdmission: a namespace's LimitRange fills in requests and
// limits of containers that have none, and refuses containers beyond its
// maximum with Kubernetes' message.
func TestLimitRangeAdmission(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}},
	}
	if _, err := s.Client.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.ok(t, "-n", ns, "run", "plain", "--image=busybox", "--restart=Never")
	pod, err := s.Client.CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := pod.Spec.Containers[0].Resources
	if res.Requests.Cpu().String() != "100m" || res.Limits.Cpu().String() != "500m" || res.Requests.Memory().String() != "64Mi" || res.Limits.Memory().String() != "256Mi" {
		t.Errorf("defaulted resources: requests %v limits %v", res.Requests, res.Limits)
	}
	if got := pod.Annotations["kubernetes.io/limit-ranger"]; !strings.Contains(got, "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit for container plain") {
		t.Errorf("limit-ranger annotation %q", got)
	}
	if pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("QoS class %q after defaulting, want Burstable", pod.Status.QOSClass)
	}

	r := k.runWith(t, "", nil, "-n", ns, "run", "big", "--image=busybox", "--restart=Never", "--overrides",
		`{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"limits":{"cpu":"2"}}}]}}`)
	if r.code == 0 {
		t.Fatal("a container over the maximum was admitted")
	}
	if !strings.Contains(r.stderr, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2`) {
		t.Errorf("kubectl's error:\n%s", r.stderr)
	}
}

// TestDefaultStorageClass: a claim naming no class gets the default
// StorageClass (the newest when several claim it); "" stays no class.
func TestDefaultStorageClass(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: class,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		got, err := s.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	className := func(p *corev1.PersistentVolumeClaim) string {
		if p.Spec.StorageClassName == nil {
			return "<nil>"
		}
		return *p.Spec.StorageClassName
	}
	if got := className(claim("before", nil)); got != "<nil>" {
		t.Errorf("a claim without a default class: class %s, want none", got)
	}
	for _, name := range []string{"older", "newer"} {
		sc := &storagev1.StorageClass{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: "example.com/none",
		}
		if _, err := s.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // creation times have one-second resolution
	}
	if got := className(claim("defaulted", nil)); got != "newer" {
		t.Errorf("a claim naming no class: class %s, want the newest default, newer", got)
	}
	empty := ""
	if got := className(claim("none", &empty)); got != "" {
		t.Errorf(`a claim with class "": class %q, want ""`, got)
	}
	older := "older"
	if got := className(claim("explicit", &older)); got != "older" {
		t.Errorf("a claim naming older: class %s", got)
	}
}
