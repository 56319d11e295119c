package scheduler

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Reasons a node is rejected, worded as Kubernetes words them so that
// FailedScheduling messages read the same.
const (
	reasonNotReady      = "node(s) were not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
)

const (
	taintUnschedulable = "node.kubernetes.io/unschedulable"
	taintNotReady      = "node.kubernetes.io/not-ready"
)

// podInfo is what the filters and scores need from a pod, computed once
// per scheduling attempt.
type podInfo struct {
	pod      *corev1.Pod
	requests resources
	// nonZero is requests with defaults for unset cpu and memory (scores only).
	nonZero  resources
	ports    []hostPort
	selector labels.Selector // from spec.nodeSelector; nil when empty
	required []nodeTerm      // ORed; nil means no required node affinity
	hasReq   bool
	// preferred are the weighted preferred node affinity terms.
	preferred []weightedTerm

	// Pod-to-pod state, filled by nodeCache.prepareLocked per attempt.
	affinity         []*domainCounts // required pod affinity: a match in the domain
	affinityAnywhere bool            // no pod matches yet, and the pod matches its own terms
	anti             []*domainCounts // required anti-affinity: no match in the domain
	existingAnti     []*domainCounts // placed pods whose anti-affinity repels the pod
	preferredPods    []weightedCounts
	spread           []*spreadConstraint // DoNotSchedule
	spreadSoft       []*spreadConstraint // ScheduleAnyway
}

type weightedTerm struct {
	weight int32
	term   nodeTerm
}

// nodeTerm is one NodeSelectorTerm: its label and field requirements are ANDed.
type nodeTerm struct {
	labels labels.Selector
	fields []corev1.NodeSelectorRequirement // metadata.name only
	valid  bool
}

func newPodInfo(pod *corev1.Pod) *podInfo {
	pi := &podInfo{pod: pod, requests: podRequests(&pod.Spec), ports: podHostPorts(&pod.Spec)}
	pi.nonZero = pi.requests
	if pi.nonZero.milliCPU == 0 {
		pi.nonZero.milliCPU = defaultMilliCPU
	}
	if pi.nonZero.memory == 0 {
		pi.nonZero.memory = defaultMemory
	}
	if len(pod.Spec.NodeSelector) > 0 {
		pi.selector = labels.SelectorFromSet(pod.Spec.NodeSelector)
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		if r := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			pi.hasReq = true
			for _, t := range r.NodeSelectorTerms {
				pi.required = append(pi.required, newNodeTerm(t))
			}
		}
		for _, p := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if p.Weight != 0 {
				pi.preferred = append(pi.preferred, weightedTerm{weight: p.Weight, term: newNodeTerm(p.Preference)})
			}
		}
	}
	return pi
}

// newNodeTerm compiles a term. An empty term, or one that does not parse,
// matches nothing, as in Kubernetes.
func newNodeTerm(t corev1.NodeSelectorTerm) nodeTerm {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return nodeTerm{}
	}
	sel := labels.NewSelector()
	for _, e := range t.MatchExpressions {
		var op selection.Operator
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			op = selection.In
		case corev1.NodeSelectorOpNotIn:
			op = selection.NotIn
		case corev1.NodeSelectorOpExists:
			op = selection.Exists
		case corev1.NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case corev1.NodeSelectorOpGt:
			op = selection.GreaterThan
		case corev1.NodeSelectorOpLt:
			op = selection.LessThan
		default:
			return nodeTerm{}
		}
		if op == selection.GreaterThan || op == selection.LessThan {
			if len(e.Values) != 1 {
				return nodeTerm{}
			}
			if _, err := strconv.ParseInt(e.Values[0], 10, 64); err != nil {
				return nodeTerm{}
			}
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return nodeTerm{}
		}
		sel = sel.Add(*r)
	}
	for _, f := range t.MatchFields {
		if f.Key != "metadata.name" {
			return nodeTerm{}
		}
		switch f.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(f.Values) != 1 {
				return nodeTerm{}
			}
		default:
			return nodeTerm{}
		}
	}
	return nodeTerm{labels: sel, fields: t.MatchFields, valid: true}
}

