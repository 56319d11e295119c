package scheduler

import (
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestScores(t *testing.T) {
	nodes := []*corev1.Node{testNode("n", "4", "8Gi")}
	c := cacheWith(nodes, testPod("b", "1", "2Gi", boundTo("n")))
	ni := c.nodes["n"]
	pi := newPodInfo(testPod("p", "1", "2Gi"))
	// 2 of 4 cpu and 4 of 8Gi used after placement: 50% free each.
	if got := leastAllocated(pi, ni); got != 50 {
		t.Errorf("leastAllocated = %d; want 50", got)
	}
	if got := balancedAllocation(pi, ni); got != 100 {
		t.Errorf("balancedAllocation = %d; want 100", got)
	}
	// 3 of 4 cpu (75%), 2Gi+256Mi... of 8Gi: unbalanced.
	skew := newPodInfo(testPod("p", "2", "256Mi"))
	if got := balancedAllocation(skew, ni); got >= 100 || got < 70 {
		t.Errorf("balancedAllocation(skewed) = %d; want in [70,100)", got)
	}
	// Request-less pods count with the defaults (100m, 200Mi).
	none := newPodInfo(testPod("p", "", ""))
	if none.nonZero.milliCPU != defaultMilliCPU || none.nonZero.memory != defaultMemory || none.requests.milliCPU != 0 {
		t.Errorf("request-less pod: requests %+v, nonZero %+v", none.requests, none.nonZero)
	}
}

func TestPickPrefersAffinityAndFewerPreferNoScheduleTaints(t *testing.T) {
	pref := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 10, Preference: expr("zone", corev1.NodeSelectorOpIn, "b")},
			},
		}}
	}
	cases := []struct {
		name  string
		nodes []*corev1.Node
		pod   *corev1.Pod
		want  string
	}{
		{name: "least allocated", nodes: []*corev1.Node{testNode("small", "2", "4Gi"), testNode("large", "8", "16Gi")}, pod: testPod("p", "1", "1Gi"), want: "large"},
		{name: "preferred affinity", nodes: []*corev1.Node{testNode("a", "8", "16Gi", withLabel("zone", "a")), testNode("b", "4", "8Gi", withLabel("zone", "b"))},
			pod: testPod("p", "1", "1Gi", pref), want: "b"},
		{name: "PreferNoSchedule", nodes: []*corev1.Node{testNode("tainted", "8", "16Gi", withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), testNode("clean", "4", "8Gi")},
			pod: testPod("p", "1", "1Gi"), want: "clean"},
		{name: "PreferNoSchedule tolerated", nodes: []*corev1.Node{testNode("tainted", "8", "16Gi", withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), testNode("clean", "4", "8Gi")},
			pod: testPod("p", "1", "1Gi", withToleration(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})), want: "tainted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scheduler{cache: cacheWith(tc.nodes)}
			got, _, reasons := s.findNode(newPodInfo(tc.pod))
			if got != tc.want {
				t.Errorf("chose %q (reasons %v); want %q", got, reasons, tc.want)
			}
		})
	}
}

func TestFindNodeSpreadsAndSamples(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 1000 {
		nodes = append(nodes, testNode("n"+string(rune('a'+i%26))+strconv.Itoa(i), "4", "8Gi"))
	}
	s := &Scheduler{cache: cacheWith(nodes)}
	placed := map[string]int{}
	for i := range 2000 {
		pi := newPodInfo(testPod("p"+strconv.Itoa(i), "100m", "100Mi"))
		n, _, _ := s.findNode(pi)
		if n == "" {
			t.Fatal("no node found")
		}
		s.cache.assume(pi, n)
		placed[n]++
	}
	for n, c := range placed {
		if c > 3 {
			t.Errorf("node %s got %d of 2000 pods on 1000 equal nodes", n, c)
		}
	}
}

// TestPickPodScores checks the normalization of the inter-pod and
// ScheduleAnyway spread scores: negative preferences count, equal raw
// scores change nothing, and a node without a spread key scores lowest.
func TestPickPodScores(t *testing.T) {
	cases := []struct {
		name  string
		cands []candidate
		want  int
	}{
		{"attracted", []candidate{{interPod: 0}, {interPod: 50}}, 1},
		{"repelled", []candidate{{interPod: -100}, {interPod: -10}, {interPod: -100}}, 1},
		{"all equal", []candidate{{interPod: 7}, {interPod: 7}}, 0},
		{"emptier domain", []candidate{{spread: 3, spreadOK: true}, {spread: 1, spreadOK: true}}, 1},
		{"missing key", []candidate{{spreadOK: false}, {spread: 5, spreadOK: true}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pick(tc.cands); got != tc.want {
				t.Errorf("pick = %d; want %d", got, tc.want)
			}
		})
	}
}

func TestPreemptionCandidates(t *testing.T) {
	alloc := resources{milliCPU: 2000, memory: 4 << 30, pods: 110}
	cases := []struct {
		name    string
		reasons []string
		req     resources
		want    bool
	}{
		{"short of cpu", []string{"Insufficient cpu"}, resources{milliCPU: 1000}, true},
		{"bigger than the node", []string{"Insufficient cpu"}, resources{milliCPU: 4000}, false},
		{"anti-affinity", []string{reasonAntiAffinity}, resources{}, true},
		{"taint", []string{"node(s) had untolerated taint {a: b}"}, resources{}, false},
		{"pod affinity", []string{reasonPodAffinity}, resources{}, false},
		{"missing spread label", []string{reasonSpreadMissingLabel}, resources{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolvable(tc.reasons) && !exceeds(tc.req, alloc); got != tc.want {
				t.Errorf("candidate = %v; want %v", got, tc.want)
			}
		})
	}
}
