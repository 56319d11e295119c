package resourcequota

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func pod(name string, cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: cs}}
}

// equal compares resource lists by value, not by quantity format.
func equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for n, q := range a {
		if p, ok := b[n]; !ok || p.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

func TestTracked(t *testing.T) {
	apps := schema.GroupResource{Group: "apps", Resource: "deployments"}
	cases := []struct {
		name string
		want schema.GroupResource
		ok   bool
	}{
		{"pods", Pods, true},
		{"count/pods", Pods, true},
		{"requests.cpu", Pods, true},
		{"cpu", Pods, true},
		{"limits.ephemeral-storage", Pods, true},
		{"hugepages-2Mi", Pods, true},
		{"requests.hugepages-1Gi", Pods, true},
		{"requests.example.com/gpu", Pods, true},
		{"limits.example.com/gpu", schema.GroupResource{}, false},
		{"requests.storage", PersistentVolumeClaims, true},
		{"gold.storageclass.storage.k8s.io/requests.storage", PersistentVolumeClaims, true},
		{"gold.storageclass.storage.k8s.io/persistentvolumeclaims", PersistentVolumeClaims, true},
		{".storageclass.storage.k8s.io/requests.storage", schema.GroupResource{}, false},
		{"gold.storageclass.storage.k8s.io/other", schema.GroupResource{}, false},
		{"persistentvolumeclaims", PersistentVolumeClaims, true},
		{"services", Services, true},
		{"services.nodeports", Services, true},
		{"services.loadbalancers", Services, true},
		{"configmaps", schema.GroupResource{Resource: "configmaps"}, true},
		{"secrets", schema.GroupResource{Resource: "secrets"}, true},
		{"replicationcontrollers", schema.GroupResource{Resource: "replicationcontrollers"}, true},
		{"count/deployments.apps", apps, true},
		{"count/widgets.example.com", schema.GroupResource{Group: "example.com", Resource: "widgets"}, true},
		{"count/", schema.GroupResource{}, false},
		{"bogus", schema.GroupResource{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Tracked(corev1.ResourceName(tc.name))
			if got != tc.want || ok != tc.ok {
				t.Errorf("Tracked(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	noNodePorts := lb.DeepCopy()
	f := false
	noNodePorts.Spec.AllocateLoadBalancerNodePorts = &f
	gold := "gold"
	grace := int64(30)
	cases := []struct {
		name string
		gr   schema.GroupResource
		obj  runtime.Object
		want corev1.ResourceList
	}{
		{"best-effort pod", Pods, pod("p", container("c", nil, nil)), list("pods", "1", "count/pods", "1")},
		{"pod with requests and limits", Pods,
			pod("p", container("a", list("cpu", "250m", "memory", "64Mi"), list("cpu", "500m")), container("b", list("cpu", "250m"), nil)),
			list("pods", "1", "count/pods", "1", "cpu", "500m", "requests.cpu", "500m", "limits.cpu", "500m", "memory", "64Mi", "requests.memory", "64Mi")},
		{"init container peak wins", Pods, func() runtime.Object {
			p := pod("p", container("a", list("cpu", "100m"), nil))
			p.Spec.InitContainers = []corev1.Container{container("i", list("cpu", "1"), nil)}
			return p
		}(), list("pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1")},
		{"sidecar adds to containers", Pods, func() runtime.Object {
			p := pod("p", container("a", list("cpu", "100m"), nil))
			s := container("s", list("cpu", "200m"), nil)
			s.RestartPolicy = &always
			p.Spec.InitContainers = []corev1.Container{s}
			p.Spec.Overhead = list("cpu", "10m")
			return p
		}(), list("pods", "1", "count/pods", "1", "cpu", "310m", "requests.cpu", "310m")},
		{"extended and hugepages", Pods,
			pod("p", container("a", list("example.com/gpu", "2", "hugepages-2Mi", "4Mi"), nil)),
			list("pods", "1", "count/pods", "1", "requests.example.com/gpu", "2", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi")},
		{"finished pod counts only as an object", Pods, func() runtime.Object {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.Status.Phase = corev1.PodSucceeded
			return p
		}(), list("count/pods", "1")},
		{"pod deleted past its grace", Pods, func() runtime.Object {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
			p.DeletionGracePeriodSeconds = &grace
			return p
		}(), list("count/pods", "1")},
		{"pod within its grace", Pods, func() runtime.Object {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Second)}
			p.DeletionGracePeriodSeconds = &grace
			return p
		}(), list("pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1")},
		{"cluster IP service", Services, &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
			list("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"node port service", Services, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 81}}}},
			list("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "0")},
		{"load balancer", Services, lb, list("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "1")},
		{"load balancer without node ports", Services, noNodePorts, list("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "1")},
		{"claim with class", PersistentVolumeClaims, &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &gold, Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "1Gi")}}},
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
				"gold.storageclass.storage.k8s.io/requests.storage", "1Gi", "gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1")},
		{"claim with annotated class and larger allocation", PersistentVolumeClaims, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{storageClassAnnotation: "slow"}},
			Spec:       corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "1Gi")}},
			Status:     corev1.PersistentVolumeClaimStatus{AllocatedResources: list("storage", "2Gi")}},
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi",
				"slow.storageclass.storage.k8s.io/requests.storage", "2Gi", "slow.storageclass.storage.k8s.io/persistentvolumeclaims", "1")},
		{"configmap", schema.GroupResource{Resource: "configmaps"}, &corev1.ConfigMap{}, list("configmaps", "1", "count/configmaps", "1")},
		{"deployment", schema.GroupResource{Group: "apps", Resource: "deployments"}, &appsv1.Deployment{}, list("count/deployments.apps", "1")},
		{"metadata only", schema.GroupResource{Resource: "secrets"}, &metav1.PartialObjectMetadata{}, list("secrets", "1", "count/secrets", "1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Usage(tc.gr, tc.obj, now)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tc.want) {
				t.Errorf("Usage = %v\nwant    %v", got, tc.want)
			}
		})
	}
	if _, err := Usage(Pods, &corev1.ConfigMap{}, now); err == nil {
		t.Error("Usage of a ConfigMap as a pod: no error")
	}
}

func TestInScope(t *testing.T) {
	deadline := int64(60)
	terminating := pod("t", container("c", list("cpu", "1"), nil))
	terminating.Spec.ActiveDeadlineSeconds = &deadline
	besteffort := pod("b", container("c", nil, nil))
	high := pod("h", container("c", nil, nil))
	high.Spec.PriorityClassName = "high"
	cross := pod("x", container("c", nil, nil))
	cross.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{PodAffinityTerm: corev1.PodAffinityTerm{Namespaces: []string{"other"}}}}}}
	scoped := func(s ...corev1.ResourceQuotaScope) *corev1.ResourceQuotaSpec {
		return &corev1.ResourceQuotaSpec{Scopes: s}
	}
	selected := func(op corev1.ScopeSelectorOperator, v ...string) *corev1.ResourceQuotaSpec {
		return &corev1.ResourceQuotaSpec{ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: op, Values: v}}}}
	}
	cases := []struct {
		name string
		spec *corev1.ResourceQuotaSpec
		gr   schema.GroupResource
		obj  runtime.Object
		want bool
	}{
		{"no scope", scoped(), Pods, besteffort, true},
		{"no scope, service", scoped(), Services, &corev1.Service{}, true},
		{"scoped quota, service", scoped(corev1.ResourceQuotaScopeNotTerminating), Services, &corev1.Service{}, false},
		{"terminating", scoped(corev1.ResourceQuotaScopeTerminating), Pods, terminating, true},
		{"terminating, long-running pod", scoped(corev1.ResourceQuotaScopeTerminating), Pods, besteffort, false},
		{"not terminating", scoped(corev1.ResourceQuotaScopeNotTerminating), Pods, besteffort, true},
		{"best effort", scoped(corev1.ResourceQuotaScopeBestEffort), Pods, besteffort, true},
		{"best effort, burstable pod", scoped(corev1.ResourceQuotaScopeBestEffort), Pods, terminating, false},
		{"not best effort", scoped(corev1.ResourceQuotaScopeNotBestEffort), Pods, terminating, true},
		{"two scopes both hold", scoped(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotBestEffort), Pods, terminating, true},
		{"two scopes one fails", scoped(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeBestEffort), Pods, terminating, false},
		{"priority in", selected(corev1.ScopeSelectorOpIn, "high", "low"), Pods, high, true},
		{"priority in, no class", selected(corev1.ScopeSelectorOpIn, "high"), Pods, besteffort, false},
		{"priority not in", selected(corev1.ScopeSelectorOpNotIn, "high"), Pods, high, false},
		{"priority not in, no class", selected(corev1.ScopeSelectorOpNotIn, "high"), Pods, besteffort, true},
		{"priority exists", selected(corev1.ScopeSelectorOpExists), Pods, high, true},
		{"priority does not exist", selected(corev1.ScopeSelectorOpDoesNotExist), Pods, high, false},
		{"cross-namespace affinity", scoped(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), Pods, cross, true},
		{"cross-namespace affinity, none", scoped(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), Pods, high, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InScope(tc.spec, tc.gr, tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("InScope = %v, want %v", got, tc.want)
			}
		})
	}
}

