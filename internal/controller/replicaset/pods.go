package replicaset

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-sh/bosun/internal/controller"
)

// phaseRank orders phases from the cheapest to lose to the dearest.
func phaseRank(p corev1.PodPhase) int {
	switch p {
	case corev1.PodPending:
		return 0
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 3
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// lessForDeletion reports whether a should be deleted before b, in the
// spirit of Kubernetes' ranking: unscheduled before scheduled, pending
// before unknown before running, not ready before ready, recently ready
// before long ready, more restarts first, newer before older.
func lessForDeletion(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); ra != rb {
		return ra < rb
	}
	ta, oka := controller.ReadySince(a)
	tb, okb := controller.ReadySince(b)
	if oka != okb {
		return !oka
	}
	if oka && !ta.Equal(tb) {
		return ta.After(tb)
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return a.Name > b.Name
}

// podsToDelete picks the n pods to delete first.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return lessForDeletion(sorted[i], sorted[j]) })
	return sorted[:n]
}
