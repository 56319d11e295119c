package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// errNoNodes is Kubernetes' message when the cluster has no nodes at all.
const errNoNodes = "no nodes available to schedule pods"

// failureMessage words a failed attempt as Kubernetes does: each reason
// with the number of nodes that gave it, sorted as strings, then the
// preemption verdict (bosun does not preempt yet, so it never helps).
func failureMessage(nodes int, reasons map[string]int) string {
	if nodes == 0 {
		return errNoNodes
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.",
		nodes, strings.Join(parts, ", "), nodes, nodes)
}
