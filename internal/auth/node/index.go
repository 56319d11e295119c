package node

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// index answers "does a pod bound to node N name object O?" with a map
// lookup. Each pod's references are counted per node when the pod is
// bound and uncounted when it goes, so a decision never walks the pods.
// Persistent volumes add one hop: a volume is reachable from a node when
// the claim it is bound to is, and a Secret when a reachable volume names
// it.
type index struct {
	mu   sync.RWMutex
	pods map[types.NamespacedName]*podEntry
	// users counts, for every object some bound pod names, the pods
	// naming it on each node.
	users map[ref]map[string]int
	pvs   map[string]*pvEntry
	// pvsBySecret lists the volumes whose plugin names each Secret.
	pvsBySecret map[ref]map[string]struct{}

	synced []func() bool
}

type podEntry struct {
	uid  types.UID
	node string
	// ephemeral is how many ephemeral containers the pod had: the only
	// part of a bound pod's spec that may grow new references.
	ephemeral int
	refs      []ref
}

type pvEntry struct {
	claim   ref // the bound claim; empty name when unbound
	secrets []ref
}

func newIndex() *index {
	return &index{
		pods:        map[types.NamespacedName]*podEntry{},
		users:       map[ref]map[string]int{},
		pvs:         map[string]*pvEntry{},
		pvsBySecret: map[ref]map[string]struct{}{},
	}
}

// watch feeds the index from the pod and persistent volume informers.
func (x *index) watch(pods, pvs cache.SharedIndexInformer) {
	x.handle(pods, func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			x.setPod(p)
		}
	}, func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			x.deletePod(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
	})
	x.handle(pvs, func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			x.setPV(pv)
		}
	}, func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			x.deletePV(pv.Name)
		}
	})
}

func (x *index) handle(inf cache.SharedIndexInformer, set, del func(any)) {
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			del(obj)
		},
	})
	if err != nil {
		// Only a stopped informer refuses a handler; the index then
		// never syncs.
		x.synced = append(x.synced, func() bool { return false })
		return
	}
	x.synced = append(x.synced, reg.HasSynced)
}

func (x *index) hasSynced() bool {
	for _, s := range x.synced {
		if !s() {
			return false
		}
	}
	return true
}

// setPod indexes a pod's references under its node. Pods not yet bound
// name nothing a node may read. Status updates, by far the most frequent
// change, leave a bound pod's references alone and cost one read-locked
// lookup.
func (x *index) setPod(pod *corev1.Pod) {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	x.mu.RLock()
	old := x.pods[key]
	x.mu.RUnlock()
	if old == nil && pod.Spec.NodeName == "" {
		return
	}
	if old != nil && old.uid == pod.UID && old.node == pod.Spec.NodeName && old.ephemeral == len(pod.Spec.EphemeralContainers) {
		return
	}
	var e *podEntry
	if pod.Spec.NodeName != "" {
		e = &podEntry{uid: pod.UID, node: pod.Spec.NodeName, ephemeral: len(pod.Spec.EphemeralContainers), refs: podRefs(pod)}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropPodLocked(key)
	if e != nil {
		x.pods[key] = e
		for _, r := range e.refs {
			m := x.users[r]
			if m == nil {
				m = map[string]int{}
				x.users[r] = m
			}
			m[e.node]++
		}
	}
}

func (x *index) deletePod(key types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropPodLocked(key)
}

func (x *index) dropPodLocked(key types.NamespacedName) {
	e := x.pods[key]
	if e == nil {
		return
	}
	delete(x.pods, key)
	for _, r := range e.refs {
		m := x.users[r]
		if m[e.node]--; m[e.node] <= 0 {
			delete(m, e.node)
		}
		if len(m) == 0 {
			delete(x.users, r)
		}
	}
}

func (x *index) setPV(pv *corev1.PersistentVolume) {
	e := &pvEntry{secrets: pvSecrets(pv)}
	if c := pv.Spec.ClaimRef; c != nil {
		e.claim = ref{kindPVC, c.Namespace, c.Name}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropPVLocked(pv.Name)
	if e.claim.name == "" {
		return
	}
	x.pvs[pv.Name] = e
	for _, s := range e.secrets {
		m := x.pvsBySecret[s]
		if m == nil {
			m = map[string]struct{}{}
			x.pvsBySecret[s] = m
		}
		m[pv.Name] = struct{}{}
	}
}

func (x *index) deletePV(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropPVLocked(name)
}

func (x *index) dropPVLocked(name string) {
	e := x.pvs[name]
	if e == nil {
		return
	}
	delete(x.pvs, name)
	for _, s := range e.secrets {
		m := x.pvsBySecret[s]
		delete(m, name)
		if len(m) == 0 {
			delete(x.pvsBySecret, s)
		}
	}
}

// reaches reports whether a pod bound to node names r, directly or (for
// a Secret) through the persistent volume of a claim it names.
func (x *index) reaches(node string, r ref) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.users[r][node] > 0 {
		return true
	}
	if r.kind == kindSecret {
		for pv := range x.pvsBySecret[r] {
			if x.pvReachesLocked(node, pv) {
				return true
			}
		}
	}
	return false
}

// reachesPV reports whether a pod bound to node names the claim the
// persistent volume name is bound to.
func (x *index) reachesPV(node, name string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.pvReachesLocked(node, name)
}

func (x *index) pvReachesLocked(node, name string) bool {
	e := x.pvs[name]
	return e != nil && x.users[e.claim][node] > 0
}

// empty reports whether the index holds nothing; tests use it to check
// that every reference counted was uncounted.
func (x *index) empty() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.pods) == 0 && len(x.users) == 0 && len(x.pvs) == 0 && len(x.pvsBySecret) == 0
}
