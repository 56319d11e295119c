package registry

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreNode(mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.0", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0"},
		},
	}
	if mutate != nil {
		mutate(n)
	}
	return n
}

func TestNodeWrites(t *testing.T) {
	runCoreCases(t, nodes(), []coreCase{
		{name: "valid", obj: coreNode(nil)},
		{name: "taints", obj: coreNode(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{
				{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
				{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule},
				{Key: "", Effect: "Evict"},
			}
		}), paths: []string{"spec.taints[1]", "spec.taints[2].effect", "spec.taints[2].key"}},
		{name: "bad CIDR", obj: coreNode(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0" }), paths: []string{"spec.podCIDRs[0]"}},
		{name: "negative capacity", obj: coreNode(func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") }),
			paths: []string{"status.allocatable[cpu]", "status.capacity[cpu]"}},
		{name: "cordon", old: coreNode(nil), obj: coreNode(func(n *corev1.Node) { n.Spec.Unschedulable = true })},
		{name: "pod CIDR change", old: coreNode(nil), obj: coreNode(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.2.0/24" }),
			paths: []string{"spec.podCIDRs"}},
	})
}

func TestNodeCreateKeepsStatus(t *testing.T) {
	k := nodes()
	n := coreNode(nil)
	k.PrepareForCreate(n)
	k.Defaults(n)
	if len(n.Status.Conditions) != 1 || n.Status.Allocatable.Cpu().String() != "4" {
		t.Errorf("status after create: %+v", n.Status)
	}
	if !slices.Equal(n.Spec.PodCIDRs, []string{"10.244.1.0/24"}) {
		t.Errorf("podCIDRs = %v", n.Spec.PodCIDRs)
	}
	if got := k.Fields(n)["spec.unschedulable"]; got != "false" {
		t.Errorf("spec.unschedulable = %q", got)
	}
}

func TestNodeRow(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []any // STATUS, ROLES, VERSION, INTERNAL-IP, EXTERNAL-IP, OS-IMAGE, KERNEL, RUNTIME
	}{
		{"ready", nil, []any{"Ready", "control-plane", "v1.37.0", "192.168.1.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"}},
		{"cordoned, not ready", func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Status.Conditions[0].Status = corev1.ConditionUnknown
			n.Labels = map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "gpu"}
		}, []any{"NotReady,SchedulingDisabled", "gpu,worker", "v1.37.0", "192.168.1.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"}},
		{"just registered", func(n *corev1.Node) {
			n.Labels, n.Status = nil, corev1.NodeStatus{}
		}, []any{"Unknown", "<none>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	k := nodes()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := k.Row(coreNode(tc.mutate))
			if len(row) != len(k.Columns) {
				t.Fatalf("row has %d cells for %d columns", len(row), len(k.Columns))
			}
			got := append([]any{row[1], row[2]}, row[4:]...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("row = %v, want %v", got, tc.want)
			}
		})
	}
}
