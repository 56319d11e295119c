package apiserver

import (
	"context"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// Watches of a resource share one etcd watch. Each change is decoded and
// encoded once, then fanned out to every watcher; a short history lets a
// watcher start from a recent resourceVersion without its own etcd watch.

const (
	// historySize is how many recent events a resource keeps for
	// watchers that start slightly in the past.
	historySize = 1024
	// subscriberBuffer is how far one watcher may fall behind before it
	// is ended (the client then resumes from its last resourceVersion,
	// as with a slow watcher in Kubernetes).
	subscriberBuffer = 2048
)

// sharedEvent is one change, decoded at most once for all watchers.
type sharedEvent struct {
	ev storage.Event
	// rev is the revision of the change (or of the progress notice).
	rev int64

	once    sync.Once
	obj     runtime.Object // stored form of the new (or deleted) object
	prev    runtime.Object // stored form before the change, when known
	err     error
	encOnce sync.Once
	enc     []byte // served JSON of obj
	encErr  error
	pbOnce  sync.Once
	pb      []byte // served protobuf of obj, for protobuf watchers
	pbErr   error
}

// objects decodes the event's objects once.
func (e *sharedEvent) objects(rs *resource) (obj, prev runtime.Object, err error) {
	e.once.Do(func() {
		switch e.ev.Type {
		case storage.Delete:
			if e.ev.Prev != nil {
				kv := *e.ev.Prev
				kv.Rev = e.ev.KV.Rev
				e.obj, e.err = rs.decodeStored(kv)
			}
		case storage.Put:
			e.obj, e.err = rs.decodeStored(e.ev.KV)
			if e.err == nil && e.ev.Prev != nil && !e.ev.Created {
				e.prev, e.err = rs.decodeStored(*e.ev.Prev)
			}
		}
	})
	return e.obj, e.prev, e.err
}

// servedJSON encodes the event's object in served form once.
func (e *sharedEvent) servedJSON(rs *resource) ([]byte, error) {
	obj, _, err := e.objects(rs)
	if err != nil || obj == nil {
		return nil, err
	}
	e.encOnce.Do(func() {
		var served runtime.Object
		served, e.encErr = rs.toServed(obj)
		if e.encErr == nil {
			e.enc, e.encErr = fastJSON.Marshal(served)
		}
	})
	return e.enc, e.encErr
}

// servedProtobuf encodes the event's object in served form, as protobuf,
// once.
func (e *sharedEvent) servedProtobuf(rs *resource) ([]byte, error) {
	obj, _, err := e.objects(rs)
	if err != nil || obj == nil {
		return nil, err
	}
	e.pbOnce.Do(func() {
		var served runtime.Object
		served, e.pbErr = rs.toServed(obj)
		if e.pbErr == nil {
			e.pb, e.pbErr = encode(mediaProtobuf, served)
		}
	})
	return e.pb, e.pbErr
}

// subscriber is one watcher of a broadcaster.
type subscriber struct {
	prefix string // key prefix (a namespace) the watcher wants
	after  int64  // deliver only events with a greater revision
	ch     chan *sharedEvent
	// gone closes when the broadcaster drops the subscriber (too slow, or
	// the etcd watch ended); err says why.
	gone chan struct{}
	err  error
}

// broadcaster fans one etcd watch of a resource out to its watchers.
type broadcaster struct {
	store *storage.Store
	rs    *resource

	mu      sync.Mutex
	started bool
	// from is the revision the etcd watch started after: history covers
	// (from, rev].
	from    int64
	rev     int64
	history []*sharedEvent
	subs    map[*subscriber]struct{}
	cancel  context.CancelFunc
}

func newBroadcaster(store *storage.Store, rs *resource) *broadcaster {
	return &broadcaster{store: store, rs: rs, subs: map[*subscriber]struct{}{}}
}

// subscribe registers a watcher for events after rev under prefix. ok is
// false when rev is older than the shared history covers; the caller then
// watches etcd directly.
func (b *broadcaster) subscribe(ctx context.Context, prefix string, rev int64) (*subscriber, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		b.start(rev)
	}
	if rev < b.from {
		return nil, false
	}
	s := &subscriber{prefix: prefix, after: rev, gone: make(chan struct{})}
	var replay []*sharedEvent
	for _, e := range b.history {
		if e.rev > rev && b.wants(s, e) {
			replay = append(replay, e)
		}
	}
	s.ch = make(chan *sharedEvent, subscriberBuffer+len(replay))
	for _, e := range replay {
		s.ch <- e
	}
	b.subs[s] = struct{}{}
	return s, true
}

// unsubscribe removes a watcher. The etcd watch stays open for the next.
func (b *broadcaster) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

func (b *broadcaster) wants(s *subscriber, e *sharedEvent) bool {
	return e.ev.Type == storage.Progress || strings.HasPrefix(e.ev.KV.Key, s.prefix)
}

// start begins the shared etcd watch after rev. Called with mu held.
func (b *broadcaster) start(rev int64) {
	ctx, cancel := context.WithCancel(context.Background())
	b.started, b.from, b.rev, b.cancel = true, rev, rev, cancel
	events, werr := b.store.Watch(ctx, b.rs.prefix, rev)
	go b.run(ctx, events, werr)
}

func (b *broadcaster) run(ctx context.Context, events <-chan []storage.Event, werr func() error) {
	for batch := range events {
		b.mu.Lock()
		for _, ev := range batch {
			rev := ev.KV.Rev
			e := &sharedEvent{ev: ev, rev: rev}
			if ev.Type != storage.Progress {
				b.history = append(b.history, e)
				if len(b.history) > historySize {
					drop := len(b.history) - historySize
					b.from = b.history[drop-1].rev
					b.history = append(b.history[:0], b.history[drop:]...)
				}
			}
			if rev > b.rev {
				b.rev = rev
			}
			for s := range b.subs {
				// A progress notice at the watcher's own start revision
				// still makes a valid bookmark; in a quiet cluster it is
				// the only one there will be.
				if e.rev < s.after || e.rev == s.after && e.ev.Type != storage.Progress || !b.wants(s, e) {
					continue
				}
				select {
				case s.ch <- e:
				default:
					s.err = errTooSlow
					close(s.gone)
					delete(b.subs, s)
				}
			}
		}
		b.mu.Unlock()
	}
	// The etcd watch ended: drop everyone and start afresh on next use.
	b.mu.Lock()
	err := werr()
	if err == nil {
		err = ctx.Err()
	}
	for s := range b.subs {
		s.err = err
		close(s.gone)
		delete(b.subs, s)
	}
	b.started, b.history = false, nil
	b.cancel()
	b.mu.Unlock()
}

var errTooSlow = newStatus(410, "Expired", "the watcher fell too far behind; resume from the last resourceVersion received")
