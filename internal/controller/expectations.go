package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// ExpectationTimeout bounds how long a controller waits for its informer
// to report creates and deletes it made before acting again anyway.
const ExpectationTimeout = 5 * time.Minute

// Expectations remembers, per owner key, the pod creations and
// deletions this controller made and its informer has not reported yet,
// so that a lagging cache does not make it create or delete twice.
type Expectations struct {
	clock clock.Clock
	mu    sync.Mutex
	byKey map[string]*pending
}

type pending struct {
	adds    int
	deletes map[types.UID]bool
	since   time.Time
}

// NewExpectations returns empty expectations timed by c.
func NewExpectations(c clock.Clock) *Expectations {
	return &Expectations{clock: c, byKey: map[string]*pending{}}
}

// Satisfied reports whether key may act: nothing is pending, or what is
// pending is older than ExpectationTimeout.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.byKey[key]
	if !ok {
		return true
	}
	if (p.adds <= 0 && len(p.deletes) == 0) || e.clock.Since(p.since) > ExpectationTimeout {
		delete(e.byKey, key)
		return true
	}
	return false
}

// ExpectCreates records n creations about to be made.
func (e *Expectations) ExpectCreates(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &pending{adds: n, deletes: map[types.UID]bool{}, since: e.clock.Now()}
}

// ExpectDeletes records the pods about to be deleted.
func (e *Expectations) ExpectDeletes(key string, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &pending{deletes: map[types.UID]bool{}, since: e.clock.Now()}
	for _, u := range uids {
		p.deletes[u] = true
	}
	e.byKey[key] = p
}

// Created lowers the pending creations of key by one: a create was
// observed, or failed and will never be.
func (e *Expectations) Created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		p.adds--
	}
}

// Deleted marks the deletion of uid as observed (or abandoned).
func (e *Expectations) Deleted(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byKey[key]; ok {
		delete(p.deletes, uid)
	}
}

// Forget drops everything pending for key.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
