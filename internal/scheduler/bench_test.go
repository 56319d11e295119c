package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkFindNode measures one filter-and-score pass on a 5,000-node
// cluster that already holds pods, with the pod assumed afterwards (the
// scheduling loop's whole in-memory work per pod).
func BenchmarkFindNode(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 5000 {
		opts := []func(*corev1.Node){withLabel("zone", fmt.Sprintf("z%d", i%3))}
		if i%10 == 0 {
			opts = append(opts, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule))
		}
		nodes = append(nodes, testNode(fmt.Sprintf("node-%04d", i), "32", "256Gi", opts...))
	}
	s := &Scheduler{cache: cacheWith(nodes)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pi := newPodInfo(testPod(fmt.Sprintf("p%d", i), "10m", "10Mi"))
		n, _, _ := s.findNode(pi)
		if n == "" {
			b.Fatal("no node")
		}
		s.cache.assume(pi, n)
	}
}

// BenchmarkFindNodeAntiAffinity is the anti-affinity shape: 1,000
// nodes, each pod refusing to share a node with another of its group
// (groups of 900, so every pod fits).
func BenchmarkFindNodeAntiAffinity(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 1000 {
		nodes = append(nodes, testNode(fmt.Sprintf("node-%04d", i), "32", "256Gi"))
	}
	s := &Scheduler{cache: cacheWith(nodes)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		group := fmt.Sprintf("g%d", i/900)
		p := testPod(fmt.Sprintf("p%d", i), "10m", "10Mi")
		p.Labels = map[string]string{"app": group}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}, TopologyKey: "kubernetes.io/hostname",
			}},
		}}
		pi := newPodInfo(p)
		n, _, _ := s.findNode(pi)
		if n == "" {
			b.Fatal("no node")
		}
		s.cache.assume(pi, n)
	}
}

// BenchmarkFindNodeSpread is the zone spread shape: 1,000 nodes in 10
// zones, maxSkew 1 DoNotSchedule over the zone.
func BenchmarkFindNodeSpread(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 1000 {
		nodes = append(nodes, testNode(fmt.Sprintf("node-%04d", i), "1000", "4Ti",
			withLabel("topology.kubernetes.io/zone", fmt.Sprintf("zone-%d", i%10)), withAllocatable(corev1.ResourcePods, "1000")))
	}
	s := &Scheduler{cache: cacheWith(nodes)}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := testPod(fmt.Sprintf("p%d", i), "10m", "10Mi")
		p.Labels = map[string]string{"app": "web"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel,
		}}
		pi := newPodInfo(p)
		n, _, _ := s.findNode(pi)
		if n == "" {
			b.Fatal("no node")
		}
		s.cache.assume(pi, n)
	}
}
