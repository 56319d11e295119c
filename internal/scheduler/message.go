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
// preemption verdict when preemption did not help.
func failureMessage(nodes int, reasons map[string]int, preemption string) string {
	if nodes == 0 {
		return errNoNodes
	}
	msg := nodesAvailable(nodes, reasons)
	if preemption != "" {
		msg += " preemption: " + preemption
	}
	return msg
}

// nodesAvailable is "0/N nodes are available: " and the counted reasons.
func nodesAvailable(nodes int, reasons map[string]int) string {
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", nodes, strings.Join(parts, ", "))
}
