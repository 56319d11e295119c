// Package nodelifecycle watches node heartbeats. A node whose lease has
// not been renewed within the grace period is marked Ready=Unknown and
// tainted unreachable:NoExecute (a node reporting Ready=False is tainted
// not-ready:NoExecute); the taints go once the node is Ready again. Pods
// on a node with NoExecute taints are evicted when their toleration of
// those taints runs out.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// LeaseNamespace holds the node heartbeat leases.
const LeaseNamespace = "kube-node-lease"

// The taints this controller owns.
const (
	TaintUnreachable = "node.kubernetes.io/unreachable"
	TaintNotReady    = "node.kubernetes.io/not-ready"
	// TaintUnschedulable marks a cordoned node, so that only pods
	// tolerating it (DaemonSets') are placed there.
	TaintUnschedulable = "node.kubernetes.io/unschedulable"
)

// Options tune the controller.
type Options struct {
	// GracePeriod is how long a node may go without a heartbeat before
	// it is marked Unknown; default 40s.
	GracePeriod time.Duration
	// DefaultToleration is how long a pod stays on an unreachable or
	// not-ready node when it has no toleration for the taint; zero evicts
	// such pods at once, a negative value means the usual 300s.
	DefaultToleration time.Duration
}

// Controller is the node lifecycle controller.
type Controller struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	clock    clock.WithTicker
	recorder record.EventRecorder
	log      *slog.Logger
	opts     Options

	nodes  corelisters.NodeLister
	leases coordinationlisters.LeaseLister
	pods   cache.Indexer

	// firstSeen remembers when a NoExecute taint without timeAdded was
	// first seen, so its tolerations still run out.
	mu        sync.Mutex
	firstSeen map[string]time.Time
}

const byNode = "spec.nodeName"

// New returns a controller using the shared informers of factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.WithTicker, recorder record.EventRecorder, log *slog.Logger, opts Options) *Controller {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = 40 * time.Second
	}
	if opts.DefaultToleration < 0 {
		opts.DefaultToleration = 300 * time.Second
	}
	return &Controller{client: client, factory: factory, clock: clk, recorder: recorder, log: log, opts: opts, firstSeen: map[string]time.Time{}}
}

// Run watches nodes, leases and pods until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	nodeInf := c.factory.Core().V1().Nodes()
	leaseInf := c.factory.Coordination().V1().Leases()
	podInf := c.factory.Core().V1().Pods()
	c.nodes, c.leases = nodeInf.Lister(), leaseInf.Lister()
	c.pods = podInf.Informer().GetIndexer()
	// The pod informer is shared: another loop may have started it, or a
	// previous run of this one indexed it already. Without the index,
	// podsOn scans.
	if _, ok := c.pods.GetIndexers()[byNode]; !ok {
		if err := c.pods.AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		}}); err != nil {
			c.log.Debug("pods are not indexed by node", "err", err)
		}
	}

	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle", Clock: c.clock})
	defer q.ShutDown()
	onNode := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok {
			q.Add(n.Name)
		}
	}
	onLease := func(obj any) {
		if l, ok := obj.(*coordinationv1.Lease); ok && l.Namespace == LeaseNamespace {
			q.Add(l.Name)
		}
	}
	// A pod matters only when it lands on a node with NoExecute taints.
	onPod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			return
		}
		if n, err := c.nodes.Get(p.Spec.NodeName); err == nil && len(noExecute(n.Spec.Taints)) > 0 {
			q.Add(n.Name)
		}
	}
	regs := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) {
				if n, ok := o.(*corev1.Node); ok {
					c.recorder.Eventf(n, corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", n.Name, n.Name)
				}
				onNode(o)
			},
			UpdateFunc: func(_, o any) { onNode(o) },
			DeleteFunc: func(o any) {
				if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				if n, ok := o.(*corev1.Node); ok {
					c.recorder.Eventf(n, corev1.EventTypeNormal, "RemovingNode", "Node %s event: Removing Node %s from Controller", n.Name, n.Name)
				}
			},
		}},
		{leaseInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: onLease, UpdateFunc: func(_, o any) { onLease(o) }}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: onPod, UpdateFunc: func(_, o any) { onPod(o) }}},
	}
	for _, r := range regs {
		h, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return err
		}
		defer func() { _ = r.inf.RemoveEventHandler(h) }()
	}
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	// Several workers: when a whole rack of nodes fails at once, each
	// needs two writes, and the queue never hands one node to two workers.
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx, q) {
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// workers is how many nodes are reconciled at once.
const workers = 8

func (c *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[string]) bool {
	name, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(name)
	after, err := c.reconcile(ctx, name)
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			c.log.Warn("node lifecycle", "node", name, "err", err)
		}
		q.AddRateLimited(name)
		return true
	}
	q.Forget(name)
	if after > 0 {
		q.AddAfter(name, after)
	}
	return true
}

