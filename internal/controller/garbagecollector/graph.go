package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// node is what the collector knows of one object.
type node struct {
	gvr        schema.GroupVersionResource
	apiVersion string
	kind       string
	namespace  string
	name       string
	uid        types.UID
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool // deletionTimestamp is set
}

func (n *node) hasFinalizer(f string) bool { return slices.Contains(n.finalizers, f) }

// graph indexes objects by UID and owners by the UIDs their dependents
// name. An owner that was never observed (or is gone) keeps its dependents
// entry, so its dependents can still be found.
type graph struct {
	mu         sync.Mutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]bool
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]bool{}}
}

// upsert records n and returns the owner UIDs it no longer names.
func (g *graph) upsert(n *node) (dropped []types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.nodes[n.uid]; ok {
		for _, r := range old.owners {
			if !hasOwner(n.owners, r.UID) {
				g.unlink(r.UID, n.uid)
				dropped = append(dropped, r.UID)
			}
		}
	}
	for _, r := range n.owners {
		deps := g.dependents[r.UID]
		if deps == nil {
			deps = map[types.UID]bool{}
			g.dependents[r.UID] = deps
		}
		deps[n.uid] = true
	}
	g.nodes[n.uid] = n
	return dropped
}

// remove forgets the object uid and returns its owners and dependents.
func (g *graph) remove(uid types.UID) (owners, dependents []types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nil, g.dependentsLocked(uid)
	}
	for _, r := range n.owners {
		g.unlink(r.UID, uid)
		owners = append(owners, r.UID)
	}
	delete(g.nodes, uid)
	return owners, g.dependentsLocked(uid)
}

func (g *graph) unlink(owner, dep types.UID) {
	if deps := g.dependents[owner]; deps != nil {
		delete(deps, dep)
		if len(deps) == 0 {
			delete(g.dependents, owner)
		}
	}
}

// get returns a copy of the node for uid.
func (g *graph) get(uid types.UID) (node, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	return *n, true
}

// dependentsOf returns copies of the observed dependents of uid.
func (g *graph) dependentsOf(uid types.UID) []node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []node
	for d := range g.dependents[uid] {
		if n, ok := g.nodes[d]; ok {
			out = append(out, *n)
		}
	}
	return out
}

// hasDependents reports whether any observed object names uid as owner.
func (g *graph) hasDependents(uid types.UID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.dependents[uid]) > 0
}

func (g *graph) dependentsLocked(uid types.UID) []types.UID {
	var out []types.UID
	for d := range g.dependents[uid] {
		out = append(out, d)
	}
	return out
}

func hasOwner(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func ownerRef(refs []metav1.OwnerReference, uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}