func (t nodeTerm) matches(n *corev1.Node) bool {
	if !t.valid {
		return false
	}
	if !t.labels.Matches(labels.Set(n.Labels)) {
		return false
	}
	for _, f := range t.fields {
		eq := n.Name == f.Values[0]
		if (f.Operator == corev1.NodeSelectorOpIn) != eq {
			return false
		}
	}
	return true
}

// filter returns why node cannot run the pod, or nothing when it can.
// Checks run in Kubernetes' order and stop at the first failing one; only
// the resource check reports several reasons (one per short resource).
func filter(pi *podInfo, ni *nodeInfo) []string {
	n := ni.node
	tol := pi.pod.Spec.Tolerations
	if !ni.ready && !tolerates(tol, corev1.Taint{Key: taintNotReady, Effect: corev1.TaintEffectNoSchedule}) {
		return []string{reasonNotReady}
	}
	if n.Spec.Unschedulable && !tolerates(tol, corev1.Taint{Key: taintUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return []string{reasonUnschedulable}
	}
	if t, ok := untoleratedTaint(tol, n.Spec.Taints); ok {
		return []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)}
	}
	if !matchesNodeAffinity(pi, n) {
		return []string{reasonAffinity}
	}
	if portsConflict(pi.ports, ni.ports) {
		return []string{reasonPorts}
	}
	used, pods := ni.requested, ni.podCount
	if len(ni.nominated) > 0 {
		used, pods = reservedFor(pi, ni)
	}
	if r := fits(pi.requests, ni.allocatable, used, pods); len(r) > 0 {
		return r
	}
	if r := filterPods(pi, n); r != "" {
		return []string{r}
	}
	return nil
}

// reservedFor is what a node has in use for pi, counting the room
// reserved for preemptors of the same or higher priority as taken.
func reservedFor(pi *podInfo, ni *nodeInfo) (resources, int) {
	used, pods := ni.requested, ni.podCount
	used.scalar = maps.Clone(used.scalar)
	self, prio := podKey(pi.pod), priority(pi.pod)
	for key, nm := range ni.nominated {
		if key != self && nm.priority >= prio {
			used.add(nm.requests)
			pods++
		}
	}
	return used, pods
}

// tolerates reports whether any toleration tolerates the taint.
func tolerates(tols []corev1.Toleration, t corev1.Taint) bool {
	for i := range tols {
		if tolerationMatches(&tols[i], &t) {
			return true
		}
	}
	return false
}

func tolerationMatches(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		// An empty key with Equal tolerates nothing (validation forbids it).
		return tol.Key != "" && tol.Value == t.Value
	}
	return false
}

// untoleratedTaint returns the first NoSchedule or NoExecute taint that
// no toleration tolerates.
func untoleratedTaint(tols []corev1.Toleration, taints []corev1.Taint) (corev1.Taint, bool) {
	for _, t := range taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(tols, t) {
			return t, true
		}
	}
	return corev1.Taint{}, false
}

func matchesNodeAffinity(pi *podInfo, n *corev1.Node) bool {
	if pi.selector != nil && !pi.selector.Matches(labels.Set(n.Labels)) {
		return false
	}
	if !pi.hasReq {
		return true
	}
	for _, t := range pi.required {
		if t.matches(n) {
			return true
		}
	}
	return false
}

func portsConflict(want []hostPort, used map[hostPort]int) bool {
	if len(want) == 0 || len(used) == 0 {
		return false
	}
	for _, w := range want {
		if used[w] > 0 {
			return true
		}
		for u, c := range used {
			if c > 0 && w.conflicts(u) {
				return true
			}
		}
	}
	return false
}

// fits checks the pod's requests against what is left on the node.
func fits(req, alloc, used resources, pods int) []string {
	var out []string
	if int64(pods)+1 > alloc.pods {
		out = append(out, reasonTooManyPods)
	}
	if req.milliCPU > 0 && req.milliCPU > alloc.milliCPU-used.milliCPU {
		out = append(out, "Insufficient cpu")
	}
	if req.memory > 0 && req.memory > alloc.memory-used.memory {
		out = append(out, "Insufficient memory")
	}
	if req.ephemeral > 0 && req.ephemeral > alloc.ephemeral-used.ephemeral {
		out = append(out, "Insufficient ephemeral-storage")
	}
	for name, v := range req.scalar {
		if v > 0 && v > alloc.scalar[name]-used.scalar[name] {
			out = append(out, "Insufficient "+string(name))
		}
	}
	return out
}
