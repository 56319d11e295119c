package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

const maxScore = 100

// Weights of the scores in the total, as Kubernetes' default profile
// weighs them.
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightNodeAffinity   = 2
	weightTaints         = 3
)

// leastAllocated favours nodes with more cpu and memory left after the
// pod is placed: 0..100, averaged over the two resources.
func leastAllocated(pi *podInfo, ni *nodeInfo) int64 {
	cpu := freeFraction(ni.nonZero.milliCPU+pi.nonZero.milliCPU, ni.allocatable.milliCPU)
	mem := freeFraction(ni.nonZero.memory+pi.nonZero.memory, ni.allocatable.memory)
	return (cpu + mem) / 2
}

func freeFraction(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxScore / capacity
}

// balancedAllocation favours nodes whose cpu and memory would be used in
// equal proportion: 100 minus the standard deviation of the two
// fractions, which for two values is half their difference.
func balancedAllocation(pi *podInfo, ni *nodeInfo) int64 {
	cpu := fraction(ni.nonZero.milliCPU+pi.nonZero.milliCPU, ni.allocatable.milliCPU)
	mem := fraction(ni.nonZero.memory+pi.nonZero.memory, ni.allocatable.memory)
	d := cpu - mem
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * maxScore)
}

func fraction(requested, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	f := float64(requested) / float64(capacity)
	return min(f, 1)
}

// preferredAffinity is the sum of the weights of the preferred node
// affinity terms the node matches (normalized across nodes later).
func preferredAffinity(pi *podInfo, n *corev1.Node) int64 {
	var s int64
	for _, w := range pi.preferred {
		if w.term.matches(n) {
			s += int64(w.weight)
		}
	}
	return s
}

// preferNoScheduleTaints counts the node's PreferNoSchedule taints the
// pod does not tolerate (fewer is better; normalized across nodes later).
func preferNoScheduleTaints(pi *podInfo, n *corev1.Node) int64 {
	var s int64
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(pi.pod.Spec.Tolerations, t) {
			s++
		}
	}
	return s
}

// candidate is a feasible node with its raw scores.
type candidate struct {
	ni       *nodeInfo
	base     int64 // already on the 0..100 scale, weighted
	affinity int64
	taints   int64
	interPod int64   // weighted matching pods, may be negative
	spread   float64 // lower is better
	spreadOK bool    // the node has every ScheduleAnyway key
}

// pick normalizes the per-node scores and returns the index of the best
// candidate. Ties go to the earliest candidate; the rotating start of
// the node scan spreads equal choices.
func pick(cands []candidate) int {
	var maxAff, maxTaint int64
	minPod, maxPod := cands[0].interPod, cands[0].interPod
	var minSpread, maxSpread float64
	spreadSeen := false
	for _, c := range cands {
		maxAff = max(maxAff, c.affinity)
		maxTaint = max(maxTaint, c.taints)
		minPod, maxPod = min(minPod, c.interPod), max(maxPod, c.interPod)
		if c.spreadOK {
			if !spreadSeen {
				minSpread, maxSpread, spreadSeen = c.spread, c.spread, true
			}
			minSpread, maxSpread = min(minSpread, c.spread), max(maxSpread, c.spread)
		}
	}
	best, bestScore := -1, int64(-1)
	for i, c := range cands {
		s := c.base
		if maxAff > 0 {
			s += weightNodeAffinity * c.affinity * maxScore / maxAff
		}
		if maxTaint > 0 {
			s += weightTaints * (maxScore - c.taints*maxScore/maxTaint)
		} else {
			s += weightTaints * maxScore
		}
		if maxPod > minPod {
			s += weightInterPod * (c.interPod - minPod) * maxScore / (maxPod - minPod)
		}
		s += weightSpread * spreadNormalized(c, spreadSeen, minSpread, maxSpread)
		if s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// spreadNormalized maps a raw spread score to 0..100, the emptiest
// domain highest; nodes without the keys score 0.
func spreadNormalized(c candidate, seen bool, lo, hi float64) int64 {
	switch {
	case !seen:
		return maxScore // no ScheduleAnyway constraint: equal for all
	case !c.spreadOK:
		return 0
	case hi == 0:
		return maxScore
	}
	return int64(maxScore * (hi + lo - c.spread) / hi)
}

func baseScore(pi *podInfo, ni *nodeInfo) int64 {
	return weightLeastAllocated*leastAllocated(pi, ni) + weightBalanced*balancedAllocation(pi, ni)
}
