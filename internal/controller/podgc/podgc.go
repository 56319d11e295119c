// Package podgc removes pods nothing else will: finished pods beyond a
// cluster-wide threshold (oldest-finished first), pods bound to nodes that
// no longer exist, and unscheduled pods that are being deleted. All of
// them are deleted at once, with no grace period, as no kubelet will
// finish them.
package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

// Options tunes the collector; zero fields take Kubernetes' defaults.
type Options struct {
	// TerminatedPodThreshold is how many finished pods may exist before
	// the oldest are deleted. Default 12500.
	TerminatedPodThreshold int
	// Quarantine is how long a node must be missing from the cache
	// before the server is asked whether it is really gone. Default 40s.
	Quarantine time.Duration
	// Interval is the time between full scans. Default 20s.
	Interval time.Duration
}

func (o Options) withDefaults() Options {
	if o.TerminatedPodThreshold <= 0 {
		o.TerminatedPodThreshold = 12500
	}
	if o.Quarantine <= 0 {
		o.Quarantine = 40 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 20 * time.Second
	}
	return o
}

// scanKey queues a full scan; pod keys always hold a slash.
const scanKey = "scan"

const workers = 2

// Controller collects pods.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	clock  clock.Clock
	log    *slog.Logger
	opts   Options

	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	queue      *controller.Queue

	mu sync.Mutex
	// missingSince is when each node pods are bound to was first seen
	// missing from the cache.
	missingSince map[string]time.Time
}

// New returns a pod collector sharing c's informers.
func New(c *controller.Context, o Options) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx: c, client: c.Client, clock: c.Clock, log: log.With("controller", "podgc"),
		opts: o.withDefaults(), missingSince: map[string]time.Time{},
	}
}

// Run collects pods until ctx ends: a full scan every Interval, and a
// look at single pods as their events arrive.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("podgc")
	podInf := c.ctx.Informers.Core().V1().Pods()
	nodeInf := c.ctx.Informers.Core().V1().Nodes()
	c.podLister, c.nodeLister = podInf.Lister(), nodeInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: podInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podEvent,
			UpdateFunc: func(_, obj any) { c.podEvent(obj) },
		}},
		controller.Watch{Informer: nodeInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(any) { c.queue.Add(scanKey) },
		}})
	if err != nil {
		return err
	}
	defer remove()
	c.queue.Add(scanKey)
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) podEvent(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Spec.NodeName == "" && pod.DeletionTimestamp != nil || pod.Spec.NodeName != "" && !c.nodeCached(pod.Spec.NodeName) {
		c.queue.Enqueue(pod)
	}
}

func (c *Controller) nodeCached(name string) bool {
	_, err := c.nodeLister.Get(name)
	return err == nil
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	if key == scanKey {
		return c.scan(ctx)
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if UnscheduledTerminating(pod) {
		return c.forceDelete(ctx, pod)
	}
	node := pod.Spec.NodeName
	if node == "" || c.nodeCached(node) {
		return nil
	}
	if wait := c.quarantine(node); wait > 0 {
		c.queue.AddAfter(key, wait)
		return nil
	}
	gone, err := c.nodeGone(ctx, node)
	if err != nil || !gone {
		return err
	}
	return c.deleteOrphan(ctx, pod)
}

// scan looks at every pod once and queues the next scan.
func (c *Controller) scan(ctx context.Context) error {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range TerminatedToDelete(pods, c.opts.TerminatedPodThreshold) {
		errs = append(errs, c.forceDelete(ctx, p))
	}
	next := c.opts.Interval
	orphans := map[string][]*corev1.Pod{}
	for _, p := range pods {
		switch {
		case UnscheduledTerminating(p):
			errs = append(errs, c.forceDelete(ctx, p))
		case p.Spec.NodeName != "" && !c.nodeCached(p.Spec.NodeName):
			orphans[p.Spec.NodeName] = append(orphans[p.Spec.NodeName], p)
		}
	}
	c.forgetNodesExcept(orphans)
	for node, ps := range orphans {
		if wait := c.quarantine(node); wait > 0 {
			next = min(next, wait)
			continue
		}
		gone, err := c.nodeGone(ctx, node)
		if err != nil || !gone {
			errs = append(errs, err)
			continue
		}
		for _, p := range ps {
			errs = append(errs, c.deleteOrphan(ctx, p))
		}
	}
	c.queue.AddAfter(scanKey, next)
	return errors.Join(errs...)
}

// quarantine records node as missing and returns how much longer it must
// stay missing before it is checked against the server; 0 means now.
func (c *Controller) quarantine(node string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	since, ok := c.missingSince[node]
	if !ok {
		c.missingSince[node] = now
		since = now
	}
	return max(0, since.Add(c.opts.Quarantine).Sub(now))
}

// forgetNodesExcept drops the quarantine of nodes no pod is orphaned on
// any longer.
func (c *Controller) forgetNodesExcept(orphans map[string][]*corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.missingSince {
		if _, ok := orphans[n]; !ok {
			delete(c.missingSince, n)
		}
	}
}

// nodeGone asks the server whether node really no longer exists.
func (c *Controller) nodeGone(ctx context.Context, node string) (bool, error) {
	_, err := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("checking node %s: %w", node, err)
	}
	return false, nil
}

