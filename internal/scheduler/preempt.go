package scheduler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
)

// Preemption verdicts, as Kubernetes words them.
const (
	preemptNoVictims    = "No preemption victims found for incoming pod"
	preemptNotHelpful   = "Preemption is not helpful for scheduling"
	preemptNever        = "not eligible due to preemptionPolicy=Never."
	preemptTerminating  = "not eligible due to a terminating pod on the nominated node."
	reasonPreemptedCond = "PreemptionByScheduler"
)

// resolvable reports whether removing pods from a node could clear
// every reason it gave.
func resolvable(reasons []string) bool {
	for _, r := range reasons {
		switch {
		case strings.HasPrefix(r, "Insufficient "), r == reasonTooManyPods, r == reasonPorts,
			r == reasonSpread, r == reasonAntiAffinity, r == reasonExistingAntiAffinity:
		default:
			return false
		}
	}
	return true
}

// exceeds reports whether a request is more than the node offers in
// all: even emptied, the node could not take the pod.
func exceeds(req, alloc resources) bool {
	if req.milliCPU > alloc.milliCPU || req.memory > alloc.memory || req.ephemeral > alloc.ephemeral {
		return true
	}
	for name, v := range req.scalar {
		if v > alloc.scalar[name] {
			return true
		}
	}
	return false
}

// preemption is the decision to delete victims so that a pod fits on node.
type preemption struct {
	node    string
	victims []*corev1.Pod
}

// victimSet is what one node would need to lose.
type victimSet struct {
	node      string
	victims   []*podState
	violating int // victims whose deletion breaks a PodDisruptionBudget
}

func (v *victimSet) highest() int32 {
	h := v.victims[0].priority()
	for _, ps := range v.victims {
		h = max(h, ps.priority())
	}
	return h
}

func (v *victimSet) sum() int64 {
	var s int64
	for _, ps := range v.victims {
		// Shifted so that negative priorities still add up to less.
		s += int64(ps.priority()) + 1<<31
	}
	return s
}

// earliestTop is the earliest start among the highest-priority victims.
func (v *victimSet) earliestTop() time.Time {
	h := v.highest()
	var t time.Time
	for _, ps := range v.victims {
		if ps.priority() == h && (t.IsZero() || ps.started().Before(t)) {
			t = ps.started()
		}
	}
	return t
}

// How many nodes with victims preemption compares: a tenth of the nodes
// worth trying, and at least 100, as Kubernetes' defaults.
const (
	candidatePercent = 10
	minCandidates    = 100
)

// better orders candidate nodes as Kubernetes does: fewest
// PodDisruptionBudgets broken, then the lowest highest victim priority,
// the lowest sum of victim priorities, the fewest victims, and last the
// node whose most important victims started last.
func (v *victimSet) better(o *victimSet) bool {
	if v.violating != o.violating {
		return v.violating < o.violating
	}
	if a, b := v.highest(), o.highest(); a != b {
		return a < b
	}
	if a, b := v.sum(), o.sum(); a != b {
		return a < b
	}
	if len(v.victims) != len(o.victims) {
		return len(v.victims) < len(o.victims)
	}
	return v.earliestTop().After(o.earliestTop())
}

// preempt looks for a node where deleting lower-priority pods lets pi
// fit, after findNode found none (and left the nodes worth trying in
// s.resolvable). It returns the choice, or the verdict for the
// FailedScheduling message.
func (s *Scheduler) preempt(pi *podInfo, nodes int) (*preemption, string) {
	pod := pi.pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return nil, preemptNever
	}
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	prio := priority(pod)
	nominated := pod.Status.NominatedNodeName
	if nm := c.nominated[podKey(pod)]; nm != nil {
		nominated = nm.node
	}
	if ni := c.nodes[nominated]; ni != nil {
		for _, ps := range ni.pods {
			if ps.terminating() && ps.priority() < prio {
				return nil, preemptTerminating
			}
		}
	}
	// Like Kubernetes, compare a sample of the candidate nodes, not all
	// of them: enough to choose well, starting where the last search
	// stopped so that successive preemptions spread over the cluster.
	var best *victimSet
	noVictims, found := 0, 0
	want := max(len(s.resolvable)*candidatePercent/100, minCandidates)
	start := 0
	if len(s.resolvable) > want {
		start = s.preemptNext % len(s.resolvable)
	}
	pdbs := s.budgets()
	for i := range s.resolvable {
		ni := s.resolvable[(start+i)%len(s.resolvable)]
		vs := c.victimsLocked(pi, ni, pdbs)
		if vs == nil {
			noVictims++
			continue
		}
		if best == nil || vs.better(best) {
			best = vs
		}
		if found++; found >= want {
			s.preemptNext = start + i + 1
			break
		}
	}
	if best == nil {
		verdicts := map[string]int{}
		if noVictims > 0 {
			verdicts[preemptNoVictims] = noVictims
		}
		if nodes > noVictims {
			verdicts[preemptNotHelpful] = nodes - noVictims
		}
		return nil, nodesAvailable(nodes, verdicts)
	}
	p := &preemption{node: best.node}
	for _, ps := range best.victims {
		ps.evicting = true
		p.victims = append(p.victims, ps.pod)
	}
	sort.Slice(p.victims, func(i, j int) bool { return podKey(p.victims[i]) < podKey(p.victims[j]) })
	return p, ""
}

