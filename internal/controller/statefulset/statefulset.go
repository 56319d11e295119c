// Package statefulset keeps the pods of each StatefulSet: one pod per
// ordinal with a stable name, hostname and claims, created and removed in
// ordinal order (or all at once with the Parallel policy), replaced from
// the newest revision of the template by a partitioned rolling update or
// on deletion, with the template history kept as ControllerRevisions that
// kubectl rollout reads and rolls back to.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/bosun-sh/bosun/internal/controller/history"
)

const workers = 4

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller reconciles StatefulSets.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	setLister   appslisters.StatefulSetLister
	podLister   corelisters.PodLister
	claimLister corelisters.PersistentVolumeClaimLister
	revLister   appslisters.ControllerRevisionLister
	queue       *controller.Queue
	exp         *controller.Expectations
}

// New returns a StatefulSet controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("statefulset-controller"),
		clock:    c.Clock,
		log:      log.With("controller", "statefulset"),
		exp:      controller.NewExpectations(c.Clock),
	}
}

// Run reconciles StatefulSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("statefulset")

	setInf := c.ctx.Informers.Apps().V1().StatefulSets()
	podInf := c.ctx.Informers.Core().V1().Pods()
	claimInf := c.ctx.Informers.Core().V1().PersistentVolumeClaims()
	revInf := c.ctx.Informers.Apps().V1().ControllerRevisions()
	c.setLister, c.podLister = setInf.Lister(), podInf.Lister()
	c.claimLister, c.revLister = claimInf.Lister(), revInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: setInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: (&controller.PodEvents{
			Queue: c.queue, Kind: controllerKind, Creates: c.exp, Deletes: c.exp,
			Owner: c.ownerKey, Adopters: c.adopters,
		}).Handler()},
		controller.Watch{Informer: claimInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{}},
		controller.Watch{Informer: revInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueRevisionOwner,
			DeleteFunc: c.enqueueRevisionOwner,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
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

// ownerKey returns the key of the StatefulSet ref names, if it is one
// this controller knows.
func (c *Controller) ownerKey(pod *corev1.Pod, ref *metav1.OwnerReference) (string, bool) {
	set, err := c.setLister.StatefulSets(pod.Namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return "", false
	}
	return pod.Namespace + "/" + set.Name, true
}

// adopters returns the keys of the StatefulSets that could adopt an
// orphan pod: their selector matches it and its name is one of theirs.
func (c *Controller) adopters(pod *corev1.Pod) []string {
	all, err := c.setLister.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, set := range all {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if _, member := ordinalOf(set.Name, pod.Name); member && sel.Matches(labels.Set(pod.Labels)) {
			keys = append(keys, pod.Namespace+"/"+set.Name)
		}
	}
	return keys
}

// reconcile brings one StatefulSet's pods, claims, revisions and status
// to its spec.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // invalid selectors are refused by validation
	}
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claim(ctx, set, sel, all)
	if err != nil {
		return err
	}

	if set.DeletionTimestamp != nil {
		// The garbage collector is removing the pods: only report them.
		status := computeStatus(set, pods, set.Status.CurrentRevision, set.Status.UpdateRevision, c.clock.Now())
		return c.writeStatus(ctx, set, status)
	}
	revs, current, update, err := c.revisions(ctx, set, sel)
	if err != nil {
		return err
	}

	var manageErr error
	if c.exp.Satisfied(key) {
		manageErr = c.manage(ctx, key, set, pods, current, update)
	}
	now := c.clock.Now()
	status := computeStatus(set, pods, current.Name, update.Name, now)
	if manageErr == nil && status.ObservedGeneration < set.Generation {
		status.ObservedGeneration = set.Generation
	}
	if err := c.writeStatus(ctx, set, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}

	inUse := map[string]bool{status.CurrentRevision: true, status.UpdateRevision: true}
	for _, p := range pods {
		inUse[podRevision(p)] = true
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if err := history.Truncate(ctx, c.client, revs, inUse, limit); err != nil {
		return err
	}

	if mr := set.Spec.MinReadySeconds; mr > 0 && status.ReadyReplicas > status.AvailableReplicas {
		c.queue.AddAfter(key, time.Duration(mr)*time.Second)
	}
	return nil
}

