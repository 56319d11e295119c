package daemonset

import (
	"strings"
	"sync"
	"time"
)

// Failed daemon pods are replaced after a delay that doubles, per
// DaemonSet and node, from backoffFirst up to backoffMax, so that a pod
// failing at once does not spin create and delete. A node whose pods have
// not failed for twice backoffMax starts again from backoffFirst.
const (
	backoffFirst = time.Second
	backoffMax   = 5 * time.Minute
)

type backoff struct {
	mu     sync.Mutex
	byNode map[string]backoffEntry // DaemonSet key + "/" + node
}

type backoffEntry struct {
	delay time.Duration
	until time.Time
}

func newBackoff() *backoff { return &backoff{byNode: map[string]backoffEntry{}} }

// failed records a failed pod of key on node seen at now. Sightings
// within the current delay are the same failure.
func (b *backoff) failed(key, node string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := key + "/" + node
	e, ok := b.byNode[id]
	switch {
	case ok && now.Before(e.until):
		return
	case !ok || now.Sub(e.until) > 2*backoffMax:
		e.delay = backoffFirst
	default:
		e.delay = min(2*e.delay, backoffMax)
	}
	e.until = now.Add(e.delay)
	b.byNode[id] = e
}

// holding returns the nodes of key still waiting at now, and how long
// until the first of them may run a pod again (zero if none waits).
func (b *backoff) holding(key string, now time.Time) (map[string]bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prefix := key + "/"
	var hold map[string]bool
	var first time.Duration
	for id, e := range b.byNode {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		if now.Sub(e.until) > 2*backoffMax {
			delete(b.byNode, id)
			continue
		}
		d := e.until.Sub(now)
		if d <= 0 {
			continue
		}
		if hold == nil {
			hold = map[string]bool{}
		}
		hold[strings.TrimPrefix(id, prefix)] = true
		if first == 0 || d < first {
			first = d
		}
	}
	return hold, first
}

// forget drops key's entries.
func (b *backoff) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.byNode {
		if strings.HasPrefix(id, key+"/") {
			delete(b.byNode, id)
		}
	}
}