// budgets returns the PodDisruptionBudgets (victims may be in any
// namespace; clusters have few).
func (s *Scheduler) budgets() []*policyv1.PodDisruptionBudget {
	if s.pdbs == nil {
		return nil
	}
	var out []*policyv1.PodDisruptionBudget
	for _, o := range s.pdbs.List() {
		if b, ok := o.(*policyv1.PodDisruptionBudget); ok {
			out = append(out, b)
		}
	}
	return out
}

// victimsLocked finds the fewest lower-priority pods of ni whose removal
// lets pi pass every filter there, or nil. The cache is left as found.
func (c *nodeCache) victimsLocked(pi *podInfo, ni *nodeInfo, pdbs []*policyv1.PodDisruptionBudget) *victimSet {
	prio := priority(pi.pod)
	var cand []*podState
	for _, ps := range ni.pods {
		if ps.priority() < prio && !ps.terminating() {
			cand = append(cand, ps)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	removed := map[*podState]bool{}
	remove := func(ps *podState) { c.removeLocked(podKey(ps.pod)); removed[ps] = true }
	add := func(ps *podState) { c.addLocked(podKey(ps.pod), ps); delete(removed, ps) }
	defer func() {
		for ps := range removed {
			add(ps)
		}
	}()
	fitsNow := func() bool { c.prepareLocked(pi); return len(filter(pi, ni)) == 0 }
	for _, ps := range cand {
		remove(ps)
	}
	if !fitsNow() {
		return nil
	}
	// The most important pods get the first chance to stay; pods
	// protected by a budget before the others.
	sort.Slice(cand, func(i, j int) bool {
		a, b := cand[i], cand[j]
		if a.priority() != b.priority() {
			return a.priority() > b.priority()
		}
		return a.started().Before(b.started())
	})
	violating := map[*podState]bool{}
	allowed := map[*policyv1.PodDisruptionBudget]int32{}
	for _, b := range pdbs {
		allowed[b] = b.Status.DisruptionsAllowed
	}
	for _, ps := range cand {
		for _, b := range pdbs {
			if b.Namespace != ps.ns || b.Spec.Selector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(ps.labels)) {
				continue
			}
			if allowed[b]--; allowed[b] < 0 {
				violating[ps] = true
			}
		}
	}
	vs := &victimSet{node: ni.node.Name}
	for _, protected := range []bool{true, false} {
		for _, ps := range cand {
			if violating[ps] != protected {
				continue
			}
			add(ps)
			if fitsNow() {
				continue
			}
			remove(ps)
			vs.victims = append(vs.victims, ps)
			if protected {
				vs.violating++
			}
		}
	}
	return vs
}

// evict deletes the victims of a preemption: each gets the
// DisruptionTarget condition first, then is deleted with its own grace
// period, and an event says who preempted it.
func (s *Scheduler) evict(ctx context.Context, preemptor *corev1.Pod, p *preemption) {
	for _, v := range p.victims {
		cur := v.DeepCopy()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if cur == nil {
				got, err := s.client.CoreV1().Pods(v.Namespace).Get(ctx, v.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur = got
			}
			if cur.UID != v.UID {
				return nil
			}
			if !setDisruptionTarget(cur, s.clock.Now()) {
				return nil
			}
			_, err := s.client.CoreV1().Pods(v.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			cur = nil
			return err
		})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("marking preemption victim", "pod", podKey(v), "err", err)
		}
		uid := v.UID
		err = s.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			if ctx.Err() == nil {
				s.log.Warn("deleting preemption victim", "pod", podKey(v), "err", err)
			}
			continue
		}
		s.recorder.Eventf(v, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", preemptor.UID, p.node)
	}
}

func setDisruptionTarget(p *corev1.Pod, now time.Time) bool {
	c := corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		Reason:             reasonPreemptedCond,
		Message:            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", Name),
		LastTransitionTime: metav1.NewTime(now),
	}
	for i := range p.Status.Conditions {
		old := &p.Status.Conditions[i]
		if old.Type != corev1.DisruptionTarget {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason {
			return false
		}
		*old = c
		return true
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
	return true
}
