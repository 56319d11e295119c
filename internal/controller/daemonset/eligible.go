package daemonset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Taint keys the node lifecycle controller and the kubelet set, which
// every daemon pod tolerates.
const (
	taintNotReady           = "node.kubernetes.io/not-ready"
	taintUnreachable        = "node.kubernetes.io/unreachable"
	taintDiskPressure       = "node.kubernetes.io/disk-pressure"
	taintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	taintPIDPressure        = "node.kubernetes.io/pid-pressure"
	taintUnschedulable      = "node.kubernetes.io/unschedulable"
	taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// nodeNameField is the only field a node selector term may match.
const nodeNameField = "metadata.name"

// daemonTolerations returns the tolerations added to every pod of a
// DaemonSet: a daemon keeps running through node trouble and may start
// on nodes that ordinary pods avoid.
func daemonTolerations(hostNetwork bool) []corev1.Toleration {
	tols := []corev1.Toleration{
		{Key: taintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: taintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: taintDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintPIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		tols = append(tols, corev1.Toleration{Key: taintNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return tols
}

// addTolerations returns tols plus each of extra that no toleration in
// tols already states for the same key and effect.
func addTolerations(tols, extra []corev1.Toleration) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), tols...)
	for _, e := range extra {
		found := false
		for i := range out {
			if out[i].Key == e.Key && out[i].Effect == e.Effect {
				found = true
				break
			}
		}
		if !found {
			out = append(out, e)
		}
	}
	return out
}

// withNodeAffinity returns a copy of affinity that also requires the node
// named node. Any matchFields requirement on the node name is replaced;
// the template's other terms and expressions are kept, each term now
// ANDed with the node name.
func withNodeAffinity(affinity *corev1.Affinity, node string) *corev1.Affinity {
	req := corev1.NodeSelectorRequirement{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	out := affinity.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	sel := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if sel == nil || len(sel.NodeSelectorTerms) == 0 {
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}},
		}
		return out
	}
	for i := range sel.NodeSelectorTerms {
		t := &sel.NodeSelectorTerms[i]
		var fields []corev1.NodeSelectorRequirement
		for _, f := range t.MatchFields {
			if f.Key != nodeNameField {
				fields = append(fields, f)
			}
		}
		t.MatchFields = append(fields, req)
	}
	return out
}

// targetNode returns the node a daemon pod is for: the node it is bound
// to, or else the node its node-name affinity names.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == nodeNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// eligibility tells whether ds should place a pod on node (shouldRun),
// and whether a pod already there may stay (shouldContinue). A NoSchedule
// taint the pods do not tolerate keeps new pods off but leaves running
// ones alone; a NoExecute one, or a node that no longer matches the
// selector or affinity, ends them.
func eligibility(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, shouldContinue bool) {
	spec := &ds.Spec.Template.Spec
	if !matchesNode(spec, node) {
		return false, false
	}
	tols := addTolerations(spec.Tolerations, daemonTolerations(spec.HostNetwork))
	shouldRun, shouldContinue = true, true
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if tolerated(tols, t) {
			continue
		}
		shouldRun = false
		if t.Effect == corev1.TaintEffectNoExecute {
			return false, false
		}
	}
	return shouldRun, shouldContinue
}

// tolerated reports whether any of tols tolerates taint.
func tolerated(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != taint.Effect {
			continue
		}
		if tol.Key != "" && tol.Key != taint.Key {
			continue
		}
		switch tol.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if tol.Key != "" && tol.Value == taint.Value {
				return true
			}
		}
	}
	return false
}

// matchesNode reports whether node satisfies spec's nodeSelector and
// required node affinity (any one term, all requirements of it).
func matchesNode(spec *corev1.PodSpec, node *corev1.Node) bool {
	if len(spec.NodeSelector) > 0 && !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(t, node) {
			return true
		}
	}
	return false
}

// termMatches reports whether node satisfies every requirement of t. An
// empty term, or one with an invalid requirement, matches nothing.
func termMatches(t corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, e := range t.MatchExpressions {
		if !requirementMatches(e, node.Labels) {
			return false
		}
	}
	for _, f := range t.MatchFields {
		if f.Key != nodeNameField {
			return false
		}
		// Node names may be longer than label values, so compare directly.
		in := false
		for _, v := range f.Values {
			in = in || v == node.Name
		}
		switch f.Operator {
		case corev1.NodeSelectorOpIn:
			if !in {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if in {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func requirementMatches(e corev1.NodeSelectorRequirement, set map[string]string) bool {
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
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(e.Values) != 1 {
			return false
		}
		if _, err := strconv.ParseInt(e.Values[0], 10, 64); err != nil {
			return false
		}
		op = selection.GreaterThan
		if e.Operator == corev1.NodeSelectorOpLt {
			op = selection.LessThan
		}
	default:
		return false
	}
	r, err := labels.NewRequirement(e.Key, op, e.Values)
	if err != nil {
		return false
	}
	return r.Matches(labels.Set(set))
}
