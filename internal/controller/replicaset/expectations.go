package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// expectationTimeout bounds how long a controller waits for its informer
// to report creates and deletes it made before acting again anyway.
const expectationTimeout = 5 * time.Minute

// expectations remembers, per ReplicaSet key, the pod creations and
// deletions this controller made and its informer has not reported yet,
// so that a lagging cache does not make it create or delete twice.
type expectations struct {
	clock clock.Clock
	mu    sync.Mutex
	byKey map[string]*pending
}

type pending struct {
	adds    int
	deletes map[types.UID]bool
	since   time.Time
}

func newExpectations(c clock.Clock) *expectations {
	return &expectations{clock: c, byKey: map[string]*pending{}}
}

// satisfied reports whether key may act: nothing is pending, or what is
// pending is older than expectationTimeout.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.byKey[key]
	if !ok {
		return true
	}
	if (p.adds <= 0 && len(p.deletes) == 0) || e.clock.Since(p.since) > expectationTimeout {
		delete(e.byKey, key)
		return true
	}
	return false
}

// expectCreates records n creations about to be made.
func (e *expectations) expectCreates(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &pending{adds: n, deletes: map[types.UID]bool{}, since: e.clock.Now()}
}

// expectDeletes records the pods about to be deleted.
func (e *expectations) expectDeletes(key string, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &pending{deletes: map[types.UID]bool{}, since: e.clock.Now()}
	for _, u := range uids {
		p.deletes[u] = true
	}
	e.byKey[key] = p
}

// created lowers the pending creations of key by one: a create was
// observed, or failed and will never be.
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		p.adds--
	}
}

// deleted marks the deletion of uid as observed (or abandoned).
func (e *expectations) deleted(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		delete(p.deletes, uid)
	}
}

// forget drops everything pending for key.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