// reconcile brings one node's Ready condition and taints in line with its
// heartbeat and evicts the pods whose tolerations ran out. It returns when
// the node must be looked at again even if nothing changes (0: never).
func (c *Controller) reconcile(ctx context.Context, name string) (time.Duration, error) {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var lease *coordinationv1.Lease
	if l, err := c.leases.Leases(LeaseNamespace).Get(name); err == nil {
		lease = l
	}
	now := c.clock.Now()
	d := Decide(node, lease, now, c.opts.GracePeriod)
	if d.Conditions != nil {
		n := node.DeepCopy()
		n.Status.Conditions = d.Conditions
		if node, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return 0, fmt.Errorf("marking node %s unknown: %w", name, err)
		}
		c.log.Info("node stopped posting status", "node", name)
		c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
	}
	taintsBefore := node.Spec.Taints
	if taints, changed := Taints(node.Spec.Taints, readyStatus(node), node.Spec.Unschedulable, now); changed {
		n := node.DeepCopy()
		n.Spec.Taints = taints
		if node, err = c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return 0, fmt.Errorf("tainting node %s: %w", name, err)
		}
		if readyStatus(node) == corev1.ConditionTrue && len(noExecute(n.Spec.Taints)) < len(noExecute(taintsBefore)) {
			c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", name)
		}
	}
	if readyStatus(node) != corev1.ConditionTrue {
		if err := c.markPodsNotReady(ctx, node); err != nil {
			return 0, err
		}
	}
	after := d.Recheck
	if next, err := c.evict(ctx, node, now); err != nil {
		return 0, err
	} else if next > 0 && (after == 0 || next < after) {
		after = next
	}
	return after, nil
}

// evict deletes the pods on node whose tolerations of its NoExecute taints
// have run out, and returns when the next one will (0: none).
func (c *Controller) evict(ctx context.Context, node *corev1.Node, now time.Time) (time.Duration, error) {
	taints := noExecute(node.Spec.Taints)
	if len(taints) == 0 {
		c.forget(node.Name)
		return 0, nil
	}
	c.mu.Lock()
	for i := range taints {
		if taints[i].TimeAdded == nil {
			k := node.Name + "/" + taints[i].ToString()
			if _, ok := c.firstSeen[k]; !ok {
				c.firstSeen[k] = now
			}
			taints[i].TimeAdded = &metav1.Time{Time: c.firstSeen[k]}
		}
	}
	c.mu.Unlock()
	objs, err := c.podsOn(node.Name)
	if err != nil {
		return 0, err
	}
	var next time.Duration
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		at, ok := EvictionTime(taints, pod.Spec.Tolerations, c.opts.DefaultToleration)
		if !ok {
			continue
		}
		if wait := at.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
		err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		c.log.Info("evicted pod from tainted node", "pod", pod.Namespace+"/"+pod.Name, "node", node.Name)
	}
	return next, nil
}

// markPodsNotReady turns the Ready condition of node's pods False: a
// node that stopped reporting cannot vouch for them, and Services must
// stop sending them traffic before they are evicted.
func (c *Controller) markPodsNotReady(ctx context.Context, node *corev1.Node) error {
	objs, err := c.podsOn(node.Name)
	if err != nil {
		return err
	}
	now := metav1.NewTime(c.clock.Now())
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		i := readyCondition(pod)
		if i < 0 || pod.Status.Conditions[i].Status == corev1.ConditionFalse {
			continue
		}
		p := pod.DeepCopy()
		p.Status.Conditions[i].Status = corev1.ConditionFalse
		p.Status.Conditions[i].LastTransitionTime = now
		_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue // gone, or changed: the pod's update requeues the node
		}
		if err != nil {
			return fmt.Errorf("marking pod %s/%s not ready: %w", pod.Namespace, pod.Name, err)
		}
		c.recorder.Eventf(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return nil
}

func readyCondition(p *corev1.Pod) int {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return i
		}
	}
	return -1
}

// podsOn lists the pods bound to node from the informer's cache.
func (c *Controller) podsOn(node string) ([]any, error) {
	if _, ok := c.pods.GetIndexers()[byNode]; ok {
		return c.pods.ByIndex(byNode, node)
	}
	var out []any
	for _, o := range c.pods.List() {
		if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName == node {
			out = append(out, o)
		}
	}
	return out, nil
}

func (c *Controller) forget(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.firstSeen {
		if len(k) > len(node) && k[:len(node)+1] == node+"/" {
			delete(c.firstSeen, k)
		}
	}
}

// Decision is what Decide found for one node.
type Decision struct {
	// Conditions, when not nil, replace the node's conditions: it missed
	// its heartbeat and they are now Unknown.
	Conditions []corev1.NodeCondition
	// Recheck is when the heartbeat will be overdue if none comes (0 when
	// it already is).
	Recheck time.Duration
}

