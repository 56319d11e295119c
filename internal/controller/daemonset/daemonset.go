// Package daemonset runs one pod of each DaemonSet on every node that
// its template's node selector, required node affinity and tolerations
// admit. Pods are pinned to their node by a node-name affinity term and
// bound by the scheduler; pods on nodes that stop qualifying are deleted.
// Template changes are kept as ControllerRevisions and rolled out with the
// RollingUpdate (maxUnavailable or maxSurge) or OnDelete strategy.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/history"
)

// burstPods caps the creates or deletes done in one reconcile.
const burstPods = 250

const workers = 4

// templateGenerationLabel carries, on each pod, the template generation
// it was made from.
const templateGenerationLabel = "pod-template-generation"

// templateGenerationAnnotation is where older API servers kept the
// template generation; without it the DaemonSet's generation is used.
const templateGenerationAnnotation = "deprecated.daemonset.template.generation"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	revLister  appslisters.ControllerRevisionLister
	queue      *controller.Queue
	// Creates and deletes are expected separately because one reconcile
	// may do both (a surge creates while finished pods are deleted).
	creates *controller.Expectations
	deletes *controller.Expectations
	backoff *backoff
}

// New returns a DaemonSet controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("daemonset-controller"),
		clock:    c.Clock,
		log:      log.With("controller", "daemonset"),
		creates:  controller.NewExpectations(c.Clock),
		deletes:  controller.NewExpectations(c.Clock),
		backoff:  newBackoff(),
	}
}

