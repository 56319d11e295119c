package scheduler

import (
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxIndexes bounds the number of term indexes kept; the least recently
// used goes first (it is rebuilt if a pod needs it again).
const maxIndexes = 128

// nodeInfo is one node and what the pods placed on it use.
type nodeInfo struct {
	node        *corev1.Node // nil while only pods name it
	ready       bool
	allocatable resources
	requested   resources
	nonZero     resources // requests with scoring defaults
	podCount    int
	ports       map[hostPort]int
	pods        map[string]*podState
	// nominated are preemptors waiting for their victims to leave; the
	// room they freed is theirs.
	nominated map[string]*nominee
	idx       int // position in cache.order, -1 when absent
}

// nominee is a pod that preempted others on a node and waits for them
// to terminate.
type nominee struct {
	node     string
	requests resources
	priority int32
}

// podState is a placed (or assumed) pod's contribution to its node.
type podState struct {
	pod      *corev1.Pod
	node     string
	requests resources
	nonZero  resources
	ports    []hostPort
	assumed  bool
	ns       string
	labels   map[string]string
	carried  []carriedTerm
	// evicting: chosen as a preemption victim, deletion under way.
	evicting bool
}

func newPodState(pi *podInfo, node string, assumed bool) *podState {
	return &podState{
		pod: pi.pod, node: node, requests: pi.requests, nonZero: pi.nonZero, ports: pi.ports, assumed: assumed,
		ns: pi.pod.Namespace, labels: pi.pod.Labels, carried: carriedTerms(pi.pod),
	}
}

func (ps *podState) terminating() bool { return ps.evicting || ps.pod.DeletionTimestamp != nil }

func (ps *podState) priority() int32 { return priority(ps.pod) }

// started is when the pod started, or was created when it has not.
func (ps *podState) started() time.Time {
	if t := ps.pod.Status.StartTime; t != nil {
		return t.Time
	}
	return ps.pod.CreationTimestamp.Time
}

// nodeCache is the scheduler's view of nodes and of the pods on them. It is
// fed by informers and by the scheduler's own decisions: a pod is
// assumed on its node as soon as it is chosen, so the next pod sees the
// space taken without waiting for the binding to come back via watch.
// Pod-to-pod rules read per-domain counts kept here as pods come and go,
// so no attempt scans all pods (except spread constraints of pods
// limited to some nodes).
type nodeCache struct {
	mu    sync.RWMutex
	nodes map[string]*nodeInfo
	order []*nodeInfo // nodes with a Node object, for sampling
	pods  map[string]*podState
	// nsLabels are the namespaces' labels, for namespace selectors.
	nsLabels map[string]map[string]string
	// matches count the pods each term in use selects; carried count
	// the pods that carry each term.
	matches map[string]*matchIndex
	carried map[string]*carrierIndex
	// domains counts the nodes per label key and value.
	domains   map[string]map[string]int
	nominated map[string]*nominee // by pod key
	attempt   int64
}

func newCache() *nodeCache {
	return &nodeCache{
		nodes: map[string]*nodeInfo{}, pods: map[string]*podState{}, nsLabels: map[string]map[string]string{},
		matches: map[string]*matchIndex{}, carried: map[string]*carrierIndex{},
		domains: map[string]map[string]int{}, nominated: map[string]*nominee{},
	}
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *nodeCache) infoLocked(name string) *nodeInfo {
	ni := c.nodes[name]
	if ni == nil {
		ni = &nodeInfo{ports: map[hostPort]int{}, pods: map[string]*podState{}, idx: -1}
		c.nodes[name] = ni
	}
	return ni
}

func (c *nodeCache) setNode(n *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.infoLocked(n.Name)
	relabel := ni.node == nil || !maps.Equal(ni.node.Labels, n.Labels)
	if relabel && ni.node != nil {
		c.countNodeLocked(ni, -1)
	}
	ni.node = n
	ni.ready = nodeReady(n)
	ni.allocatable = fromList(n.Status.Allocatable)
	if relabel {
		c.countNodeLocked(ni, 1)
	}
	if ni.idx < 0 {
		ni.idx = len(c.order)
		c.order = append(c.order, ni)
	}
}

func (c *nodeCache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[name]
	if ni == nil {
		return
	}
	if ni.idx >= 0 {
		last := c.order[len(c.order)-1]
		c.order[ni.idx] = last
		last.idx = ni.idx
		c.order = c.order[:len(c.order)-1]
		ni.idx = -1
	}
	if ni.node != nil {
		c.countNodeLocked(ni, -1)
	}
	ni.node = nil
	if ni.podCount == 0 {
		delete(c.nodes, name)
	}
}

// countNodeLocked adds (delta 1) or removes (-1) a node's labels and the
// pods on it to or from the domain counts.
func (c *nodeCache) countNodeLocked(ni *nodeInfo, delta int) {
	for k, v := range ni.node.Labels {
		d := c.domains[k]
		if d == nil {
			d = map[string]int{}
			c.domains[k] = d
		}
		if d[v] += delta; d[v] <= 0 {
			delete(d, v)
			if len(d) == 0 {
				delete(c.domains, k)
			}
		}
	}
	for _, ps := range ni.pods {
		c.countPodLocked(ps, ni.node, delta)
	}
}

// countPodLocked adds a pod on node to (or removes it from) the indexes.
func (c *nodeCache) countPodLocked(ps *podState, n *corev1.Node, delta int) {
	if len(c.matches) > 0 {
		nsl := c.nsLabels[ps.ns]
		for _, idx := range c.matches {
			if v, ok := n.Labels[idx.key]; ok && idx.term.matches(ps.ns, ps.labels, nsl) {
				idx.change(v, delta)
			}
		}
	}
	for i := range ps.carried {
		ct := &ps.carried[i]
		v, ok := n.Labels[ct.term.topologyKey]
		if !ok {
			continue
		}
		idx := c.carried[ct.id]
		if idx == nil {
			idx = &carrierIndex{carriedTerm: *ct, domainCounts: domainCounts{key: ct.term.topologyKey, counts: map[string]int{}}}
			c.carried[ct.id] = idx
		}
		idx.change(v, delta)
		if idx.total <= 0 {
			delete(c.carried, ct.id)
		}
	}
}

// indexLocked returns the index of the pods term selects, building it
// from the placed pods the first time.
func (c *nodeCache) indexLocked(t podTerm) *matchIndex {
	if idx := c.matches[t.id]; idx != nil {
		idx.used = c.attempt
		return idx
	}
	if len(c.matches) >= maxIndexes {
		var oldest *matchIndex
		for _, idx := range c.matches {
			if idx.used < c.attempt && (oldest == nil || idx.used < oldest.used) {
				oldest = idx
			}
		}
		if oldest != nil {
			delete(c.matches, oldest.term.id)
		}
	}
	idx := &matchIndex{term: t, domainCounts: domainCounts{key: t.topologyKey, counts: map[string]int{}}, used: c.attempt}
	for _, ps := range c.pods {
		ni := c.nodes[ps.node]
		if ni == nil || ni.node == nil {
			continue
		}
		if v, ok := ni.node.Labels[t.topologyKey]; ok && t.matches(ps.ns, ps.labels, c.nsLabels[ps.ns]) {
			idx.change(v, 1)
		}
	}
	c.matches[t.id] = idx
	return idx
}

// setNamespace records a namespace's labels. Indexes of terms with a
// namespace selector are dropped when they change (rebuilt on use).
func (c *nodeCache) setNamespace(ns *corev1.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.nsLabels[ns.Name]; ok && maps.Equal(old, ns.Labels) {
		return
	}
	c.nsLabels[ns.Name] = ns.Labels
	for id, idx := range c.matches {
		if idx.term.nsSelector != nil {
			delete(c.matches, id)
		}
	}
}

func (c *nodeCache) removeNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nsLabels, name)
}

