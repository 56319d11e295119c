// Package replicaset keeps the pods of each ReplicaSet at its replica
// count: it adopts matching orphan pods, releases owned pods that no longer
// match, creates pods from the template in slow-start batches, deletes the
// cheapest extras first, and reports replica counts in the status.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

// burstReplicas caps the creates or deletes done in one reconcile.
const burstReplicas = 500

const workers = 4

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller reconciles ReplicaSets.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     *controller.Queue
	exp       *controller.Expectations
}

// New returns a ReplicaSet controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("replicaset-controller"),
		clock:    c.Clock,
		log:      log.With("controller", "replicaset"),
		exp:      controller.NewExpectations(c.Clock),
	}
}

// Run reconciles ReplicaSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("replicaset")

	rsInf := c.ctx.Informers.Apps().V1().ReplicaSets()
	podInf := c.ctx.Informers.Core().V1().Pods()
	c.rsLister, c.podLister = rsInf.Lister(), podInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: rsInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: (&controller.PodEvents{
			Queue: c.queue, Kind: controllerKind, Creates: c.exp, Deletes: c.exp,
			Owner: c.ownerKey, Adopters: c.adopters,
		}).Handler()})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// ownerKey returns the key of the ReplicaSet ref names, if it is one
// this controller knows.
func (c *Controller) ownerKey(pod *corev1.Pod, ref *metav1.OwnerReference) (string, bool) {
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return "", false
	}
	return pod.Namespace + "/" + rs.Name, true
}

// adopters returns the keys of the ReplicaSets whose selector matches an
// orphan pod, so one of them adopts it.
func (c *Controller) adopters(pod *corev1.Pod) []string {
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			keys = append(keys, pod.Namespace+"/"+rs.Name)
		}
	}
	return keys
}

// reconcile brings one ReplicaSet's pods and status to its spec.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // invalid selectors are refused by validation
	}
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claim(ctx, rs, sel, all)
	if err != nil {
		return err
	}
	var manageErr error
	if rs.DeletionTimestamp == nil && c.exp.Satisfied(key) {
		manageErr = c.manage(ctx, key, rs, pods)
	}
	status := computeStatus(rs, pods, c.clock.Now())
	if manageErr == nil && rs.Status.ObservedGeneration < rs.Generation {
		status.ObservedGeneration = rs.Generation
	}
	if err := c.writeStatus(ctx, rs, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if mr := rs.Spec.MinReadySeconds; mr > 0 && status.ReadyReplicas > status.AvailableReplicas {
		c.queue.AddAfter(key, time.Duration(mr)*time.Second)
	}
	return nil
}

// claim returns the active pods rs controls after adopting matching
// orphans and releasing owned pods that no longer match.
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, all []*corev1.Pod) ([]*corev1.Pod, error) {
	cl := controller.Claim{
		Client:    c.client,
		Owner:     rs,
		Kind:      controllerKind,
		Matches:   func(p *corev1.Pod) bool { return sel.Matches(labels.Set(p.Labels)) },
		Adoptable: controller.PodActive,
		Live: func(ctx context.Context) (types.UID, bool, error) {
			live, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
			if err != nil {
				return "", false, err
			}
			return live.UID, live.DeletionTimestamp != nil, nil
		},
	}
	pods, err := cl.Pods(ctx, all)
	active := pods[:0]
	for _, p := range pods {
		if controller.PodActive(p) {
			active = append(active, p)
		}
	}
	return active, err
}

// manage creates or deletes pods so that rs has spec.replicas of them.
func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	want := 1
	if rs.Spec.Replicas != nil {
		want = int(*rs.Spec.Replicas)
	}
	diff := len(pods) - want
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.exp.ExpectCreates(key, n)
		settle := func(struct{}) { c.exp.Created(key) } // a create that failed or never ran
		return controller.SlowStart(make([]struct{}, n), func(struct{}) error {
			err := c.createPod(ctx, rs)
			if err != nil {
				settle(struct{}{})
			}
			return err
		}, settle)
	case diff > 0:
		victims := podsToDelete(pods, min(diff, burstReplicas))
		uids := make([]types.UID, len(victims))
		for i, p := range victims {
			uids[i] = p.UID
		}
		c.exp.ExpectDeletes(key, uids)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uid := p.UID
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
				if err != nil {
					c.exp.Deleted(key, uid)
					if !apierrors.IsNotFound(err) {
						errs[i] = fmt.Errorf("deleting pod %s: %w", p.Name, err)
						c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					}
					return
				}
				c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := controller.PodFromTemplate(&rs.Spec.Template, rs, controllerKind)
	out, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// computeStatus counts rs's active pods. ObservedGeneration is carried
// over; the caller advances it.
func computeStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) appsv1.ReplicaSetStatus {
	s := appsv1.ReplicaSetStatus{
		ObservedGeneration: rs.Status.ObservedGeneration,
		Conditions:         rs.Status.Conditions,
		Replicas:           int32(len(pods)),
	}
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			s.FullyLabeledReplicas++
		}
		if controller.PodReady(p) {
			s.ReadyReplicas++
			if controller.PodAvailable(p, minReady, now) {
				s.AvailableReplicas++
			}
		}
	}
	return s
}

func (c *Controller) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, s appsv1.ReplicaSetStatus) error {
	if statusEqual(rs.Status, s) {
		return nil
	}
	next := rs.DeepCopy()
	next.Status = s
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.ObservedGeneration == b.ObservedGeneration
}