// deleteOrphan marks pod as disrupted by this collector, failing it if
// it had not finished, then deletes it. The mark is best effort.
func (c *Controller) deleteOrphan(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	if MarkDisrupted(p, c.clock.Now()) {
		_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			c.log.Debug("marking pod disrupted", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
	c.log.Info("deleting pod on missing node", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
	return c.forceDelete(ctx, pod)
}

func (c *Controller) forceDelete(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// MarkDisrupted sets pod's DisruptionTarget condition for a deletion by
// this collector and fails it if it had not finished. It reports whether
// the status changed.
func MarkDisrupted(pod *corev1.Pod, now time.Time) bool {
	changed := false
	if !terminated(pod) {
		pod.Status.Phase = corev1.PodFailed
		changed = true
	}
	cond := corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		Reason:             "DeletionByPodGC",
		Message:            "PodGC: node no longer exists",
		LastTransitionTime: metav1.NewTime(now),
	}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			if c.Status == cond.Status && c.Reason == cond.Reason {
				return changed
			}
			pod.Status.Conditions[i] = cond
			return true
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
	return true
}

// UnscheduledTerminating reports a pod being deleted that no node will
// ever finish.
func UnscheduledTerminating(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.DeletionTimestamp != nil
}

func terminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// TerminatedToDelete returns the finished pods beyond threshold, those
// that finished first.
func TerminatedToDelete(pods []*corev1.Pod, threshold int) []*corev1.Pod {
	var done []*corev1.Pod
	for _, p := range pods {
		if terminated(p) {
			done = append(done, p)
		}
	}
	if len(done) <= threshold {
		return nil
	}
	sort.Slice(done, func(i, j int) bool {
		a, b := FinishedAt(done[i]), FinishedAt(done[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		if !done[i].CreationTimestamp.Equal(&done[j].CreationTimestamp) {
			return done[i].CreationTimestamp.Before(&done[j].CreationTimestamp)
		}
		return strings.Compare(done[i].Namespace+"/"+done[i].Name, done[j].Namespace+"/"+done[j].Name) < 0
	})
	return done[:len(done)-threshold]
}

// FinishedAt is when pod's last container stopped, or failing that when
// it last changed readiness, or was created.
func FinishedAt(pod *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, s := range cs {
			if s.State.Terminated != nil && s.State.Terminated.FinishedAt.After(t) {
				t = s.State.Terminated.FinishedAt.Time
			}
		}
	}
	if !t.IsZero() {
		return t
	}
	if since, _ := controller.ReadySince(pod); !since.IsZero() {
		return since
	}
	return pod.CreationTimestamp.Time
}
