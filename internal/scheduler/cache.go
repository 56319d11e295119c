package scheduler

import (
	"maps"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// nodeInfo is one node and what the pods placed on it use.
type nodeInfo struct {
	node        *corev1.Node // nil while only pods name it
	ready       bool
	allocatable resources
	requested   resources
	nonZero     resources // requests with scoring defaults
	podCount    int
	ports       map[hostPort]int
	idx         int // position in cache.order, -1 when absent
}

// podState is a placed (or assumed) pod's contribution to its node.
type podState struct {
	node     string
	requests resources
	nonZero  resources
	ports    []hostPort
	assumed  bool
	ns       string
	labels   map[string]string
	anti     []podTerm // required anti-affinity
}

func newPodState(pi *podInfo, node string, assumed bool) *podState {
	return &podState{
		node: node, requests: pi.requests, nonZero: pi.nonZero, ports: pi.ports, assumed: assumed,
		ns: pi.pod.Namespace, labels: pi.pod.Labels, anti: antiAffinityTerms(pi.pod),
	}
}

// nodeCache is the scheduler's view of nodes and of the pods on them. It is
// fed by informers and by the scheduler's own decisions: a pod is
// assumed on its node as soon as it is chosen, so the next pod sees the
// space taken without waiting for the binding to come back via watch.
// All work is per node or per pod; nothing scans all pods.
type nodeCache struct {
	mu    sync.RWMutex
	nodes map[string]*nodeInfo
	order []*nodeInfo // nodes with a Node object, for sampling
	pods  map[string]*podState
	// withAnti are the placed pods with required anti-affinity, which
	// every attempt must respect.
	withAnti map[string]*podState
}

func newCache() *nodeCache {
	return &nodeCache{nodes: map[string]*nodeInfo{}, pods: map[string]*podState{}, withAnti: map[string]*podState{}}
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
		ni = &nodeInfo{ports: map[hostPort]int{}, idx: -1}
		c.nodes[name] = ni
	}
	return ni
}

func (c *nodeCache) setNode(n *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.infoLocked(n.Name)
	ni.node = n
	ni.ready = nodeReady(n)
	ni.allocatable = fromList(n.Status.Allocatable)
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
	ni.node = nil
	if ni.podCount == 0 {
		delete(c.nodes, name)
	}
}

func (c *nodeCache) addLocked(key string, ps *podState) {
	c.pods[key] = ps
	if len(ps.anti) > 0 {
		c.withAnti[key] = ps
	}
	ni := c.infoLocked(ps.node)
	ni.requested.add(ps.requests)
	ni.nonZero.add(ps.nonZero)
	ni.podCount++
	for _, p := range ps.ports {
		ni.ports[p]++
	}
}

func (c *nodeCache) removeLocked(key string) {
	ps := c.pods[key]
	if ps == nil {
		return
	}
	delete(c.pods, key)
	delete(c.withAnti, key)
	ni := c.nodes[ps.node]
	if ni == nil {
		return
	}
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

// assume places the pod on node before its binding is confirmed.
func (c *nodeCache) assume(pi *podInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(pi.pod)
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

// isAssumedOrBound reports whether the pod already holds a place.
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
	if ps := c.pods[key]; ps != nil && !ps.assumed && ps.node == pod.Spec.NodeName && maps.Equal(ps.labels, pod.Labels) {
		return // requests and ports of a bound pod do not change
	}
	c.removeLocked(key)
	c.addLocked(key, newPodState(newPodInfo(pod), pod.Spec.NodeName, false))
}

func (c *nodeCache) removePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(podKey(pod))
}
