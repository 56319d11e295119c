package scheduler

import (
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Reasons for the pod-to-pod checks, as Kubernetes words them.
const (
	reasonPodAffinity          = "node(s) didn't match pod affinity rules"
	reasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonSpread               = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// Weights of the pod-to-pod scores in the total, as in Kubernetes'
// default profile.
const (
	weightInterPod = 2
	weightSpread   = 2
)

// podTerm is a compiled pod (anti-)affinity term, or the pod selector of
// a topology spread constraint.
type podTerm struct {
	selector    labels.Selector
	namespaces  map[string]bool // listed namespaces
	nsSelector  labels.Selector // nil: only the listed namespaces
	topologyKey string
	id          string // equal for terms that select the same pods per domain
}

// matches reports whether a pod in namespace ns (labelled nsLabels)
// with labels l is one the term selects.
func (t *podTerm) matches(ns string, l, nsLabels map[string]string) bool {
	if !t.namespaces[ns] && (t.nsSelector == nil || !t.nsSelector.Matches(labels.Set(nsLabels))) {
		return false
	}
	return t.selector.Matches(labels.Set(l))
}

// newPodTerm compiles an affinity term of pod p. The term's namespaces
// and namespace selector are ORed; with neither, it is p's namespace.
// matchLabelKeys and mismatchLabelKeys add p's own values to the
// selector. A missing selector selects nothing.
func newPodTerm(p *corev1.Pod, t *corev1.PodAffinityTerm) podTerm {
	sel := labels.Nothing()
	if t.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err == nil {
			sel = s
		}
		sel = withLabelKeys(sel, p.Labels, t.MatchLabelKeys, selection.In)
		sel = withLabelKeys(sel, p.Labels, t.MismatchLabelKeys, selection.NotIn)
	}
	pt := podTerm{selector: sel, namespaces: map[string]bool{}, topologyKey: t.TopologyKey}
	for _, ns := range t.Namespaces {
		pt.namespaces[ns] = true
	}
	if t.NamespaceSelector != nil {
		if s, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err == nil {
			pt.nsSelector = s
		}
	}
	if len(t.Namespaces) == 0 && pt.nsSelector == nil {
		pt.namespaces[p.Namespace] = true
	}
	pt.id = termID(&pt, t.LabelSelector != nil)
	return pt
}

func withLabelKeys(sel labels.Selector, own map[string]string, keys []string, op selection.Operator) labels.Selector {
	for _, k := range keys {
		v, ok := own[k]
		if !ok {
			continue
		}
		if r, err := labels.NewRequirement(k, op, []string{v}); err == nil {
			sel = sel.Add(*r)
		}
	}
	return sel
}

func termID(t *podTerm, hasSelector bool) string {
	var b strings.Builder
	ns := make([]string, 0, len(t.namespaces))
	for n := range t.namespaces {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	b.WriteString(strings.Join(ns, ","))
	b.WriteString("\x00")
	if t.nsSelector != nil {
		b.WriteString("sel:" + t.nsSelector.String())
	}
	b.WriteString("\x00")
	if hasSelector {
		b.WriteString("sel:" + t.selector.String())
	}
	b.WriteString("\x00" + t.topologyKey)
	return b.String()
}

// termKind is the role of a term a placed pod carries.
type termKind uint8

const (
	carriedAnti       termKind = iota // required anti-affinity: repels
	carriedPreferred                  // preferred affinity: attracts by weight
	carriedPreferAnti                 // preferred anti-affinity: repels by weight
)

// carriedTerm is a term of a placed pod that other pods must respect
// (required anti-affinity) or that scores them (preferred terms).
type carriedTerm struct {
	term   podTerm
	kind   termKind
	weight int32
	id     string
}

// carriedTerms compiles the terms of p that concern pods placed after it.
func carriedTerms(p *corev1.Pod) []carriedTerm {
	a := p.Spec.Affinity
	if a == nil {
		return nil
	}
	var out []carriedTerm
	add := func(t *corev1.PodAffinityTerm, kind termKind, w int32) {
		if t.TopologyKey == "" {
			return
		}
		pt := newPodTerm(p, t)
		id := strconv.Itoa(int(kind)) + "/" + strconv.Itoa(int(w)) + "\x00" + pt.id
		out = append(out, carriedTerm{term: pt, kind: kind, weight: w, id: id})
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			add(&pa.RequiredDuringSchedulingIgnoredDuringExecution[i], carriedAnti, 0)
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			add(&w.PodAffinityTerm, carriedPreferAnti, w.Weight)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			add(&w.PodAffinityTerm, carriedPreferred, w.Weight)
		}
	}
	return out
}

// domainCounts counts pods per value of one topology key.
type domainCounts struct {
	key    string
	counts map[string]int
	total  int
}

func (d *domainCounts) at(n *corev1.Node) (int, bool) {
	v, ok := n.Labels[d.key]
	if !ok {
		return 0, false
	}
	return d.counts[v], true
}

func (d *domainCounts) change(v string, delta int) {
	if d.counts[v] += delta; d.counts[v] <= 0 {
		delete(d.counts, v)
	}
	d.total += delta
}

// matchIndex counts the placed pods one term selects, per domain. The
// cache keeps one per distinct term that pending pods have used and
// updates it as pods come and go, so an attempt reads counts instead of
// walking the placed pods.
type matchIndex struct {
	term podTerm
	domainCounts
	used int64 // attempt that last used it, for eviction
}

// carrierIndex counts the placed pods that carry one term, per domain
// of the node they are on.
type carrierIndex struct {
	carriedTerm
	domainCounts
}

// weightedCounts is a preferred term in effect for one attempt: the
// node's domain count times weight adds to (or, negative, takes from)
// the node's inter-pod score.
type weightedCounts struct {
	*domainCounts
	weight int64
}

// spreadConstraint is a compiled topology spread constraint with the
// pod counts per domain for one attempt.
type spreadConstraint struct {
	key       string
	maxSkew   int32
	selfMatch int
	counts    map[string]int
	min       int
	domains   int // eligible domains
}

// prepareLocked computes what the pod-to-pod checks and scores need for
// one attempt. It reads the cache's indexes, creating those the pod's
// terms need the first time a term is seen; only spread constraints of
// pods restricted to some nodes walk the placed pods.
func (c *nodeCache) prepareLocked(pi *podInfo) {
	pod := pi.pod
	c.attempt++
	pi.affinity, pi.anti, pi.existingAnti, pi.preferredPods = nil, nil, nil, nil
	pi.spread, pi.spreadSoft, pi.affinityAnywhere = nil, nil, false
	nsl := c.nsLabels[pod.Namespace]
	for _, ci := range c.carried {
		if !ci.term.matches(pod.Namespace, pod.Labels, nsl) {
			continue
		}
		switch ci.kind {
		case carriedAnti:
			pi.existingAnti = append(pi.existingAnti, &ci.domainCounts)
		case carriedPreferred:
			pi.preferredPods = append(pi.preferredPods, weightedCounts{&ci.domainCounts, int64(ci.weight)})
		case carriedPreferAnti:
			pi.preferredPods = append(pi.preferredPods, weightedCounts{&ci.domainCounts, -int64(ci.weight)})
		}
	}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			matchesAll, total := true, 0
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				t := newPodTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i])
				idx := c.indexLocked(t)
				pi.affinity = append(pi.affinity, &idx.domainCounts)
				total += idx.total
				matchesAll = matchesAll && t.matches(pod.Namespace, pod.Labels, nsl)
			}
			// The first pod of a group that must be together goes anywhere.
			pi.affinityAnywhere = total == 0 && matchesAll
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				idx := c.indexLocked(newPodTerm(pod, &w.PodAffinityTerm))
				pi.preferredPods = append(pi.preferredPods, weightedCounts{&idx.domainCounts, int64(w.Weight)})
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				t := &pa.RequiredDuringSchedulingIgnoredDuringExecution[i]
				if t.TopologyKey == "" {
					continue
				}
				pi.anti = append(pi.anti, &c.indexLocked(newPodTerm(pod, t)).domainCounts)
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				idx := c.indexLocked(newPodTerm(pod, &w.PodAffinityTerm))
				pi.preferredPods = append(pi.preferredPods, weightedCounts{&idx.domainCounts, -int64(w.Weight)})
			}
		}
	}
	for _, tc := range pod.Spec.TopologySpreadConstraints {
		sc := c.spreadLocked(pi, tc)
		if sc == nil {
			continue
		}
		if tc.WhenUnsatisfiable == corev1.DoNotSchedule {
			pi.spread = append(pi.spread, sc)
		} else {
			pi.spreadSoft = append(pi.spreadSoft, sc)
		}
	}
}