// Run reconciles DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("daemonset")

	dsInf := c.ctx.Informers.Apps().V1().DaemonSets()
	podInf := c.ctx.Informers.Core().V1().Pods()
	nodeInf := c.ctx.Informers.Core().V1().Nodes()
	revInf := c.ctx.Informers.Apps().V1().ControllerRevisions()
	c.dsLister, c.podLister = dsInf.Lister(), podInf.Lister()
	c.nodeLister, c.revLister = nodeInf.Lister(), revInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: dsInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: (&controller.PodEvents{
			Queue: c.queue, Kind: controllerKind, Creates: c.creates, Deletes: c.deletes, Adopters: c.adopters,
		}).Handler()},
		controller.Watch{Informer: nodeInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAll() },
			UpdateFunc: c.updateNode,
			DeleteFunc: func(any) { c.enqueueAll() },
		}},
		controller.Watch{Informer: revInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueRevisionOwner,
			UpdateFunc: func(_, obj any) { c.enqueueRevisionOwner(obj) },
			DeleteFunc: c.enqueueRevisionOwner,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

// updateNode enqueues every DaemonSet when a change could alter which
// DaemonSets the node should run.
func (c *Controller) updateNode(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	n, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	if labels.Equals(old.Labels, n.Labels) && taintsEqual(old.Spec.Taints, n.Spec.Taints) {
		return
	}
	c.enqueueAll()
}

func taintsEqual(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

func (c *Controller) enqueueRevisionOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	r, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(r); ref != nil && ref.Kind == controllerKind.Kind {
		c.queue.Add(r.Namespace + "/" + ref.Name)
	}
}

// reconcile brings one DaemonSet's revisions, pods and status to its spec.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.creates.Forget(key)
		c.deletes.Forget(key)
		c.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil // the garbage collector removes the pods
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // invalid selectors are refused by validation
	}

	cl := newClaimer(c, ds, sel)
	if err := cl.revisions(ctx); err != nil {
		return err
	}
	revisions, err := history.Owned(c.revLister, ds, sel)
	if err != nil {
		return err
	}
	data, err := history.Data(&ds.Spec.Template)
	if err != nil {
		return err
	}
	var collisions int32
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	before := collisions
	cur, err := history.Ensure(ctx, c.client, ds, controllerKind, ds.Spec.Template.Labels, data, &collisions, revisions)
	if err != nil {
		if collisions != before {
			st := ds.Status
			st.CollisionCount = &collisions
			err = errors.Join(err, c.writeStatus(ctx, ds, st))
		}
		return err
	}
	hash := cur.Labels[history.HashLabel]

	pods, err := cl.pods(ctx)
	if err != nil {
		return err
	}
	nodes, err := c.nodes(ds, pods)
	if err != nil {
		return err
	}
	s := settings{
		hash:     hash,
		minReady: time.Duration(ds.Spec.MinReadySeconds) * time.Second,
		now:      c.clock.Now(),
	}
	var desired int
	for _, n := range nodes {
		if n.shouldRun {
			desired++
		}
	}
	if u := ds.Spec.UpdateStrategy; u.Type != appsv1.OnDeleteDaemonSetStrategyType {
		s.rolling = true
		s.maxUnavailable, s.maxSurge = rollingLimits(u.RollingUpdate, desired)
	}

	for _, n := range failedOn(nodes) {
		c.backoff.failed(key, n, s.now)
	}
	var wait time.Duration
	s.hold, wait = c.backoff.holding(key, s.now)

	var manageErr error
	if c.creates.Satisfied(key) && c.deletes.Satisfied(key) {
		manageErr = c.manage(ctx, key, ds, hash, computePlan(nodes, s))
	}

	inUse := map[string]bool{cur.Name: true}
	hashes := map[string]bool{}
	for _, n := range nodes {
		for _, p := range n.pods {
			hashes[p.Labels[history.HashLabel]] = true
		}
	}
	for _, r := range revisions {
		if hashes[r.Labels[history.HashLabel]] {
			inUse[r.Name] = true
		}
	}
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	if err := history.Truncate(ctx, c.client, revisions, inUse, limit); err != nil {
		manageErr = errors.Join(manageErr, err)
	}

	cnt := countNodes(nodes, s)
	st := appsv1.DaemonSetStatus{
		ObservedGeneration:     ds.Status.ObservedGeneration,
		DesiredNumberScheduled: cnt.desired,
		CurrentNumberScheduled: cnt.current,
		NumberMisscheduled:     cnt.misscheduled,
		NumberReady:            cnt.ready,
		UpdatedNumberScheduled: cnt.updated,
		NumberAvailable:        cnt.available,
		NumberUnavailable:      cnt.desired - cnt.available,
		CollisionCount:         ds.Status.CollisionCount,
		Conditions:             ds.Status.Conditions,
	}
	if manageErr == nil {
		st.ObservedGeneration = ds.Generation
	}
	if err := c.writeStatus(ctx, ds, st); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if d, ok := untilAvailable(nodes, s); ok && s.minReady > 0 && (wait == 0 || d < wait) {
		wait = d
	}
	if wait > 0 {
		c.queue.AddAfter(key, wait)
	}
	return nil
}

// rollingLimits resolves maxUnavailable and maxSurge against the number
// of nodes that should run the daemon, rounding up. When both come to
// zero one pod at a time may be unavailable, so a rollout always
// progresses.
func rollingLimits(ru *appsv1.RollingUpdateDaemonSet, desired int) (maxUnavailable, maxSurge int) {
	maxUnavailable = 1
	if ru != nil {
		maxUnavailable = scaled(ru.MaxUnavailable, desired, 1)
		maxSurge = scaled(ru.MaxSurge, desired, 0)
	}
	if maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1
	}
	return maxUnavailable, maxSurge
}

