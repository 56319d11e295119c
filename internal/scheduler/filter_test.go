package scheduler

import (
	"reflect"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFilter(t *testing.T) {
	gpu := withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)
	cases := []struct {
		name  string
		node  *corev1.Node
		bound []*corev1.Pod
		pod   *corev1.Pod
		want  []string
	}{
		{name: "fits", node: testNode("n", "2", "4Gi"), pod: testPod("p", "1", "1Gi")},
		{name: "not ready", node: testNode("n", "2", "4Gi", notReady), pod: testPod("p", "1", "1Gi"), want: []string{reasonNotReady}},
		{name: "not ready tolerated", node: testNode("n", "2", "4Gi", notReady), pod: testPod("p", "1", "1Gi",
			withToleration(corev1.Toleration{Key: taintNotReady, Operator: corev1.TolerationOpExists})), want: nil},
		{name: "cordoned", node: testNode("n", "2", "4Gi", cordoned), pod: testPod("p", "", ""), want: []string{reasonUnschedulable}},
		{name: "cordoned tolerated", node: testNode("n", "2", "4Gi", cordoned), pod: testPod("p", "", "",
			withToleration(corev1.Toleration{Key: taintUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))},
		{name: "taint", node: testNode("n", "2", "4Gi", gpu), pod: testPod("p", "", ""), want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "taint NoExecute", node: testNode("n", "2", "4Gi", withTaint("k", "", corev1.TaintEffectNoExecute)), pod: testPod("p", "", ""), want: []string{"node(s) had untolerated taint {k: }"}},
		{name: "taint PreferNoSchedule is no filter", node: testNode("n", "2", "4Gi", withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), pod: testPod("p", "", "")},
		{name: "taint tolerated equal", node: testNode("n", "2", "4Gi", gpu), pod: testPod("p", "", "",
			withToleration(corev1.Toleration{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))},
		{name: "taint wrong value", node: testNode("n", "2", "4Gi", gpu), pod: testPod("p", "", "",
			withToleration(corev1.Toleration{Key: "dedicated", Value: "cpu"})), want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "taint wrong effect", node: testNode("n", "2", "4Gi", gpu), pod: testPod("p", "", "",
			withToleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})), want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "tolerate everything", node: testNode("n", "2", "4Gi", gpu), pod: testPod("p", "", "",
			withToleration(corev1.Toleration{Operator: corev1.TolerationOpExists}))},
		{name: "node selector", node: testNode("n", "2", "4Gi", withLabel("disk", "ssd")), pod: testPod("p", "", "", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		})},
		{name: "node selector mismatch", node: testNode("n", "2", "4Gi"), pod: testPod("p", "", "", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}), want: []string{reasonAffinity}},
		{name: "affinity In", node: testNode("n", "2", "4Gi", withLabel("zone", "a")), pod: testPod("p", "", "", withRequiredTerms(expr("zone", corev1.NodeSelectorOpIn, "a", "b")))},
		{name: "affinity NotIn", node: testNode("n", "2", "4Gi", withLabel("zone", "a")), pod: testPod("p", "", "", withRequiredTerms(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), want: []string{reasonAffinity}},
		{name: "affinity Exists", node: testNode("n", "2", "4Gi", withLabel("zone", "a")), pod: testPod("p", "", "", withRequiredTerms(expr("zone", corev1.NodeSelectorOpExists)))},
		{name: "affinity DoesNotExist", node: testNode("n", "2", "4Gi", withLabel("zone", "a")), pod: testPod("p", "", "", withRequiredTerms(expr("zone", corev1.NodeSelectorOpDoesNotExist))), want: []string{reasonAffinity}},
		{name: "affinity Gt", node: testNode("n", "2", "4Gi", withLabel("gen", "5")), pod: testPod("p", "", "", withRequiredTerms(expr("gen", corev1.NodeSelectorOpGt, "4")))},
		{name: "affinity Gt fails", node: testNode("n", "2", "4Gi", withLabel("gen", "3")), pod: testPod("p", "", "", withRequiredTerms(expr("gen", corev1.NodeSelectorOpGt, "4"))), want: []string{reasonAffinity}},
		{name: "affinity Lt", node: testNode("n", "2", "4Gi", withLabel("gen", "3")), pod: testPod("p", "", "", withRequiredTerms(expr("gen", corev1.NodeSelectorOpLt, "4")))},
		{name: "affinity terms are ORed", node: testNode("n", "2", "4Gi", withLabel("zone", "b")), pod: testPod("p", "", "", withRequiredTerms(
			expr("zone", corev1.NodeSelectorOpIn, "a"), expr("zone", corev1.NodeSelectorOpIn, "b")))},
		{name: "affinity empty term matches nothing", node: testNode("n", "2", "4Gi"), pod: testPod("p", "", "", withRequiredTerms(corev1.NodeSelectorTerm{})), want: []string{reasonAffinity}},
		{name: "affinity matchFields", node: testNode("n", "2", "4Gi"), pod: testPod("p", "", "", withRequiredTerms(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}}))},
		{name: "affinity matchFields other", node: testNode("n", "2", "4Gi"), pod: testPod("p", "", "", withRequiredTerms(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"m"}}}})), want: []string{reasonAffinity}},
		{name: "host port taken", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"), withHostPort(80))},
			pod: testPod("p", "", "", withHostPort(80)), want: []string{reasonPorts}},
		{name: "host port free", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"), withHostPort(80))},
			pod: testPod("p", "", "", withHostPort(81))},
		{name: "host port other ip", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.1"}}
		})}, pod: testPod("p", "", "", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.2"}}
		})},
		{name: "host port wildcard vs ip", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.1"}}
		})}, pod: testPod("p", "", "", withHostPort(80)), want: []string{reasonPorts}},
		{name: "host port other protocol", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"), withHostPort(53))},
			pod: testPod("p", "", "", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 53, Protocol: corev1.ProtocolUDP}}
			})},
		{name: "cpu", node: testNode("n", "2", "4Gi"), bound: []*corev1.Pod{testPod("b", "1500m", "", boundTo("n"))}, pod: testPod("p", "1", ""), want: []string{"Insufficient cpu"}},
		{name: "cpu and memory", node: testNode("n", "2", "4Gi"), pod: testPod("p", "3", "5Gi"), want: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "ephemeral storage", node: testNode("n", "2", "4Gi", withAllocatable(corev1.ResourceEphemeralStorage, "10Gi")),
			pod: testPod("p", "", "", withRequest(corev1.ResourceEphemeralStorage, "11Gi")), want: []string{"Insufficient ephemeral-storage"}},
		{name: "extended resource missing", node: testNode("n", "2", "4Gi"), pod: testPod("p", "", "", withRequest("example.com/gpu", "1")), want: []string{"Insufficient example.com/gpu"}},
		{name: "extended resource", node: testNode("n", "2", "4Gi", withAllocatable("example.com/gpu", "2")), pod: testPod("p", "", "", withRequest("example.com/gpu", "2"))},
		{name: "too many pods", node: testNode("n", "2", "4Gi", withAllocatable(corev1.ResourcePods, "1")), bound: []*corev1.Pod{testPod("b", "", "", boundTo("n"))},
			pod: testPod("p", "", ""), want: []string{reasonTooManyPods}},
		{name: "init container dominates", node: testNode("n", "2", "4Gi"), pod: testPod("p", "1", "", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
		}), want: []string{"Insufficient cpu"}},
		{name: "overhead counts", node: testNode("n", "2", "4Gi"), pod: testPod("p", "1900m", "", func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
		}), want: []string{"Insufficient cpu"}},
		{name: "first failing check wins", node: testNode("n", "1", "1Gi", cordoned, withTaint("a", "b", corev1.TaintEffectNoSchedule)), pod: testPod("p", "4", ""), want: []string{reasonUnschedulable}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cacheWith([]*corev1.Node{tc.node}, tc.bound...)
			got := filter(newPodInfo(tc.pod), c.nodes[tc.node.Name])
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("filter = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	cpu := func(q string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}
	}
	cases := []struct {
		name string
		spec corev1.PodSpec
		want int64
	}{
		{name: "sum of containers", spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: cpu("1")}, {Resources: cpu("500m")}}}, want: 1500},
		{name: "init larger", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: cpu("2")}},
			Containers:     []corev1.Container{{Resources: cpu("1")}}}, want: 2000},
		{name: "init smaller", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: cpu("500m")}},
			Containers:     []corev1.Container{{Resources: cpu("1")}}}, want: 1000},
		{name: "sidecar adds", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: cpu("300m"), RestartPolicy: &always}, {Resources: cpu("1")}},
			Containers:     []corev1.Container{{Resources: cpu("1")}}}, want: 1300},
		{name: "overhead", spec: corev1.PodSpec{
			Containers: []corev1.Container{{Resources: cpu("1")}},
			Overhead:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}, want: 1250},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := podRequests(&tc.spec).milliCPU; got != tc.want {
				t.Errorf("cpu = %dm; want %dm", got, tc.want)
			}
		})
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	for _, tc := range []struct{ nodes, want int }{{5, 5}, {99, 99}, {100, 100}, {500, 230}, {1000, 420}, {5000, 500}, {10000, 500}} {
		if got := numFeasibleToFind(tc.nodes); got != tc.want {
			t.Errorf("numFeasibleToFind(%d) = %d; want %d", tc.nodes, got, tc.want)
		}
	}
}