// spreadLocked compiles one spread constraint with its counts. Pods on
// nodes the pod could not select do not count (nodeAffinityPolicy
// Honor, the default); when that excludes nothing, the counts come from
// an index.
func (c *nodeCache) spreadLocked(pi *podInfo, tc corev1.TopologySpreadConstraint) *spreadConstraint {
	pod := pi.pod
	if tc.LabelSelector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(tc.LabelSelector)
	if err != nil {
		return nil
	}
	sel = withLabelKeys(sel, pod.Labels, tc.MatchLabelKeys, selection.In)
	sc := &spreadConstraint{key: tc.TopologyKey, maxSkew: tc.MaxSkew}
	if sel.Matches(labels.Set(pod.Labels)) {
		sc.selfMatch = 1
	}
	minDomains := 1
	if tc.MinDomains != nil {
		minDomains = int(*tc.MinDomains)
	}
	honorAffinity := tc.NodeAffinityPolicy == nil || *tc.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor
	honorTaints := tc.NodeTaintsPolicy != nil && *tc.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor
	restricted := honorTaints || (honorAffinity && (pi.selector != nil || pi.hasReq))
	if !restricted {
		t := podTerm{selector: sel, namespaces: map[string]bool{pod.Namespace: true}, topologyKey: tc.TopologyKey}
		t.id = termID(&t, true)
		sc.counts = c.indexLocked(t).counts
		domains := c.domains[tc.TopologyKey]
		sc.domains = len(domains)
		if sc.domains >= minDomains {
			first := true
			for v := range domains {
				if n := sc.counts[v]; first || n < sc.min {
					sc.min, first = n, false
				}
			}
		}
		return sc
	}
	sc.counts = map[string]int{}
	for _, ni := range c.order {
		if v, ok := ni.node.Labels[tc.TopologyKey]; ok && spreadEligible(pi, ni, honorAffinity, honorTaints) {
			sc.counts[v] += 0
		}
	}
	for _, ps := range c.pods {
		ni := c.nodes[ps.node]
		if ni == nil || ni.node == nil || ps.ns != pod.Namespace {
			continue
		}
		v, ok := ni.node.Labels[sc.key]
		if !ok {
			continue
		}
		if _, eligible := sc.counts[v]; eligible && sel.Matches(labels.Set(ps.labels)) {
			sc.counts[v]++
		}
	}
	sc.domains = len(sc.counts)
	if sc.domains >= minDomains {
		first := true
		for _, n := range sc.counts {
			if first || n < sc.min {
				sc.min, first = n, false
			}
		}
	}
	return sc
}

