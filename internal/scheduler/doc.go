// Package scheduler assigns pods to nodes. It owns the scheduling queue
// (priority order, backoff, unschedulable pods parked until the cluster
// changes), an in-memory node cache kept current from informers and from
// its own bindings, the filters and scores that decide placement,
// preemption of lower-priority pods, and the binding of pods through the
// pods/binding subresource.
//
// The scheduling loop is one goroutine: it pops the next pod, filters a
// sample of nodes (all of a small cluster; in a large one it stops after
// enough feasible nodes, starting where the last scan stopped), scores
// the feasible ones, assumes the pod on the best node in the cache and
// hands the API call to a binding worker. Per-pod work depends on the
// number of nodes examined, not on the number of pods placed: pod
// (anti-)affinity and topology spread read per-domain counts of matching
// pods that the cache keeps for each term in use and updates as pods
// come and go. Only spread constraints of pods restricted to some nodes
// walk the placed pods.
//
// A pod that fits nowhere may preempt: on the node where the fewest,
// least important lower-priority pods must go, they are deleted and the
// room they leave is reserved for the pod (status.nominatedNodeName)
// until it is scheduled.
package scheduler
