package scheduler

import (
	"container/heap"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
)

// Queue timings.
const (
	initialBackoff = time.Second
	maxBackoff     = 10 * time.Second
	// maxParked bounds how long an unschedulable pod waits for a cluster
	// change before it is tried again anyway.
	maxParked = 5 * time.Minute
)

type where int

const (
	inActive where = iota
	inBackoff
	inUnschedulable
	inFlight
)

// queuedPod is a pod waiting for (or in) a scheduling attempt.
type queuedPod struct {
	pod      *corev1.Pod
	key      string
	enqueued time.Time // ordering among equal priorities
	attempts int
	backoff  time.Time // not retried before
	parked   time.Time
	cycle    int64 // scheduling cycle of the last Pop
	where    where
	index    int
	// spreading: parked with topology spread constraints or required
	// pod affinity, which a newly placed pod can satisfy.
	spreading bool
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	pi, pj := priority(h[i].pod), priority(h[j].pod)
	if pi != pj {
		return pi > pj
	}
	return h[i].enqueued.Before(h[j].enqueued)
}
func (h activeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *activeHeap) Push(x any)   { e := x.(*queuedPod); e.index = len(*h); *h = append(*h, e) }
func (h *activeHeap) Pop() any     { return popLast((*[]*queuedPod)(h)) }
func (h backoffHeap) Len() int     { return len(h) }
func (h backoffHeap) Less(i, j int) bool {
	return h[i].backoff.Before(h[j].backoff)
}
func (h backoffHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *backoffHeap) Push(x any)   { e := x.(*queuedPod); e.index = len(*h); *h = append(*h, e) }
func (h *backoffHeap) Pop() any     { return popLast((*[]*queuedPod)(h)) }

type backoffHeap []*queuedPod

func popLast(s *[]*queuedPod) any {
	old := *s
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	e.index = -1
	return e
}

// queue orders pods waiting to be scheduled. Pods are tried by priority,
// then by the time they entered the active queue. A pod that found no
// node is parked until a cluster change might help it (MoveAll); a pod
// that failed for another reason waits out an exponential backoff.
type queue struct {
	clock clock.PassiveClock

	mu            sync.Mutex
	cond          *sync.Cond
	active        activeHeap
	backoff       backoffHeap
	unschedulable map[string]*queuedPod
	all           map[string]*queuedPod
	cycle         int64 // attempts started
	moveCycle     int64 // cycle at the last MoveAll
	// parkedSpreading counts parked pods that a placed pod may help.
	parkedSpreading int
	closed          bool
}

