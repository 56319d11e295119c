package replicaset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podActive reports whether a pod counts towards replicas: not finished
// and not being deleted.
func podActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// readySince returns when the pod became Ready, and whether it is.
func readySince(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

// podReady reports whether the pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	_, ok := readySince(p)
	return ok
}

// podAvailable reports whether the pod has been ready for at least
// minReady at now. A ready pod without a transition time counts as
// available only when minReady is zero.
func podAvailable(p *corev1.Pod, minReady time.Duration, now time.Time) bool {
	since, ok := readySince(p)
	if !ok {
		return false
	}
	if minReady == 0 {
		return true
	}
	return !since.IsZero() && !since.Add(minReady).After(now)
}

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
	ta, oka := readySince(a)
	tb, okb := readySince(b)
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

// slowStartBatches returns the sizes of the create batches for n pods:
// 1, 2, 4, … so that a failing template costs one request, not n.
func slowStartBatches(n int) []int {
	var out []int
	for size := 1; n > 0; size *= 2 {
		b := min(size, n)
		out = append(out, b)
		n -= b
	}
	return out
}
