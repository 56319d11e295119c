package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func dsWithSpec(spec corev1.PodSpec) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}
}

func node(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
}

func required(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestEligibility(t *testing.T) {
	ssd := map[string]string{"disk": "ssd", "zone": "a"}
	cases := []struct {
		name           string
		spec           corev1.PodSpec
		node           *corev1.Node
		run, continue_ bool
	}{
		{name: "plain node", node: node("n", nil), run: true, continue_: true},
		{name: "selector matches", spec: corev1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}, node: node("n", ssd), run: true, continue_: true},
		{name: "selector misses", spec: corev1.PodSpec{NodeSelector: map[string]string{"disk": "hdd"}}, node: node("n", ssd)},
		{name: "selector on unlabelled node", spec: corev1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}, node: node("n", nil)},
		{name: "affinity In", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "a", "b")}})},
			node: node("n", ssd), run: true, continue_: true},
		{name: "affinity NotIn", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpNotIn, "a")}})},
			node: node("n", ssd)},
		{name: "affinity second term matches", spec: corev1.PodSpec{Affinity: required(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "b")}},
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("disk", corev1.NodeSelectorOpExists)}})},
			node: node("n", ssd), run: true, continue_: true},
		{name: "affinity all expressions of a term", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			expr("disk", corev1.NodeSelectorOpExists), expr("zone", corev1.NodeSelectorOpDoesNotExist)}})}, node: node("n", ssd)},
		{name: "affinity Gt", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("cores", corev1.NodeSelectorOpGt, "4")}})},
			node: node("n", map[string]string{"cores": "8"}), run: true, continue_: true},
		{name: "affinity Gt not a number", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("cores", corev1.NodeSelectorOpGt, "four")}})},
			node: node("n", map[string]string{"cores": "8"})},
		{name: "affinity empty term matches nothing", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{})}, node: node("n", ssd)},
		{name: "matchFields node name", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "n")}})},
			node: node("n", nil), run: true, continue_: true},
		{name: "matchFields other node", spec: corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "m")}})},
			node: node("n", nil)},
		{name: "untolerated NoSchedule keeps running pods", node: node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}), continue_: true},
		{name: "untolerated NoExecute evicts", node: node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute})},
		{name: "PreferNoSchedule ignored", node: node("n", nil, corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectPreferNoSchedule}), run: true, continue_: true},
		{name: "tolerated by Equal", spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}}},
			node: node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}), run: true, continue_: true},
		{name: "Equal with other value", spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Value: "web"}}},
			node: node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}), continue_: true},
		{name: "tolerated by Exists on any key", spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
			node: node("n", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}), run: true, continue_: true},
		{name: "toleration for other effect", spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
			node: node("n", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute})},
		{name: "daemon tolerates not-ready", node: node("n", nil, corev1.Taint{Key: taintNotReady, Effect: corev1.TaintEffectNoExecute}), run: true, continue_: true},
		{name: "daemon tolerates unschedulable", node: node("n", nil, corev1.Taint{Key: taintUnschedulable, Effect: corev1.TaintEffectNoSchedule}), run: true, continue_: true},
		{name: "network-unavailable only for host network", node: node("n", nil, corev1.Taint{Key: taintNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), continue_: true},
		{name: "network-unavailable with host network", spec: corev1.PodSpec{HostNetwork: true},
			node: node("n", nil, corev1.Taint{Key: taintNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}), run: true, continue_: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := eligibility(dsWithSpec(tc.spec), tc.node)
			if run != tc.run || cont != tc.continue_ {
				t.Errorf("eligibility = run %v, continue %v; want %v, %v", run, cont, tc.run, tc.continue_)
			}
		})
	}
}

func TestWithNodeAffinity(t *testing.T) {
	pin := expr("metadata.name", corev1.NodeSelectorOpIn, "n1")
	cases := []struct {
		name string
		in   *corev1.Affinity
		want []corev1.NodeSelectorTerm
	}{
		{name: "none", want: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{pin}}}},
		{name: "expressions kept", in: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "a")}}),
			want: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "a")}, MatchFields: []corev1.NodeSelectorRequirement{pin}}}},
		{name: "node name replaced", in: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", corev1.NodeSelectorOpIn, "other")}}),
			want: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{pin}}}},
		{name: "every term pinned", in: required(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "a")}},
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "b")}}),
			want: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "a")}, MatchFields: []corev1.NodeSelectorRequirement{pin}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", corev1.NodeSelectorOpIn, "b")}, MatchFields: []corev1.NodeSelectorRequirement{pin}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := withNodeAffinity(tc.in, "n1").NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			if !equalTerms(got, tc.want) {
				t.Errorf("terms = %+v, want %+v", got, tc.want)
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: withNodeAffinity(tc.in, "n1")}}
			if n := targetNode(pod); n != "n1" {
				t.Errorf("targetNode = %q, want n1", n)
			}
			if tc.in != nil && len(tc.in.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields) > 0 &&
				tc.in.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0] != "other" {
				t.Error("the template's affinity was modified")
			}
		})
	}
}

func equalTerms(a, b []corev1.NodeSelectorTerm) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalReqs(a[i].MatchExpressions, b[i].MatchExpressions) || !equalReqs(a[i].MatchFields, b[i].MatchFields) {
			return false
		}
	}
	return true
}

func equalReqs(a, b []corev1.NodeSelectorRequirement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Operator != b[i].Operator || len(a[i].Values) != len(b[i].Values) {
			return false
		}
		for j := range a[i].Values {
			if a[i].Values[j] != b[i].Values[j] {
				return false
			}
		}
	}
	return true
}

func TestNewPodTolerations(t *testing.T) {
	ds := dsWithSpec(corev1.PodSpec{Tolerations: []corev1.Toleration{
		{Key: taintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(5))},
	}})
	ds.Name, ds.Namespace, ds.UID = "agent", "ns", "uid-1"
	pod := newPod(ds, "abc", "3", "n1")
	if pod.GenerateName != "agent-" || pod.Labels["controller-revision-hash"] != "abc" || pod.Labels["pod-template-generation"] != "3" {
		t.Errorf("pod meta = %q %v", pod.GenerateName, pod.Labels)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != "uid-1" || ref.Kind != "DaemonSet" {
		t.Errorf("controller ref = %+v", ref)
	}
	keys := map[string]int{}
	for _, tol := range pod.Spec.Tolerations {
		keys[tol.Key]++
		if tol.Key == taintNotReady && (tol.TolerationSeconds == nil || *tol.TolerationSeconds != 5) {
			t.Error("the template's own not-ready toleration was replaced")
		}
	}
	for _, k := range []string{taintNotReady, taintUnreachable, taintDiskPressure, taintMemoryPressure, taintPIDPressure, taintUnschedulable} {
		if keys[k] != 1 {
			t.Errorf("toleration %s present %d times, want 1", k, keys[k])
		}
	}
	if keys[taintNetworkUnavailable] != 0 {
		t.Error("network-unavailable tolerated without host network")
	}
	if len(ds.Spec.Template.Spec.Tolerations) != 1 {
		t.Error("the template's tolerations were modified")
	}
}