// Heartbeat is the last sign of life of a node: its lease's renewTime,
// its Ready condition's heartbeat, or its creation, whichever is latest.
func Heartbeat(node *corev1.Node, lease *coordinationv1.Lease) time.Time {
	last := node.CreationTimestamp.Time
	if lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(last) {
		last = lease.Spec.RenewTime.Time
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.LastHeartbeatTime.After(last) {
			last = c.LastHeartbeatTime.Time
		}
	}
	return last
}

// Decide compares a node's last heartbeat with now.
func Decide(node *corev1.Node, lease *coordinationv1.Lease, now time.Time, grace time.Duration) Decision {
	overdue := Heartbeat(node, lease).Add(grace)
	if now.Before(overdue) || now.Equal(overdue) {
		return Decision{Recheck: overdue.Sub(now) + time.Millisecond}
	}
	conds, changed := unknown(node.Status.Conditions, now)
	if !changed {
		return Decision{}
	}
	return Decision{Conditions: conds}
}

// unknown marks the Ready condition (adding it if missing) and the
// pressure conditions Unknown, keeping their heartbeat times.
func unknown(conds []corev1.NodeCondition, now time.Time) ([]corev1.NodeCondition, bool) {
	out := make([]corev1.NodeCondition, 0, len(conds)+1)
	changed, ready := false, false
	t := metav1.NewTime(now)
	for _, c := range conds {
		switch c.Type {
		case corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
			ready = ready || c.Type == corev1.NodeReady
			if c.Status != corev1.ConditionUnknown {
				c.Status, c.LastTransitionTime, changed = corev1.ConditionUnknown, t, true
				c.Reason, c.Message = "NodeStatusUnknown", "Kubelet stopped posting node status."
			}
		}
		out = append(out, c)
	}
	if !ready {
		changed = true
		out = append(out, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
			Message: "Kubelet never posted node status.", LastHeartbeatTime: t, LastTransitionTime: t})
	}
	return out, changed
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// Taints returns the node's taints with unreachable:NoExecute when Ready
// is Unknown, not-ready:NoExecute when it is False, and neither when it is
// True; and unschedulable:NoSchedule while the node is cordoned. Other
// taints are kept as they are.
func Taints(taints []corev1.Taint, ready corev1.ConditionStatus, unschedulable bool, now time.Time) ([]corev1.Taint, bool) {
	type owned struct {
		key    string
		effect corev1.TaintEffect
	}
	ours := []owned{
		{TaintUnreachable, corev1.TaintEffectNoExecute},
		{TaintNotReady, corev1.TaintEffectNoExecute},
		{TaintUnschedulable, corev1.TaintEffectNoSchedule},
	}
	want := map[owned]bool{
		ours[0]: ready == corev1.ConditionUnknown,
		ours[1]: ready == corev1.ConditionFalse,
		ours[2]: unschedulable,
	}
	out := make([]corev1.Taint, 0, len(taints)+1)
	changed := false
	for _, t := range taints {
		o := owned{t.Key, t.Effect}
		if keep, mine := want[o]; mine {
			if !keep {
				changed = true
				continue
			}
			want[o] = false // present already
		}
		out = append(out, t)
	}
	for _, o := range ours {
		if want[o] {
			t := corev1.Taint{Key: o.key, Effect: o.effect}
			if o.effect == corev1.TaintEffectNoExecute {
				t.TimeAdded = &metav1.Time{Time: now}
			}
			out = append(out, t)
			changed = true
		}
	}
	return out, changed
}

func noExecute(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// tolerates reports whether tol tolerates taint.
func tolerates(tol corev1.Toleration, taint corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != taint.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != taint.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return tol.Key != "" && tol.Value == taint.Value
	}
	return false
}

// EvictionTime is when a pod with tolerations must leave a node with the
// given NoExecute taints, and false if it may stay forever. A taint the
// pod does not tolerate evicts it at once, except the unreachable and
// not-ready taints, which it tolerates for def by default. A matching
// toleration without tolerationSeconds tolerates its taint forever unless
// another matching one sets a limit.
func EvictionTime(taints []corev1.Taint, tolerations []corev1.Toleration, def time.Duration) (time.Time, bool) {
	var at time.Time
	found := false
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		var added time.Time
		if taint.TimeAdded != nil {
			added = taint.TimeAdded.Time
		}
		limit, matched, forever := time.Duration(0), false, false
		for _, tol := range tolerations {
			if !tolerates(tol, taint) {
				continue
			}
			if tol.TolerationSeconds == nil {
				forever = true
				continue
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if !matched || d < limit {
				limit = d
			}
			matched = true
		}
		switch {
		case matched:
		case forever:
			continue
		case taint.Key == TaintUnreachable || taint.Key == TaintNotReady:
			limit = def
		default:
			limit = 0
		}
		if t := added.Add(limit); !found || t.Before(at) {
			at, found = t, true
		}
	}
	return at, found
}
