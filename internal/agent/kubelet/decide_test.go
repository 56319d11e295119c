package kubelet

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestShouldRestart(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	cases := []struct {
		name    string
		policy  corev1.RestartPolicy
		sidecar bool
		init    bool
		exit    int32
		want    bool
	}{
		{"always, success", corev1.RestartPolicyAlways, false, false, 0, true},
		{"always, failure", corev1.RestartPolicyAlways, false, false, 1, true},
		{"on failure, success", corev1.RestartPolicyOnFailure, false, false, 0, false},
		{"on failure, failure", corev1.RestartPolicyOnFailure, false, false, 2, true},
		{"never, failure", corev1.RestartPolicyNever, false, false, 1, false},
		{"init, failure, pod always", corev1.RestartPolicyAlways, false, true, 1, true},
		{"init, success", corev1.RestartPolicyAlways, false, true, 0, false},
		{"init, failure, pod never", corev1.RestartPolicyNever, false, true, 1, false},
		{"sidecar, pod never", corev1.RestartPolicyNever, true, true, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			c := &corev1.Container{Name: "c"}
			if tc.sidecar {
				c.RestartPolicy = &always
			}
			st := &runtimeapi.ContainerStatus{ExitCode: tc.exit}
			if got := shouldRestart(pod, c, st, tc.init); got != tc.want {
				t.Fatalf("shouldRestart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	exited := func(code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
	}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: exited(1)}
	cases := []struct {
		name        string
		policy      corev1.RestartPolicy
		initialized bool
		statuses    []corev1.ContainerStatus
		want        corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, true, []corev1.ContainerStatus{{State: waiting}}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, true, []corev1.ContainerStatus{{State: running}, {State: exited(0)}}, corev1.PodRunning},
		{"crash loop counts as running", corev1.RestartPolicyAlways, true, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
		{"never, all succeeded", corev1.RestartPolicyNever, true, []corev1.ContainerStatus{{State: exited(0)}, {State: exited(0)}}, corev1.PodSucceeded},
		{"never, one failed", corev1.RestartPolicyNever, true, []corev1.ContainerStatus{{State: exited(0)}, {State: exited(3)}}, corev1.PodFailed},
		{"on failure, succeeded", corev1.RestartPolicyOnFailure, true, []corev1.ContainerStatus{{State: exited(0)}}, corev1.PodSucceeded},
		{"on failure, failed restarts", corev1.RestartPolicyOnFailure, true, []corev1.ContainerStatus{{State: exited(1)}}, corev1.PodRunning},
		{"always, all exited", corev1.RestartPolicyAlways, true, []corev1.ContainerStatus{{State: exited(0)}}, corev1.PodRunning},
		{"not initialized", corev1.RestartPolicyAlways, false, []corev1.ContainerStatus{{State: waiting}}, corev1.PodPending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			st := &corev1.PodStatus{ContainerStatuses: tc.statuses}
			if got := podPhase(pod, st, tc.initialized); got != tc.want {
				t.Fatalf("podPhase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodPhaseFailedInit(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, InitContainers: []corev1.Container{{Name: "i"}}}}
	st := &corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: "i", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}
	if got := podPhase(pod, st, false); got != corev1.PodFailed {
		t.Fatalf("failed init container with restartPolicy Never: %s, want Failed", got)
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	if got := podPhase(pod, st, false); got != corev1.PodPending {
		t.Fatalf("failed init container with restartPolicy Always: %s, want Pending", got)
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name      string
		resources []corev1.ResourceRequirements
		want      corev1.PodQOSClass
	}{
		{"none", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"limits only", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"equal", []corev1.ResourceRequirements{{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"requests below limits", []corev1.ResourceRequirements{{Requests: rl("500m", "1Gi"), Limits: rl("1", "1Gi")}}, corev1.PodQOSBurstable},
		{"one container without", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}, {}}, corev1.PodQOSBurstable},
		{"memory only", []corev1.ResourceRequirements{{Requests: rl("", "64Mi")}}, corev1.PodQOSBurstable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for _, r := range tc.resources {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: r})
			}
			if got := qosClass(pod); got != tc.want {
				t.Fatalf("qosClass = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	k := &Kubelet{}
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*c}}}
	r := k.resources(pod, c)
	if r.CpuShares != 256 || r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.MemoryLimitInBytes != 64<<20 {
		t.Fatalf("resources: shares %d quota %d period %d memory %d", r.CpuShares, r.CpuQuota, r.CpuPeriod, r.MemoryLimitInBytes)
	}
	best := &corev1.Container{}
	r = k.resources(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*best}}}, best)
	if r.CpuShares != minShares || r.CpuQuota != 0 || r.OomScoreAdj != 1000 {
		t.Fatalf("best effort: shares %d quota %d oom %d", r.CpuShares, r.CpuQuota, r.OomScoreAdj)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(10*time.Second, 40*time.Second)
	t0 := time.Unix(1000, 0)
	key := backoffKey("uid", "c")
	if w := b.wait(key, t0, t0); w != 0 {
		t.Fatalf("first restart waits %s, want none", w)
	}
	b.next(key, t0)
	// The container ran 1 s and exited: 9 s of the 10 s back-off left.
	if w := b.wait(key, t0.Add(time.Second), t0.Add(2*time.Second)); w != 9*time.Second {
		t.Fatalf("second restart waits %s, want 9s", w)
	}
	for i, want := range []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second} {
		b.next(key, t0)
		if d := b.delay(key); d != want {
			t.Fatalf("after %d more restarts the delay is %s, want %s", i+1, d, want)
		}
	}
	// Untouched for twice the limit: start over.
	later := t0.Add(81 * time.Second)
	if w := b.wait(key, later, later); w != 0 {
		t.Fatalf("after a quiet spell waits %s, want none", w)
	}
	b.forgetPod("uid")
	if d := b.delay(key); d != 10*time.Second {
		t.Fatalf("forgotten pod's delay %s, want the initial 10s", d)
	}
}

func TestExpander(t *testing.T) {
	expand := expander([]*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}, {Key: "B", Value: []byte("two")}})
	cases := map[string]string{
		"$(A)":        "1",
		"x$(B)y":      "xtwoy",
		"$$(A)":       "$(A)",
		"$(MISSING)":  "$(MISSING)",
		"$(A":         "$(A",
		"plain":       "plain",
		"$":           "$",
		"$(A)-$(B)$$": "1-two$",
	}
	for in, want := range cases {
		if got := expand(in); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDNSConfig(t *testing.T) {
	host := hostResolvConf()
	clusterSearch := appendNew([]string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, host.Searches...)
	cases := []struct {
		name        string
		clusterDNS  []string
		policy      corev1.DNSPolicy
		hostNetwork bool
		dnsConfig   *corev1.PodDNSConfig
		want        *runtimeapi.DNSConfig // nil: the runtime copies the host's
	}{
		{name: "ClusterFirst", clusterDNS: []string{"10.43.0.10"},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "ClusterFirst without cluster DNS uses the host's", policy: corev1.DNSClusterFirst},
		{name: "ClusterFirst on the host network uses the host's", clusterDNS: []string{"10.43.0.10"}, policy: corev1.DNSClusterFirst, hostNetwork: true},
		{name: "ClusterFirstWithHostNet on the host network", clusterDNS: []string{"10.43.0.10"}, policy: corev1.DNSClusterFirstWithHostNet, hostNetwork: true,
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "ClusterFirstWithHostNet off the host network is ClusterFirst", clusterDNS: []string{"10.43.0.10"}, policy: corev1.DNSClusterFirstWithHostNet,
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "Default", clusterDNS: []string{"10.43.0.10"}, policy: corev1.DNSDefault},
		{name: "None with dnsConfig", clusterDNS: []string{"10.43.0.10"}, policy: corev1.DNSNone,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}},
			want:      &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "ClusterFirst merges dnsConfig", clusterDNS: []string{"10.43.0.10"},
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"10.43.0.10", "1.1.1.1"}, Searches: []string{"cluster.local", "a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}}},
			want:      &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10", "1.1.1.1"}, Searches: appendNew(clusterSearch, "a.example"), Options: []string{"ndots:1"}}},
		{name: "at most three nameservers", policy: corev1.DNSNone,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"}},
			want:      &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1", "1.1.1.2", "1.1.1.3"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kubelet{cfg: Config{ClusterDomain: "cluster.local", ClusterDNS: tc.clusterDNS}}
			pod := &corev1.Pod{}
			pod.Namespace = "shop"
			pod.Spec.DNSPolicy = tc.policy
			pod.Spec.HostNetwork = tc.hostNetwork
			pod.Spec.DNSConfig = tc.dnsConfig
			got := k.dnsConfig(pod)
			if (got == nil) != (tc.want == nil) || got != nil && (!slices.Equal(got.Servers, tc.want.Servers) ||
				!slices.Equal(got.Searches, tc.want.Searches) || !slices.Equal(got.Options, tc.want.Options)) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	cases := []struct {
		name string
		text string
		want *runtimeapi.DNSConfig
	}{
		{name: "empty", want: &runtimeapi.DNSConfig{}},
		{name: "typical", text: "# generated\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch example.com. corp.example.com\noptions edns0 ndots:2\n",
			want: &runtimeapi.DNSConfig{Servers: []string{"10.0.0.2", "10.0.0.3"}, Searches: []string{"example.com", "corp.example.com"}, Options: []string{"edns0", "ndots:2"}}},
		{name: "last search line wins, root dropped", text: "search a.example\nsearch . b.example\n",
			want: &runtimeapi.DNSConfig{Searches: []string{"b.example"}}},
		{name: "keywords without values are ignored", text: "nameserver\nsearch\noptions\n", want: &runtimeapi.DNSConfig{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := parseResolvConf(tc.text)
			if !slices.Equal(got.Servers, tc.want.Servers) || !slices.Equal(got.Searches, tc.want.Searches) || !slices.Equal(got.Options, tc.want.Options) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseResolvConf checks that any text parses, and that no search
// domain comes out empty or with a trailing dot.
func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 10.0.0.2\nsearch example.com.\noptions ndots:2\n")
	f.Add("search . ..\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, s := range parseResolvConf(text).Searches {
			if s == "" || strings.HasSuffix(s, ".") {
				t.Fatalf("search domain %q from %q", s, text)
			}
		}
	})
}