// spreadEligible reports whether a node's pods count for a constraint.
func spreadEligible(pi *podInfo, ni *nodeInfo, honorAffinity, honorTaints bool) bool {
	if honorAffinity && !matchesNodeAffinity(pi, ni.node) {
		return false
	}
	if honorTaints {
		if _, bad := untoleratedTaint(pi.pod.Spec.Tolerations, ni.node.Spec.Taints); bad {
			return false
		}
	}
	return true
}

// filterPods checks topology spread and inter-pod affinity for a node,
// in Kubernetes' order, using what prepareLocked computed.
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
	for _, d := range pi.existingAnti {
		if c, ok := d.at(n); ok && c > 0 {
			return reasonExistingAntiAffinity
		}
	}
	if len(pi.affinity) > 0 {
		found := true
		for _, d := range pi.affinity {
			c, ok := d.at(n)
			if !ok {
				return reasonPodAffinity
			}
			found = found && c > 0
		}
		if !found && !pi.affinityAnywhere {
			return reasonPodAffinity
		}
	}
	for _, d := range pi.anti {
		if c, ok := d.at(n); ok && c > 0 {
			return reasonAntiAffinity
		}
	}
	return ""
}

// interPodScore is the node's raw preferred (anti-)affinity score: the
// weighted number of matching pods in its domains.
func interPodScore(pi *podInfo, n *corev1.Node) int64 {
	var s int64
	for _, w := range pi.preferredPods {
		if c, ok := w.at(n); ok {
			s += w.weight * int64(c)
		}
	}
	return s
}

// spreadScore is the node's raw ScheduleAnyway spread score (lower is
// better): the matching pods in its domain plus the skew allowed, each
// constraint weighted by how many domains it has. ok is false when the
// node lacks a constraint's key.
func spreadScore(pi *podInfo, n *corev1.Node) (float64, bool) {
	var s float64
	for _, sc := range pi.spreadSoft {
		v, ok := n.Labels[sc.key]
		if !ok {
			return 0, false
		}
		s += float64(sc.counts[v]+int(sc.maxSkew)-1) * math.Log(float64(sc.domains+2))
	}
	return s, true
}
