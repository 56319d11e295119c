package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrRequeue asks Queue.Run to look at a key again after the queue's poll
// delay without counting it as a failure: the loop is waiting for
// something it does not watch (a deadline, another process).
var ErrRequeue = errors.New("requeue")

// Queue is a rate-limited queue of namespace/name keys drained by workers
// calling a level-based reconcile. Equal keys queued while one is waiting
// collapse into one.
type Queue struct {
	name string
	q    workqueue.TypedRateLimitingInterface[string]
}

// NewQueue returns a queue whose failed keys are retried from 50 ms up to
// 30 s apart.
func NewQueue(name string) *Queue {
	return &Queue{
		name: name,
		q: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
	}
}

// Add queues key.
func (q *Queue) Add(key string) { q.q.Add(key) }

// AddAfter queues key once d has passed.
func (q *Queue) AddAfter(key string, d time.Duration) { q.q.AddAfter(key, d) }

// Len reports how many keys wait.
func (q *Queue) Len() int { return q.q.Len() }

// Enqueue queues the key of obj, which may be a deletion tombstone.
func (q *Queue) Enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		q.q.Add(key)
	}
}

// Handler enqueues the object of every add, update and delete.
func (q *Queue) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    q.Enqueue,
		UpdateFunc: func(_, obj any) { q.Enqueue(obj) },
		DeleteFunc: q.Enqueue,
	}
}

// Run calls reconcile for queued keys from workers goroutines until ctx
// ends, then shuts the queue down. An error retries the key with backoff;
// ErrRequeue looks again after poll. Conflicts and AlreadyExists are
// expected races between writers and are retried without a log line.
func (q *Queue) Run(ctx context.Context, workers int, log *slog.Logger, poll time.Duration, reconcile func(ctx context.Context, key string) error) error {
	go func() {
		<-ctx.Done()
		q.q.ShutDown()
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q.next(ctx, log, poll, reconcile) {
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (q *Queue) next(ctx context.Context, log *slog.Logger, poll time.Duration, reconcile func(ctx context.Context, key string) error) bool {
	key, quit := q.q.Get()
	if quit {
		return false
	}
	defer q.q.Done(key)
	err := reconcile(ctx, key)
	switch {
	case err == nil:
		q.q.Forget(key)
	case errors.Is(err, ErrRequeue):
		q.q.Forget(key)
		q.q.AddAfter(key, poll)
	default:
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && log != nil {
			log.Warn("reconcile failed", "queue", q.name, "key", key, "err", err)
		}
		q.q.AddRateLimited(key)
	}
	return true
}

// Watch is one event handler to register on one shared informer.
type Watch struct {
	Informer cache.SharedIndexInformer
	Handler  cache.ResourceEventHandler
}

// Sync registers each handler, starts the shared informers and waits
// until every handler has seen its informer's initial list. The returned
// function removes the handlers; call it when the loop stops.
func (c *Context) Sync(ctx context.Context, watches ...Watch) (remove func(), err error) {
	type reg struct {
		inf cache.SharedIndexInformer
		r   cache.ResourceEventHandlerRegistration
	}
	var regs []reg
	remove = func() {
		for _, r := range regs {
			_ = r.inf.RemoveEventHandler(r.r)
		}
	}
	synced := make([]cache.InformerSynced, 0, len(watches))
	for _, w := range watches {
		r, err := w.Informer.AddEventHandler(w.Handler)
		if err != nil {
			remove()
			return nil, err
		}
		regs = append(regs, reg{w.Informer, r})
		synced = append(synced, r.HasSynced)
	}
	c.Informers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		remove()
		return nil, ctx.Err()
	}
	return remove, nil
}
