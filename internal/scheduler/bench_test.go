package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