func (c *nodeCache) addLocked(key string, ps *podState) {
	c.pods[key] = ps
	ni := c.infoLocked(ps.node)
	ni.pods[key] = ps
	ni.requested.add(ps.requests)
	ni.nonZero.add(ps.nonZero)
	ni.podCount++
	for _, p := range ps.ports {
		ni.ports[p]++
	}
	if ni.node != nil {
		c.countPodLocked(ps, ni.node, 1)
	}
}

func (c *nodeCache) removeLocked(key string) {
	ps := c.pods[key]
	if ps == nil {
		return
	}
	delete(c.pods, key)
	ni := c.nodes[ps.node]
	if ni == nil {
		return
	}
	if ni.node != nil {
		c.countPodLocked(ps, ni.node, -1)
	}
	delete(ni.pods, key)
	ni.requested.sub(ps.requests)
	ni.nonZero.sub(ps.nonZero)
	ni.podCount--
	for _, p := range ps.ports {
		if ni.ports[p]--; ni.ports[p] <= 0 {
			delete(ni.ports, p)
		}
	}
	if ni.node == nil && ni.podCount == 0 {
		delete(c.nodes, ps.node)
	}
}

// assume places the pod on node before its binding is confirmed. A
// nomination the pod held ends: it has its place.
func (c *nodeCache) assume(pi *podInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(pi.pod)
	c.unnominateLocked(key)
	c.removeLocked(key)
	c.addLocked(key, newPodState(pi, node, true))
}

// forget undoes assume after a failed binding, unless the pod has been
// seen bound since.
func (c *nodeCache) forget(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(pod)
	if ps := c.pods[key]; ps != nil && ps.assumed {
		c.removeLocked(key)
	}
}

// isPlaced reports whether the pod already holds a place.
func (c *nodeCache) isPlaced(pod *corev1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pods[podKey(pod)] != nil
}

// setPod records a pod the API server shows bound to a node, replacing
// any assumption about it.
func (c *nodeCache) setPod(pod *corev1.Pod) {
	key := podKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnominateLocked(key)
	if ps := c.pods[key]; ps != nil && !ps.assumed && ps.node == pod.Spec.NodeName && maps.Equal(ps.labels, pod.Labels) {
		// Requests and ports of a bound pod do not change; keep the
		// newest object for preemption (deletion, start time).
		ps.pod = pod
		return
	}
	c.removeLocked(key)
	c.addLocked(key, newPodState(newPodInfo(pod), pod.Spec.NodeName, false))
}

func (c *nodeCache) removePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnominateLocked(podKey(pod))
	c.removeLocked(podKey(pod))
}

// nominate reserves on node the room a preemptor freed.
func (c *nodeCache) nominate(pi *podInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(pi.pod)
	c.unnominateLocked(key)
	nm := &nominee{node: node, requests: pi.requests, priority: priority(pi.pod)}
	c.nominated[key] = nm
	ni := c.infoLocked(node)
	if ni.nominated == nil {
		ni.nominated = map[string]*nominee{}
	}
	ni.nominated[key] = nm
}

func (c *nodeCache) unnominateLocked(key string) {
	nm := c.nominated[key]
	if nm == nil {
		return
	}
	delete(c.nominated, key)
	if ni := c.nodes[nm.node]; ni != nil {
		delete(ni.nominated, key)
	}
}

// nominatedNode is where the pod preempted others, or "".
func (c *nodeCache) nominatedNode(pod *corev1.Pod) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if nm := c.nominated[podKey(pod)]; nm != nil {
		return nm.node
	}
	return ""
}
