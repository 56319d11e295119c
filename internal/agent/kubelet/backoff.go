package kubelet

import (
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// backoff is the kubelet's restart and image pull back-off: the first
// retry is immediate, then each waits twice as long as the last, from
// initial up to limit; an entry untouched for twice the limit starts over.
type backoff struct {
	initial, limit time.Duration

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	at    time.Time
}

func newBackoff(initial, limit time.Duration) *backoff {
	return &backoff{initial: initial, limit: limit, entries: map[string]*backoffEntry{}}
}

func backoffKey(uid types.UID, container string) string { return string(uid) + "/" + container }

// wait is how long is left of the back-off begun at since (a container's
// finish time); zero when a retry may happen now.
func (b *backoff) wait(key string, since, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.at) > 2*b.limit {
		return 0
	}
	if left := since.Add(e.delay).Sub(now); left > 0 {
		return left
	}
	return 0
}

// next records a retry at now and doubles the delay before the following one.
func (b *backoff) next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.at) > 2*b.limit {
		b.entries[key] = &backoffEntry{delay: b.initial, at: now}
		return
	}
	e.delay = min(2*e.delay, b.limit)
	e.at = now
}

// last is when the last retry was recorded.
func (b *backoff) last(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.at
	}
	return time.Time{}
}

// delay is the current back-off of key.
func (b *backoff) delay(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return b.initial
}

func (b *backoff) reset(key string) {
	b.mu.Lock()
	delete(b.entries, key)
	b.mu.Unlock()
}

func (b *backoff) forgetPod(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(b.entries, k)
		}
	}
}
