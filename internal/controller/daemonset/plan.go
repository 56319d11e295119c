package daemonset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/history"
)

// nodePods is one node as a DaemonSet sees it: whether it should run the
// daemon, whether a daemon pod may stay on it, and the DaemonSet's pods
// there (any phase, terminating or not). A node that no longer exists is
// gone, with both flags false.
type nodePods struct {
	name           string
	shouldRun      bool
	shouldContinue bool
	gone           bool
	pods           []*corev1.Pod
}

// settings are what a plan depends on besides the nodes.
type settings struct {
	hash    string // current revision's hash
	rolling bool   // RollingUpdate strategy (else OnDelete)
	// maxUnavailable and maxSurge are resolved to pod counts; with
	// maxSurge above zero the update surges and maxUnavailable is unused.
	maxUnavailable int
	maxSurge       int
	minReady       time.Duration
	now            time.Time
	// hold names the nodes whose daemon pods failed recently: they get
	// no new pod until their backoff ends.
	hold map[string]bool
}

// plan is what one reconcile does: create a pod on each named node, and
// delete the listed pods.
type plan struct {
	create []string
	delete []*corev1.Pod
}

// slot is what a node that should run the daemon is left with once the
// plan's per-node cleanup is done: at most one pod of the current
// revision and one older one.
type slot struct {
	node     string
	cur, old *corev1.Pod
}

// computePlan decides the creates and deletes that bring nodes to one
// current, available daemon pod each. Pods that failed or finished are
// deleted (their node gets a new pod on a later pass, once the deletion
// is seen); pods on nodes that may no longer run the daemon are deleted;
// of duplicates on one node the oldest of each revision is kept. An old
// pod is deleted as soon as its node's current pod is available. The
// rolling update then chooses which old pods to replace.
func computePlan(nodes []nodePods, s settings) plan {
	var p plan
	var slots []slot
	sorted := append([]nodePods(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, n := range sorted {
		var active []*corev1.Pod
		finished := false
		for _, pod := range n.pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
				p.delete = append(p.delete, pod)
				finished = true
			default:
				active = append(active, pod)
			}
		}
		if !n.shouldContinue {
			p.delete = append(p.delete, active...)
			continue
		}
		if !n.shouldRun {
			continue
		}
		if len(active) == 0 {
			if !finished && !s.hold[n.name] {
				p.create = append(p.create, n.name)
			}
			slots = append(slots, slot{node: n.name})
			continue
		}
		sortOldestFirst(active)
		sl := slot{node: n.name}
		for _, pod := range active {
			switch {
			case pod.Labels[history.HashLabel] == s.hash && sl.cur == nil:
				sl.cur = pod
			case pod.Labels[history.HashLabel] != s.hash && sl.old == nil:
				sl.old = pod
			default:
				p.delete = append(p.delete, pod)
			}
		}
		if sl.cur != nil && sl.old != nil && controller.PodAvailable(sl.cur, s.minReady, s.now) {
			p.delete = append(p.delete, sl.old)
			sl.old = nil
		}
		slots = append(slots, sl)
	}
	if s.rolling {
		create, del := rollingUpdate(slots, s)
		p.create = append(p.create, create...)
		p.delete = append(p.delete, del...)
	}
	return p
}

// rollingUpdate chooses the old pods to replace now. Without surge, it
// deletes old pods (their nodes get current ones on a later pass) while
// at most maxUnavailable nodes lack an available pod; unavailable old pods
// go at once, since deleting them costs no availability. With surge, it
// starts a current pod beside an old one on up to maxSurge nodes at a
// time (at once where the old pod is unavailable); computePlan deletes
// the old pod when the new one is available.
func rollingUpdate(slots []slot, s settings) (create []string, del []*corev1.Pod) {
	available := func(p *corev1.Pod) bool { return controller.PodAvailable(p, s.minReady, s.now) }
	if s.maxSurge == 0 {
		unavailable := 0
		var candidates []*corev1.Pod
		for _, sl := range slots {
			switch {
			case sl.cur != nil:
				if !available(sl.cur) {
					unavailable++
				}
			case sl.old == nil:
				unavailable++
			case !available(sl.old):
				unavailable++
				del = append(del, sl.old)
			default:
				candidates = append(candidates, sl.old)
			}
		}
		for i := 0; i < s.maxUnavailable-unavailable && i < len(candidates); i++ {
			del = append(del, candidates[i])
		}
		return nil, del
	}
	surging := 0
	var candidates []string
	for _, sl := range slots {
		switch {
		case sl.old == nil:
		case sl.cur != nil:
			surging++
		case !available(sl.old):
			create = append(create, sl.node)
		default:
			candidates = append(candidates, sl.node)
		}
	}
	for i := 0; i < s.maxSurge-surging && i < len(candidates); i++ {
		create = append(create, candidates[i])
	}
	return create, nil
}

// untilAvailable returns how long until the first pod that is ready but
// not yet available for minReady becomes available, if there is one.
func untilAvailable(nodes []nodePods, s settings) (time.Duration, bool) {
	var first time.Duration
	found := false
	for _, n := range nodes {
		for _, p := range n.pods {
			since, ready := controller.ReadySince(p)
			if !ready || since.IsZero() || !controller.PodActive(p) || controller.PodAvailable(p, s.minReady, s.now) {
				continue
			}
			if d := since.Add(s.minReady).Sub(s.now); !found || d < first {
				first, found = d, true
			}
		}
	}
	return first, found
}

// failedOn returns the nodes with a failed or finished daemon pod not yet
// being deleted.
func failedOn(nodes []nodePods) []string {
	var out []string
	for _, n := range nodes {
		for _, p := range n.pods {
			if p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
				out = append(out, n.name)
				break
			}
		}
	}
	return out
}

// sortOldestFirst orders pods by creation, then name.
func sortOldestFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return pods[i].Name < pods[j].Name
	})
}

// counts are the node counts of a DaemonSet's status.
type counts struct {
	desired, current, misscheduled, ready, updated, available int32
}

// countNodes computes the status counts. A node is judged by its oldest
// active daemon pod, so a node whose old pod still runs beside a surging
// new one is not yet updated.
func countNodes(nodes []nodePods, s settings) counts {
	var c counts
	for _, n := range nodes {
		if n.gone {
			continue // its pods are being deleted; it is no node of the status
		}
		var active []*corev1.Pod
		for _, pod := range n.pods {
			if controller.PodActive(pod) {
				active = append(active, pod)
			}
		}
		if !n.shouldRun {
			if len(active) > 0 {
				c.misscheduled++
			}
			continue
		}
		c.desired++
		if len(active) == 0 {
			continue
		}
		c.current++
		sortOldestFirst(active)
		pod := active[0]
		if controller.PodReady(pod) {
			c.ready++
			if controller.PodAvailable(pod, s.minReady, s.now) {
				c.available++
			}
		}
		if pod.Labels[history.HashLabel] == s.hash {
			c.updated++
		}
	}
	return c
}
