package noderestriction

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// kubeletLabels are the labels under kubernetes.io and k8s.io a node may
// set on itself: what it knows of its own host, OS, architecture,
// instance type and topology.
var kubeletLabels = []string{
	corev1.LabelHostname,
	corev1.LabelOSStable,
	corev1.LabelArchStable,
	"beta.kubernetes.io/os",
	"beta.kubernetes.io/arch",
	corev1.LabelInstanceType,
	corev1.LabelInstanceTypeStable,
	corev1.LabelFailureDomainBetaZone,
	corev1.LabelFailureDomainBetaRegion,
	corev1.LabelTopologyZone,
	corev1.LabelTopologyRegion,
}

// forbiddenLabels returns, sorted, the label keys that differ between now
// and old (added, removed or changed) and that a node may not set on
// itself: anything under node-restriction.kubernetes.io, which exists so
// administrators can label nodes in a way nodes cannot fake, and anything
// else under kubernetes.io or k8s.io except the kubelet's own labels and
// the kubelet.kubernetes.io and node.kubernetes.io namespaces.
func forbiddenLabels(now, old map[string]string) []string {
	var bad []string
	check := func(key string) {
		if isForbiddenLabel(key) && !slices.Contains(bad, key) {
			bad = append(bad, key)
		}
	}
	for k, v := range now {
		if ov, ok := old[k]; !ok || ov != v {
			check(k)
		}
	}
	for k := range old {
		if _, ok := now[k]; !ok {
			check(k)
		}
	}
	slices.Sort(bad)
	return bad
}

func isForbiddenLabel(key string) bool {
	ns, _, found := strings.Cut(key, "/")
	if !found {
		return false
	}
	if inDomain(ns, corev1.LabelNamespaceNodeRestriction) {
		return true
	}
	if !inDomain(ns, "kubernetes.io") && !inDomain(ns, "k8s.io") {
		return false
	}
	if slices.Contains(kubeletLabels, key) {
		return false
	}
	return !inDomain(ns, corev1.LabelNamespaceSuffixKubelet) && !inDomain(ns, corev1.LabelNamespaceSuffixNode)
}

// inDomain reports whether ns is domain or a subdomain of it.
func inDomain(ns, domain string) bool {
	return ns == domain || strings.HasSuffix(ns, "."+domain)
}