func newQueue(c clock.PassiveClock) *queue {
	q := &queue{clock: c, unschedulable: map[string]*queuedPod{}, all: map[string]*queuedPod{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add enqueues a new pending pod, or updates the one already known.
func (q *queue) add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(pod)
	if e := q.all[key]; e != nil {
		q.updateLocked(e, pod)
		return
	}
	e := &queuedPod{pod: pod, key: key}
	q.all[key] = e
	q.toActiveLocked(e)
}

func (q *queue) update(pod *corev1.Pod) { q.add(pod) }

// updateLocked swaps in the newer object. A parked pod whose spec,
// labels or annotations changed is tried again: the change may fix it.
// Changes to status alone (our own PodScheduled condition) do not count.
func (q *queue) updateLocked(e *queuedPod, pod *corev1.Pod) {
	old := e.pod
	e.pod = pod
	if e.where != inUnschedulable {
		if e.where == inActive {
			heap.Fix(&q.active, e.index)
		}
		return
	}
	if equality.Semantic.DeepEqual(old.Spec, pod.Spec) &&
		equality.Semantic.DeepEqual(old.Labels, pod.Labels) &&
		equality.Semantic.DeepEqual(old.Annotations, pod.Annotations) {
		return
	}
	q.unparkLocked(e.key, e)
	q.requeueLocked(e)
}

func (q *queue) remove(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.removeLocked(podKey(pod))
}

func (q *queue) removeLocked(key string) {
	e := q.all[key]
	if e == nil {
		return
	}
	delete(q.all, key)
	switch e.where {
	case inActive:
		heap.Remove(&q.active, e.index)
	case inBackoff:
		heap.Remove(&q.backoff, e.index)
	case inUnschedulable:
		q.unparkLocked(key, e)
	}
}

func (q *queue) toActiveLocked(e *queuedPod) {
	e.where = inActive
	e.enqueued = q.clock.Now()
	heap.Push(&q.active, e)
	q.cond.Signal()
}

// requeueLocked sends e to the active queue, or to the backoff queue
// while its backoff lasts.
func (q *queue) requeueLocked(e *queuedPod) {
	if q.clock.Now().Before(e.backoff) {
		e.where = inBackoff
		heap.Push(&q.backoff, e)
		return
	}
	q.toActiveLocked(e)
}

// pop blocks until a pod is ready for an attempt, or returns nil once
// the queue is closed.
func (q *queue) pop() *queuedPod {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 {
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
	e := heap.Pop(&q.active).(*queuedPod)
	e.where = inFlight
	e.attempts++
	q.cycle++
	e.cycle = q.cycle
	return e
}

func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// done forgets a pod whose attempt ended in a binding (or that is no
// longer the scheduler's business).
func (q *queue) done(e *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.all[e.key] == e {
		delete(q.all, e.key)
	}
}

// unschedulableAgain parks a pod no node could take. If the cluster
// changed while it was being tried, it only waits out its backoff: the
// change may already have made room.
func (q *queue) unschedulableAgain(e *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.all[e.key] != e || e.where != inFlight {
		return
	}
	now := q.clock.Now()
	e.backoff = now.Add(backoffFor(e.attempts))
	if q.moveCycle >= e.cycle {
		q.requeueLocked(e)
		return
	}
	e.where = inUnschedulable
	e.parked = now
	q.unschedulable[e.key] = e
	e.spreading = len(e.pod.Spec.TopologySpreadConstraints) > 0 || needsPartner(e.pod)
	if e.spreading {
		q.parkedSpreading++
	}
}

func (q *queue) unparkLocked(key string, e *queuedPod) {
	delete(q.unschedulable, key)
	if e.spreading {
		q.parkedSpreading--
	}
}

// retry puts back a pod whose attempt failed for a reason other than a
// lack of nodes (an API error while binding), after its backoff.
func (q *queue) retry(e *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.all[e.key] != e || e.where != inFlight {
		return
	}
	e.backoff = q.clock.Now().Add(backoffFor(e.attempts))
	q.requeueLocked(e)
}

// moveAll is called when the cluster changed in a way that may let
// parked pods fit: a node appeared or changed, a pod went away.
func (q *queue) moveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for key, e := range q.unschedulable {
		q.unparkLocked(key, e)
		q.requeueLocked(e)
	}
}

// needsPartner reports whether the pod has required pod affinity.
func needsPartner(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	return a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
}

// moveSpreading is called when a pod lands on a node: that can lower
// the skew of a topology spread constraint or bring the partner a pod
// with required pod affinity waits for, so such parked pods are tried
// again. Other parked pods stay put (a new pod only
// takes room), which keeps this cheap at high binding rates.
func (q *queue) moveSpreading() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.parkedSpreading == 0 {
		return
	}
	for key, e := range q.unschedulable {
		if e.spreading {
			q.unparkLocked(key, e)
			q.requeueLocked(e)
		}
	}
}

// flush moves pods whose backoff ended to the active queue, and pods
// parked for longer than maxParked back into play.
func (q *queue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for len(q.backoff) > 0 && !q.backoff[0].backoff.After(now) {
		e := heap.Pop(&q.backoff).(*queuedPod)
		q.toActiveLocked(e)
	}
	for key, e := range q.unschedulable {
		if now.Sub(e.parked) >= maxParked {
			q.unparkLocked(key, e)
			q.requeueLocked(e)
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// lengths reports the sizes of the active, backoff and unschedulable queues.
func (q *queue) lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.backoff), len(q.unschedulable)
}