func scaled(v *intstr.IntOrString, total, def int) int {
	if v == nil {
		return def
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil || n < 0 {
		return def
	}
	return n
}

// nodes returns every node with ds's pods (from pods) on it, plus the pods whose node
// is gone (under that node's name, neither to run nor to continue).
func (c *Controller) nodes(ds *appsv1.DaemonSet, pods []*corev1.Pod) ([]nodePods, error) {
	all, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		n := targetNode(p)
		byNode[n] = append(byNode[n], p)
	}
	out := make([]nodePods, 0, len(all))
	for _, n := range all {
		run, cont := eligibility(ds, n)
		out = append(out, nodePods{name: n.Name, shouldRun: run, shouldContinue: cont, pods: byNode[n.Name]})
		delete(byNode, n.Name)
	}
	for name, ps := range byNode {
		out = append(out, nodePods{name: name, gone: true, pods: ps})
	}
	return out, nil
}

// manage carries out a plan: the deletes first, then the creates in
// slow-start batches, each bounded by burstPods.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, p plan) error {
	var errs []error
	if len(p.delete) > 0 {
		victims := p.delete[:min(len(p.delete), burstPods)]
		uids := make([]types.UID, len(victims))
		for i, v := range victims {
			uids[i] = v.UID
		}
		c.deletes.ExpectDeletes(key, uids)
		delErrs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, pod := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				delErrs[i] = c.deletePodNow(ctx, key, ds, pod)
			}()
		}
		wg.Wait()
		errs = append(errs, delErrs...)
	}
	if len(p.create) > 0 {
		errs = append(errs, c.createPods(ctx, key, ds, hash, p.create[:min(len(p.create), burstPods)]))
	}
	return errors.Join(errs...)
}

func (c *Controller) deletePodNow(ctx context.Context, key string, ds *appsv1.DaemonSet, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		c.deletes.Deleted(key, uid)
		if apierrors.IsNotFound(err) {
			return nil
		}
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
	return nil
}

// createPods creates one pod per node, in batches of 1, 2, 4, … so that
// a template the server refuses costs one request, not one per node.
func (c *Controller) createPods(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, nodes []string) error {
	c.creates.ExpectCreates(key, len(nodes))
	gen := templateGeneration(ds)
	settle := func(string) { c.creates.Created(key) } // a create that failed or never ran
	return controller.SlowStart(nodes, func(node string) error {
		err := c.createPod(ctx, ds, newPod(ds, hash, gen, node))
		if err != nil {
			settle(node)
		}
		return err
	}, settle)
}

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, pod *corev1.Pod) error {
	out, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// newPod returns ds's pod for node, of the revision named by hash. The
// scheduler binds it: the pod requires the node by name and tolerates the
// taints a daemon must ride out.
func newPod(ds *appsv1.DaemonSet, hash, generation, node string) *corev1.Pod {
	pod := controller.PodFromTemplate(&ds.Spec.Template, ds, controllerKind)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[history.HashLabel] = hash
	pod.Labels[templateGenerationLabel] = generation
	pod.Spec.Affinity = withNodeAffinity(pod.Spec.Affinity, node)
	pod.Spec.Tolerations = addTolerations(pod.Spec.Tolerations, daemonTolerations(pod.Spec.HostNetwork))
	return pod
}

func templateGeneration(ds *appsv1.DaemonSet) string {
	if v, ok := ds.Annotations[templateGenerationAnnotation]; ok {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return v
		}
	}
	return strconv.FormatInt(ds.Generation, 10)
}

func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, s appsv1.DaemonSetStatus) error {
	if statusEqual(ds.Status, s) {
		return nil
	}
	next := ds.DeepCopy()
	next.Status = s
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func statusEqual(a, b appsv1.DaemonSetStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration &&
		a.DesiredNumberScheduled == b.DesiredNumberScheduled &&
		a.CurrentNumberScheduled == b.CurrentNumberScheduled &&
		a.NumberMisscheduled == b.NumberMisscheduled &&
		a.NumberReady == b.NumberReady &&
		a.UpdatedNumberScheduled == b.UpdatedNumberScheduled &&
		a.NumberAvailable == b.NumberAvailable &&
		a.NumberUnavailable == b.NumberUnavailable &&
		ptrEqual(a.CollisionCount, b.CollisionCount)
}

func ptrEqual(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
