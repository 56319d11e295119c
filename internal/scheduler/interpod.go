package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Reasons for the pod-to-pod checks, as Kubernetes words them.
const (
	reasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonSpread               = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// podTerm is a compiled required (anti-)affinity term.
type podTerm struct {
	selector    labels.Selector
	namespaces  map[string]bool // nil: every namespace
	topologyKey string
}

func (t podTerm) matches(ns string, l map[string]string) bool {
	if t.namespaces != nil && !t.namespaces[ns] {
		return false
	}
	return t.selector.Matches(labels.Set(l))
}

// antiAffinityTerms compiles a pod's required anti-affinity. Terms with
// a namespace selector that is not empty are skipped: the scheduler
// does not watch namespace labels.
func antiAffinityTerms(p *corev1.Pod) []podTerm {
	a := p.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return nil
	}
	var out []podTerm
	for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err != nil || t.LabelSelector == nil || t.TopologyKey == "" {
			continue
		}
		pt := podTerm{selector: sel, topologyKey: t.TopologyKey}
		switch {
		case t.NamespaceSelector != nil && len(t.NamespaceSelector.MatchLabels) == 0 && len(t.NamespaceSelector.MatchExpressions) == 0:
			// {} selects every namespace.
		case t.NamespaceSelector != nil:
			continue
		default:
			pt.namespaces = map[string]bool{}
			for _, ns := range t.Namespaces {
				pt.namespaces[ns] = true
			}
			if len(t.Namespaces) == 0 {
				pt.namespaces[p.Namespace] = true
			}
		}
		out = append(out, pt)
	}
	return out
}

// spreadConstraint is a compiled DoNotSchedule topology spread constraint
// with the pod counts per domain, computed for one attempt.
type spreadConstraint struct {
	key       string
	maxSkew   int32
	selector  labels.Selector
	selfMatch int
	counts    map[string]int
	min       int
	// minDomains: with fewer eligible domains, the minimum count is 0.
	minDomains int
}

// topologyValues is a set of "key\x00value" topology domains.
type topologyValues map[string]bool

func domain(key, value string) string { return key + "\x00" + value }

// prepareLocked computes what the pod-to-pod checks need for one
// attempt. It walks the placed pods only when the pod has anti-affinity
// or spread constraints; pods without them pay only for the (usually
// few) placed pods that carry anti-affinity.
func (c *nodeCache) prepareLocked(pi *podInfo) {
	pod := pi.pod
	pi.antiForbidden, pi.existingForbidden, pi.spread = nil, nil, nil
	for _, ps := range c.withAnti {
		ni := c.nodes[ps.node]
		if ni == nil || ni.node == nil {
			continue
		}
		for _, t := range ps.anti {
			v, ok := ni.node.Labels[t.topologyKey]
			if ok && t.matches(pod.Namespace, pod.Labels) {
				if pi.existingForbidden == nil {
					pi.existingForbidden = topologyValues{}
				}
				pi.existingForbidden[domain(t.topologyKey, v)] = true
			}
		}
	}
	terms := antiAffinityTerms(pod)
	var spread []*spreadConstraint
	for _, tc := range pod.Spec.TopologySpreadConstraints {
		if tc.WhenUnsatisfiable != corev1.DoNotSchedule || tc.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(tc.LabelSelector)
		if err != nil {
			continue
		}
		sc := &spreadConstraint{key: tc.TopologyKey, maxSkew: tc.MaxSkew, selector: sel, counts: map[string]int{}, minDomains: 1}
		if tc.MinDomains != nil {
			sc.minDomains = int(*tc.MinDomains)
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			sc.selfMatch = 1
		}
		spread = append(spread, sc)
		// Every eligible node's domain exists, even with no pods in it.
		for _, ni := range c.order {
			if v, ok := ni.node.Labels[tc.TopologyKey]; ok && spreadEligible(pi, ni, tc) {
				sc.counts[v] += 0
			}
		}
	}
	if len(terms) == 0 && len(spread) == 0 {
		return
	}
	for _, ps := range c.pods {
		ni := c.nodes[ps.node]
		if ni == nil || ni.node == nil {
			continue
		}
		for _, t := range terms {
			if v, ok := ni.node.Labels[t.topologyKey]; ok && t.matches(ps.ns, ps.labels) {
				if pi.antiForbidden == nil {
					pi.antiForbidden = topologyValues{}
				}
				pi.antiForbidden[domain(t.topologyKey, v)] = true
			}
		}
		if ps.ns != pod.Namespace {
			continue
		}
		for _, sc := range spread {
			v, ok := ni.node.Labels[sc.key]
			if !ok {
				continue
			}
			if _, eligible := sc.counts[v]; eligible && sc.selector.Matches(labels.Set(ps.labels)) {
				sc.counts[v]++
			}
		}
	}
	for _, sc := range spread {
		sc.min = 0
		if len(sc.counts) >= sc.minDomains {
			first := true
			for _, n := range sc.counts {
				if first || n < sc.min {
					sc.min, first = n, false
				}
			}
		}
	}
	pi.antiTerms = terms
	pi.spread = spread
}

// spreadEligible reports whether a node's pods count for a constraint:
// by default (nodeAffinityPolicy Honor) only nodes the pod could select.
func spreadEligible(pi *podInfo, ni *nodeInfo, tc corev1.TopologySpreadConstraint) bool {
	if tc.NodeAffinityPolicy != nil && *tc.NodeAffinityPolicy == corev1.NodeInclusionPolicyIgnore {
		return true
	}
	if !matchesNodeAffinity(pi, ni.node) {
		return false
	}
	if tc.NodeTaintsPolicy != nil && *tc.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		if _, bad := untoleratedTaint(pi.pod.Spec.Tolerations, ni.node.Spec.Taints); bad {
			return false
		}
	}
	return true
}

// filterPods checks topology spread and anti-affinity for a node, using
// what prepareLocked computed.
func filterPods(pi *podInfo, n *corev1.Node) string {
	for _, sc := range pi.spread {
		v, ok := n.Labels[sc.key]
		if !ok {
			return reasonSpreadMissingLabel
		}
		if sc.counts[v]+sc.selfMatch-sc.min > int(sc.maxSkew) {
			return reasonSpread
		}
	}
	if len(pi.existingForbidden) > 0 {
		for k, v := range n.Labels {
			if pi.existingForbidden[domain(k, v)] {
				return reasonExistingAntiAffinity
			}
		}
	}
	for _, t := range pi.antiTerms {
		if v, ok := n.Labels[t.topologyKey]; ok && pi.antiForbidden[domain(t.topologyKey, v)] {
			return reasonAntiAffinity
		}
	}
	return ""
}
