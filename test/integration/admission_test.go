package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