func quota(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func TestCheck(t *testing.T) {
	small := pod("p", container("c", list("cpu", "500m", "memory", "64Mi"), list("cpu", "500m", "memory", "64Mi")))
	fresh := quota("fresh", nil, nil)
	fresh.Spec.Hard = list("pods", "2")
	cases := []struct {
		name    string
		quotas  []*corev1.ResourceQuota
		gr      schema.GroupResource
		obj     runtime.Object
		old     runtime.Object
		refusal string
		charged map[string]corev1.ResourceList
	}{
		{name: "no quota", gr: Pods, obj: small},
		{name: "room left", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "2"), list("pods", "1"))}, gr: Pods, obj: small,
			charged: map[string]corev1.ResourceList{"q": list("pods", "2")}},
		{name: "pod count full", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "2"), list("pods", "2"))}, gr: Pods, obj: small,
			refusal: "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"},
		{name: "several exceeded, sorted, only those listed",
			quotas: []*corev1.ResourceQuota{quota("compute", list("pods", "10", "requests.cpu", "1", "requests.memory", "100Mi"), list("pods", "1", "requests.cpu", "800m", "requests.memory", "64Mi"))},
			gr:     Pods, obj: small,
			refusal: "exceeded quota: compute, requested: requests.cpu=500m,requests.memory=64Mi, used: requests.cpu=800m,requests.memory=64Mi, limited: requests.cpu=1,requests.memory=100Mi"},
		{name: "second quota refuses, first not charged in the answer",
			quotas: []*corev1.ResourceQuota{quota("a", list("pods", "5"), list("pods", "0")), quota("b", list("count/pods", "1"), list("count/pods", "1"))},
			gr:     Pods, obj: small, refusal: "exceeded quota: b, requested: count/pods=1, used: count/pods=1, limited: count/pods=1"},
		{name: "every applying quota charged",
			quotas: []*corev1.ResourceQuota{quota("a", list("pods", "5", "configmaps", "3"), list("pods", "0", "configmaps", "0")), quota("b", list("limits.cpu", "2"), list("limits.cpu", "1"))},
			gr:     Pods, obj: small,
			charged: map[string]corev1.ResourceList{"a": list("pods", "1", "configmaps", "0"), "b": list("limits.cpu", "1500m")}},
		{name: "missing limits named per container",
			quotas: []*corev1.ResourceQuota{quota("q", list("limits.cpu", "2", "limits.memory", "1Gi", "requests.cpu", "2"), list("limits.cpu", "0", "limits.memory", "0", "requests.cpu", "0"))},
			gr:     Pods, obj: pod("p", container("b", list("cpu", "1"), nil), container("a", nil, list("memory", "1Mi"))),
			refusal: "failed quota: q: must specify limits.cpu for: a,b; limits.memory for: b; requests.cpu for: a"},
		{name: "status not yet measured",
			quotas: []*corev1.ResourceQuota{quota("q", list("pods", "2", "services", "1"), list("services", "0"))}, gr: Pods, obj: small,
			refusal: "status unknown for quota: q, resources: pods"},
		{name: "quota the controller has not seen limits nothing", quotas: []*corev1.ResourceQuota{fresh}, gr: Pods, obj: small},
		{name: "quota tracking other kinds", quotas: []*corev1.ResourceQuota{quota("q", list("services", "0"), list("services", "0"))}, gr: Pods, obj: small},
		{name: "best-effort quota ignores a burstable pod",
			quotas: func() []*corev1.ResourceQuota {
				q := quota("q", list("pods", "0"), list("pods", "0"))
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
				return []*corev1.ResourceQuota{q}
			}(), gr: Pods, obj: small},
		{name: "best-effort quota refuses a best-effort pod",
			quotas: func() []*corev1.ResourceQuota {
				q := quota("q", list("pods", "1"), list("pods", "1"))
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
				return []*corev1.ResourceQuota{q}
			}(), gr: Pods, obj: pod("p", container("c", nil, nil)),
			refusal: "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"},
		{name: "node ports",
			quotas: []*corev1.ResourceQuota{quota("q", list("services.nodeports", "1"), list("services.nodeports", "0"))}, gr: Services,
			obj:     &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}},
			refusal: "exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"},
		{name: "update charged the difference",
			quotas: []*corev1.ResourceQuota{quota("q", list("requests.storage", "2500Mi"), list("requests.storage", "2Gi"))}, gr: PersistentVolumeClaims,
			obj:     &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "3Gi")}}},
			old:     &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "2Gi")}}},
			refusal: "exceeded quota: q, requested: requests.storage=1Gi, used: requests.storage=2Gi, limited: requests.storage=2500Mi"},
		{name: "update that adds nothing charges nothing",
			quotas: []*corev1.ResourceQuota{quota("q", list("services", "1"), list("services", "1"))}, gr: Services,
			obj: &corev1.Service{}, old: &corev1.Service{}},
		{name: "generic count",
			quotas: []*corev1.ResourceQuota{quota("q", list("count/deployments.apps", "1"), list("count/deployments.apps", "1"))},
			gr:     schema.GroupResource{Group: "apps", Resource: "deployments"}, obj: &appsv1.Deployment{},
			refusal: "exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			charges, err := Check(tc.quotas, tc.gr, tc.obj, tc.old, now)
			var r *Refusal
			switch {
			case tc.refusal != "":
				if !errors.As(err, &r) || r.Message != tc.refusal {
					t.Fatalf("Check error = %v\nwant refusal    %s", err, tc.refusal)
				}
				return
			case err != nil:
				t.Fatalf("Check: %v", err)
			}
			if len(charges) != len(tc.charged) {
				t.Fatalf("charged %d quotas, want %d: %v", len(charges), len(tc.charged), charges)
			}
			for _, c := range charges {
				if want := tc.charged[c.Quota.Name]; !equal(c.Used, want) {
					t.Errorf("quota %s used = %v, want %v", c.Quota.Name, c.Used, want)
				}
			}
		})
	}
}
