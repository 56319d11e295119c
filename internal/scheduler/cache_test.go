package scheduler

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestIndexesMatchWalk checks the incremental per-domain counts against
// a walk of all placed pods after random pod, node and namespace
// changes.
func TestIndexesMatchWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCache()
	zone := func(i int) string { return fmt.Sprintf("z%d", i%3) }
	for i := range 12 {
		c.setNode(testNode(fmt.Sprintf("n%d", i), "8", "8Gi", withLabel("zone", zone(i))))
	}
	terms := []podTerm{}
	for _, app := range []string{"a", "b"} {
		for _, key := range []string{"zone", "kubernetes.io/hostname"} {
			p := testPod("x", "", "")
			pt := newPodTerm(p, &corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				TopologyKey:   key,
			})
			terms = append(terms, pt)
			pt2 := newPodTerm(p, &corev1.PodAffinityTerm{
				LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}},
				TopologyKey:       key,
			})
			terms = append(terms, pt2)
		}
	}
	c.mu.Lock()
	for _, pt := range terms {
		c.indexLocked(pt)
	}
	c.mu.Unlock()
	var pods []*corev1.Pod
	for step := range 2000 {
		switch r := rng.IntN(10); {
		case r < 5:
			p := testPod(fmt.Sprintf("p%d", step), "", "")
			p.Namespace = []string{"default", "other"}[rng.IntN(2)]
			p.Labels = map[string]string{"app": []string{"a", "b", "c"}[rng.IntN(3)]}
			if rng.IntN(3) == 0 {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}, TopologyKey: "zone",
					}},
				}}
			}
			node := fmt.Sprintf("n%d", rng.IntN(14)) // some nodes do not exist
			if rng.IntN(2) == 0 {
				c.assume(newPodInfo(p), node)
			} else {
				p.Spec.NodeName = node
				c.setPod(p)
			}
			pods = append(pods, p)
		case r < 7 && len(pods) > 0:
			i := rng.IntN(len(pods))
			c.removePod(pods[i])
			pods = append(pods[:i], pods[i+1:]...)
		case r < 8:
			i := rng.IntN(14)
			c.setNode(testNode(fmt.Sprintf("n%d", i), "8", "8Gi", withLabel("zone", zone(rng.IntN(4)))))
		case r < 9:
			c.removeNode(fmt.Sprintf("n%d", rng.IntN(14)))
		default:
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: []string{"default", "other"}[rng.IntN(2)]}}
			if rng.IntN(2) == 0 {
				ns.Labels = map[string]string{"team": "x"}
			}
			c.setNamespace(ns)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pt := range terms {
		want := map[string]int{}
		for _, ps := range c.pods {
			ni := c.nodes[ps.node]
			if ni == nil || ni.node == nil {
				continue
			}
			if v, ok := ni.node.Labels[pt.topologyKey]; ok && pt.matches(ps.ns, ps.labels, c.nsLabels[ps.ns]) {
				want[v]++
			}
		}
		got := c.indexLocked(pt).counts
		if !maps.Equal(got, want) {
			t.Errorf("term %q: counts %v, walk says %v", pt.id, got, want)
		}
	}
	want := map[string]int{}
	for _, ps := range c.pods {
		ni := c.nodes[ps.node]
		if ni == nil || ni.node == nil || len(ps.carried) == 0 {
			continue
		}
		want[ni.node.Labels["zone"]]++
	}
	got := map[string]int{}
	for _, ci := range c.carried { // one per namespace
		for v, n := range ci.counts {
			got[v] += n
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("carried anti-affinity: counts %v, walk says %v", got, want)
	}
}
