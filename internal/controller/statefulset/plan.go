package statefulset

import (
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/history"
)

// ordinalOf returns the ordinal in podName when the pod is a member of
// the set named setName, that is when it is named "<setName>-<ordinal>"
// with the ordinal written canonically.
func ordinalOf(setName, podName string) (int, bool) {
	rest, ok := strings.CutPrefix(podName, setName+"-")
	if !ok || rest == "" || len(rest) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// podName is the name of the set's pod with ordinal ord.
func podName(set *appsv1.StatefulSet, ord int) string {
	return set.Name + "-" + strconv.Itoa(ord)
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func startOf(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals == nil {
		return 0
	}
	return int(set.Spec.Ordinals.Start)
}

func rolling(set *appsv1.StatefulSet) bool {
	return set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
}

// partitionOf is the lowest index (ordinal minus the start ordinal) a
// rolling update may touch.
func partitionOf(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if !rolling(set) || ru == nil || ru.Partition == nil {
		return 0
	}
	return int(*ru.Partition)
}

// revisionFor names the revision a new pod at ordinal ord is made from:
// below a rolling update's partition pods stay at the current revision.
func revisionFor(set *appsv1.StatefulSet, ord int, current, update string) string {
	if rolling(set) && ord-startOf(set) < partitionOf(set) {
		return current
	}
	return update
}

func podRevision(p *corev1.Pod) string { return p.Labels[history.HashLabel] }

// healthy reports whether p is Running and has been Ready long enough.
func healthy(set *appsv1.StatefulSet, p *corev1.Pod, now time.Time) bool {
	minReady := time.Duration(set.Spec.MinReadySeconds) * time.Second
	return p.Status.Phase == corev1.PodRunning && controller.PodAvailable(p, minReady, now)
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
}

type reason int

const (
	reasonMissing   reason = iota // create: no pod holds the ordinal
	reasonFailed                  // delete: the pod finished and is replaced
	reasonCondemned               // delete: the ordinal is beyond the replicas
	reasonUpdate                  // delete: the pod is replaced at the update revision
)

// action is one step towards the set's spec: create the pod of ordinal
// from revision, or delete pod.
type action struct {
	reason   reason
	ordinal  int
	revision string
	pod      *corev1.Pod
}

func (a action) create() bool { return a.reason == reasonMissing }

// plan decides the next pod creations and deletions for set, whose member
// pods (terminating ones included) are pods. With OrderedReady it returns
// at most one action and none while a lower ordinal is not healthy or a
// pod is terminating; with Parallel it returns every creation and
// scale-down deletion at once. A rolling update deletes the highest
// out-of-date pod at or above the partition, one at a time, only when
// every pod is healthy and nothing else is to be done.
func plan(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update string, now time.Time) []action {
	start, n := startOf(set), replicasOf(set)
	ordered := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	byOrd := make(map[int]*corev1.Pod, len(pods))
	var condemned []*corev1.Pod
	ords := make(map[*corev1.Pod]int, len(pods))
	for _, p := range pods {
		ord, ok := ordinalOf(set.Name, p.Name)
		if !ok {
			continue
		}
		ords[p] = ord
		if ord >= start && ord < start+n {
			byOrd[ord] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ords[condemned[i]] > ords[condemned[j]] })

	var out []action
	allHealthy := true
	for ord := start; ord < start+n; ord++ {
		p := byOrd[ord]
		switch {
		case p == nil:
			out = append(out, action{reason: reasonMissing, ordinal: ord, revision: revisionFor(set, ord, current, update)})
		case p.DeletionTimestamp != nil:
		case finished(p):
			out = append(out, action{reason: reasonFailed, ordinal: ord, pod: p})
		case healthy(set, p, now):
			continue
		}
		allHealthy = false
		if ordered {
			return out
		}
	}

	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if ordered {
				return out
			}
			continue
		}
		if ordered && !allHealthy {
			return out
		}
		out = append(out, action{reason: reasonCondemned, ordinal: ords[p], pod: p})
		if ordered {
			return out
		}
	}

	if !rolling(set) || len(out) > 0 || len(condemned) > 0 || !allHealthy {
		return out
	}
	for ord := start + n - 1; ord >= start+partitionOf(set); ord-- {
		if p := byOrd[ord]; podRevision(p) != update {
			return []action{{reason: reasonUpdate, ordinal: ord, pod: p}}
		}
	}
	return nil
}

// computeStatus counts the set's member pods (terminating ones are not
// counted). ObservedGeneration and CollisionCount are carried over; the
// caller sets them. Once every pod is at the update revision and ready,
// the update revision becomes the current one.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update string, now time.Time) appsv1.StatefulSetStatus {
	s := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Status.ObservedGeneration,
		CollisionCount:     set.Status.CollisionCount,
		Conditions:         set.Status.Conditions,
		CurrentRevision:    current,
		UpdateRevision:     update,
	}
	minReady := time.Duration(set.Spec.MinReadySeconds) * time.Second
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		s.Replicas++
		if p.Status.Phase == corev1.PodRunning && controller.PodReady(p) {
			s.ReadyReplicas++
			if controller.PodAvailable(p, minReady, now) {
				s.AvailableReplicas++
			}
		}
		switch podRevision(p) {
		case current:
			s.CurrentReplicas++
			if current == update {
				s.UpdatedReplicas++
			}
		case update:
			s.UpdatedReplicas++
		}
	}
	if s.UpdatedReplicas == s.Replicas && s.ReadyReplicas == s.Replicas && int(s.Replicas) == replicasOf(set) {
		s.CurrentRevision = update
		s.CurrentReplicas = s.UpdatedReplicas
	}
	return s
}
