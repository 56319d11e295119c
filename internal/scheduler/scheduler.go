package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
)

// Name is the scheduler name pods ask for, and the component its events
// report.
const Name = "default-scheduler"

// bindWorkers is how many bindings and status updates run at once, so
// that the scheduling loop never waits on the API server.
const bindWorkers = 16

// Scheduler places pending pods on nodes.
type Scheduler struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	log      *slog.Logger

	// State of one Run; Run builds it afresh so that a scheduler that
	// lost and regained leadership starts from the API server's truth.
	cache *nodeCache
	queue *queue
	next  int         // where the next node scan starts
	cands []candidate // reused between attempts
	// resolvable are the nodes of the last failed attempt that losing
	// pods could make fit, for preemption.
	resolvable []*nodeInfo
	// preemptNext is where the next preemption's search of resolvable
	// starts.
	preemptNext int
	pdbs        cache.Store // PodDisruptionBudgets
	work        chan func()
}

// New returns a scheduler that binds through client and reports events
// through recorder (which should report as component Name).
func New(client kubernetes.Interface, recorder record.EventRecorder, clk clock.WithTicker, log *slog.Logger) *Scheduler {
	return &Scheduler{client: client, recorder: recorder, clock: clk, log: log}
}

func responsible(p *corev1.Pod) bool {
	return p.Spec.SchedulerName == "" || p.Spec.SchedulerName == Name
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// Run schedules pods until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.cache = newCache()
	s.queue = newQueue(s.clock)
	s.work = make(chan func(), 1024)
	s.next = 0

	factory := informers.NewSharedInformerFactory(s.client, 0)
	podInf := factory.Core().V1().Pods().Informer()
	nodeInf := factory.Core().V1().Nodes().Informer()
	nsInf := factory.Core().V1().Namespaces().Informer()
	pdbInf := factory.Policy().V1().PodDisruptionBudgets().Informer()
	s.pdbs = pdbInf.GetStore()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.podAdded,
		UpdateFunc: s.podUpdated,
		DeleteFunc: s.podDeleted,
	}); err != nil {
		return err
	}
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.nodeAdded,
		UpdateFunc: s.nodeUpdated,
		DeleteFunc: s.nodeDeleted,
	}); err != nil {
		return err
	}
	if _, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.namespaceSet,
		UpdateFunc: func(_, obj any) { s.namespaceSet(obj) },
		DeleteFunc: s.namespaceDeleted,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced, nodeInf.HasSynced, nsInf.HasSynced, pdbInf.HasSynced) {
		return ctx.Err()
	}

	var wg sync.WaitGroup
	for range bindWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range s.work {
				f()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := s.clock.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.queue.close()
				return
			case <-t.C():
				s.queue.flush()
			}
		}
	}()
	for {
		e := s.queue.pop()
		if e == nil {
			break
		}
		s.scheduleOne(ctx, e)
	}
	close(s.work)
	wg.Wait()
	return ctx.Err()
}

func (s *Scheduler) podAdded(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || terminal(pod) {
		return
	}
	if pod.Spec.NodeName != "" {
		s.cache.setPod(pod)
		s.queue.moveSpreading()
		return
	}
	if responsible(pod) && len(pod.Spec.SchedulingGates) == 0 {
		// A preemptor seen again (after a restart, or by a new leader)
		// keeps the room it freed.
		if n := pod.Status.NominatedNodeName; n != "" && pod.DeletionTimestamp == nil {
			s.cache.nominate(newPodInfo(pod), n)
		}
		s.queue.add(pod)
	}
}

func (s *Scheduler) podUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	switch {
	case pod.Spec.NodeName != "" && terminal(pod):
		s.cache.removePod(pod)
		if !terminal(old) {
			s.queue.moveAll()
		}
	case pod.Spec.NodeName != "":
		s.queue.remove(pod)
		s.cache.setPod(pod)
		if old.Spec.NodeName == "" {
			s.queue.moveSpreading()
		}
	case terminal(pod) || !responsible(pod) || len(pod.Spec.SchedulingGates) > 0:
		s.queue.remove(pod)
	default:
		s.queue.update(pod)
	}
}

func (s *Scheduler) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.queue.remove(pod)
	if s.cache.nominatedNode(pod) != "" {
		s.cache.removePod(pod) // ends the nomination: its room is free again
		s.queue.moveAll()
		return
	}
	if pod.Spec.NodeName != "" || s.cache.isPlaced(pod) {
		s.cache.removePod(pod)
		s.queue.moveAll()
	}
}

func (s *Scheduler) namespaceSet(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		s.cache.setNamespace(ns)
	}
}

func (s *Scheduler) namespaceDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		s.cache.removeNamespace(ns.Name)
	}
}

func (s *Scheduler) nodeAdded(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		s.cache.setNode(n)
		s.queue.moveAll()
	}
}

func (s *Scheduler) nodeUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	n, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.setNode(n)
	// Heartbeats rewrite the status often; only changes the filters look
	// at can make room for a parked pod.
	if nodeReady(old) != nodeReady(n) ||
		old.Spec.Unschedulable != n.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, n.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, n.Status.Allocatable) {
		s.queue.moveAll()
	}
}

func (s *Scheduler) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		s.cache.removeNode(n.Name)
	}
}

