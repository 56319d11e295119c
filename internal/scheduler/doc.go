// Package scheduler assigns pods to nodes. It owns the scheduling queue
// (priority order, backoff, unschedulable pods parked until the cluster
// changes), an in-memory node cache kept current from informers and from
// its own bindings, the filters and scores that decide placement, and the
// binding of pods through the pods/binding subresource.
//
// The scheduling loop is one goroutine: it pops the next pod, filters a
// sample of nodes (all of a small cluster; in a large one it stops after
// enough feasible nodes, starting where the last scan stopped), scores
// the feasible ones, assumes the pod on the best node in the cache and
// hands the API call to a binding worker. Per-pod work depends on the
// number of nodes examined, not on the number of pods placed, except for
// pods with anti-affinity or topology spread constraints, which walk the
// placed pods once per attempt.
package scheduler