// revisions returns the set's revisions (the update revision included)
// and its current and update revisions, recording the template as a new
// revision when it has none.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) (revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision, err error) {
	revs, err = history.Owned(c.revLister, set, sel)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err := history.Data(&set.Spec.Template)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("statefulset %s/%s: recording template: %w", set.Namespace, set.Name, err)
	}
	var collisions int32
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	before := collisions
	update, err = history.Ensure(ctx, c.client, set, controllerKind, set.Spec.Template.Labels, data, &collisions, revs)
	if err != nil {
		if collisions != before {
			next := set.DeepCopy()
			next.Status.CollisionCount = &collisions
			if _, serr := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return nil, nil, nil, err
	}
	replaced := false
	for i, r := range revs {
		if r.Name == update.Name {
			revs[i], replaced = update, true
		}
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	if !replaced {
		revs = append(revs, update)
	}
	if current == nil || current.Name == update.Name {
		current = update
	}
	return revs, current, update, nil
}

// claim returns the member pods set controls, terminating ones included,
// after adopting matching orphans and releasing owned pods that no longer
// match its selector or naming.
func (c *Controller) claim(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, all []*corev1.Pod) ([]*corev1.Pod, error) {
	cl := controller.Claim{
		Client: c.client,
		Owner:  set,
		Kind:   controllerKind,
		Matches: func(p *corev1.Pod) bool {
			_, member := ordinalOf(set.Name, p.Name)
			return member && sel.Matches(labels.Set(p.Labels))
		},
		Adoptable: func(p *corev1.Pod) bool { return p.DeletionTimestamp == nil },
		Live: func(ctx context.Context) (types.UID, bool, error) {
			live, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
			if err != nil {
				return "", false, err
			}
			return live.UID, live.DeletionTimestamp != nil, nil
		},
	}
	return cl.Pods(ctx, all)
}

// manage carries out plan's actions. Creations and deletions are not
// mixed in one pass, so that one expectation covers each pass.
func (c *Controller) manage(ctx context.Context, key string, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision) error {
	actions := plan(set, pods, current.Name, update.Name, c.clock.Now())
	var creates, deletes []action
	for _, a := range actions {
		if a.create() {
			creates = append(creates, a)
		} else {
			deletes = append(deletes, a)
		}
	}
	if len(creates) > 0 {
		templates := map[string]*corev1.PodTemplateSpec{update.Name: &set.Spec.Template}
		if current.Name != update.Name {
			t, err := templateOf(current.Data.Raw)
			if err != nil {
				return fmt.Errorf("revision %s: %w", current.Name, err)
			}
			templates[current.Name] = t
		}
		c.exp.ExpectCreates(key, len(creates))
		return controller.SlowStart(creates, func(a action) error {
			err := c.createPod(ctx, set, templates[a.revision], a)
			if err != nil {
				c.exp.Created(key)
			}
			if apierrors.IsAlreadyExists(err) {
				return nil // the cache lags, or another owner holds the name
			}
			return err
		}, func(action) { c.exp.Created(key) })
	}
	if len(deletes) > 0 {
		uids := make([]types.UID, len(deletes))
		for i, a := range deletes {
			uids[i] = a.pod.UID
		}
		c.exp.ExpectDeletes(key, uids)
		return controller.SlowStart(deletes, func(a action) error {
			err := c.deletePodFor(ctx, set, a)
			if err != nil {
				c.exp.Deleted(key, a.pod.UID)
			}
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}, func(a action) { c.exp.Deleted(key, a.pod.UID) })
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, a action) error {
	if err := c.ensureClaims(ctx, set, a.ordinal); err != nil {
		return err
	}
	pod := newPod(set, template, a.ordinal, a.revision)
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		}
		return fmt.Errorf("creating pod %s/%s: %w", set.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// ensureClaims creates the claims the pod of ordinal ord mounts. A claim
// still being deleted is waited for: the pod must not bind to it.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ord int) error {
	pod := podName(set, ord)
	for _, claim := range newClaims(set, ord) {
		cur, err := c.claimLister.PersistentVolumeClaims(set.Namespace).Get(claim.Name)
		if err == nil {
			if cur.DeletionTimestamp != nil {
				return fmt.Errorf("claim %s/%s is being deleted: %w", set.Namespace, claim.Name, controller.ErrRequeue)
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		_, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, pod, set.Name, err)
			}
			return fmt.Errorf("creating claim %s/%s: %w", set.Namespace, claim.Name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod, set.Name)
	}
	return nil
}

func (c *Controller) deletePodFor(ctx context.Context, set *appsv1.StatefulSet, a action) error {
	p := a.pod
	switch a.reason {
	case reasonFailed:
		c.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod", "StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, p.Name)
	case reasonCondemned:
		if err := c.releaseClaimsToPod(ctx, set, p, a.ordinal); err != nil {
			return err
		}
	}
	uid := p.UID
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
		}
		return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

// releaseClaimsToPod makes a scaled-away pod the only owner of its claims
// when the retention policy deletes claims on scale-down, so that the
// garbage collector removes them after the pod.
func (c *Controller) releaseClaimsToPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ord int) error {
	pol := set.Spec.PersistentVolumeClaimRetentionPolicy
	if pol == nil || pol.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, t.Name, ord)
		cur, err := c.claimLister.PersistentVolumeClaims(set.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		// The set lets go: an object goes only once all its owners have.
		refs := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}
		hasPod, hasSet := false, false
		for _, r := range cur.OwnerReferences {
			switch r.UID {
			case pod.UID:
				hasPod = true
			case set.UID:
				hasSet = true
			default:
				refs = append(refs, r)
			}
		}
		if hasPod && !hasSet {
			continue
		}
		next := cur.DeepCopy()
		next.OwnerReferences = refs
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("handing claim %s/%s to pod %s: %w", set.Namespace, name, pod.Name, err)
		}
	}
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, s appsv1.StatefulSetStatus) error {
	if statusEqual(set.Status, s) {
		return nil
	}
	next := set.DeepCopy()
	next.Status = s
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func statusEqual(a, b appsv1.StatefulSetStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && a.Replicas == b.Replicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.CurrentReplicas == b.CurrentReplicas &&
		a.UpdatedReplicas == b.UpdatedReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.CurrentRevision == b.CurrentRevision && a.UpdateRevision == b.UpdateRevision &&
		ptrEqual(a.CollisionCount, b.CollisionCount)
}

func ptrEqual(a, b *int32) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