// scheduleOne makes one attempt for one pod: pick a node, assume the pod
// there, and hand the binding to a worker.
func (s *Scheduler) scheduleOne(ctx context.Context, e *queuedPod) {
	pod := e.pod
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || s.cache.isPlaced(pod) {
		s.queue.done(e)
		return
	}
	pi := newPodInfo(pod)
	node, nodes, reasons := s.findNode(pi)
	if node != "" {
		s.cache.assume(pi, node)
		s.work <- func() { s.bind(ctx, e, pod, node) }
		return
	}
	var p *preemption
	verdict := ""
	if nodes > 0 {
		p, verdict = s.preempt(pi, nodes)
	}
	msg := failureMessage(nodes, reasons, verdict)
	nominated := ""
	if p != nil {
		s.cache.nominate(pi, p.node)
		nominated = p.node
	}
	s.queue.unschedulableAgain(e)
	s.work <- func() {
		if p != nil {
			s.evict(ctx, pod, p)
		}
		s.recordFailure(ctx, pod, msg, nominated)
	}
}

// numFeasibleToFind is how many feasible nodes are enough to choose
// from: all of a small cluster; in a large one a share that shrinks as
// the cluster grows (50% less 1% per 125 nodes, at least 5%), and never
// fewer than 100.
func numFeasibleToFind(nodes int) int {
	if nodes < 100 {
		return nodes
	}
	pct := max(50-nodes/125, 5)
	return max(nodes*pct/100, 100)
}

// findNode filters and scores nodes for the pod. It returns the chosen
// node, or "" with the number of nodes and the rejection reasons.
func (s *Scheduler) findNode(pi *podInfo) (string, int, map[string]int) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	nodes := s.cache.order
	n := len(nodes)
	s.resolvable = s.resolvable[:0]
	if n == 0 {
		return "", 0, nil
	}
	s.cache.prepareLocked(pi)
	// A preemptor tries the node it freed first.
	if nm := s.cache.nominated[podKey(pi.pod)]; nm != nil {
		if ni := s.cache.nodes[nm.node]; ni != nil && ni.node != nil && len(filter(pi, ni)) == 0 {
			return nm.node, n, nil
		}
	}
	want := numFeasibleToFind(n)
	cands := s.cands[:0]
	var reasons map[string]int
	start := s.next % n
	i := 0
	for ; i < n && len(cands) < want; i++ {
		ni := nodes[(start+i)%n]
		if r := filter(pi, ni); len(r) > 0 {
			if reasons == nil {
				reasons = map[string]int{}
			}
			for _, x := range r {
				reasons[x]++
			}
			if resolvable(r) && !exceeds(pi.requests, ni.allocatable) {
				s.resolvable = append(s.resolvable, ni)
			}
			continue
		}
		c := candidate{
			ni:       ni,
			base:     baseScore(pi, ni),
			affinity: preferredAffinity(pi, ni.node),
			taints:   preferNoScheduleTaints(pi, ni.node),
			interPod: interPodScore(pi, ni.node),
		}
		c.spread, c.spreadOK = spreadScore(pi, ni.node)
		cands = append(cands, c)
	}
	s.next = (start + i) % n
	s.cands = cands
	if len(cands) == 0 {
		return "", n, reasons
	}
	return cands[pick(cands)].ni.node.Name, n, nil
}

func (s *Scheduler) bind(ctx context.Context, e *queuedPod, pod *corev1.Pod, node string) {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err == nil {
		s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
		s.queue.done(e)
		return
	}
	s.cache.forget(pod)
	if ctx.Err() != nil {
		return
	}
	if apierrors.IsNotFound(err) {
		s.queue.done(e)
		return
	}
	s.log.Warn("binding failed", "pod", podKey(pod), "node", node, "err", err)
	s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
	s.queue.retry(e)
}

// recordFailure reports why a pod found no node: a FailedScheduling
// event and the PodScheduled=False condition, with the node it
// preempted pods on as status.nominatedNodeName.
func (s *Scheduler) recordFailure(ctx context.Context, pod *corev1.Pod, msg, nominated string) {
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	cur := pod.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if cur == nil {
			p, err := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur = p
		}
		if cur.Spec.NodeName != "" || cur.UID != pod.UID {
			return nil
		}
		changed := setUnschedulable(cur, msg, s.clock.Now())
		if nominated != "" && cur.Status.NominatedNodeName != nominated {
			cur.Status.NominatedNodeName = nominated
			changed = true
		}
		if !changed {
			return nil
		}
		_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		cur = nil
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		s.log.Warn("recording scheduling failure", "pod", podKey(pod), "err", fmt.Errorf("updating status: %w", err))
	}
}

// setUnschedulable sets PodScheduled=False/Unschedulable with msg,
// reporting whether anything changed.
func setUnschedulable(p *corev1.Pod, msg string, now time.Time) bool {
	c := corev1.PodCondition{
		Type:               corev1.PodScheduled,
		Status:             corev1.ConditionFalse,
		Reason:             corev1.PodReasonUnschedulable,
		Message:            msg,
		LastTransitionTime: metav1.NewTime(now),
	}
	for i := range p.Status.Conditions {
		old := &p.Status.Conditions[i]
		if old.Type != corev1.PodScheduled {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return true
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
	return true
}
