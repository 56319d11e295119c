// Package deployment rolls Deployments out through ReplicaSets: one
// ReplicaSet per pod template (named and labelled by the template's hash),
// scaled up and down under the RollingUpdate bounds or all at once for
// Recreate, with revisions, history cleanup, pause, and the Available and
// Progressing conditions kubectl rollout reads.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

const (
	workers = 4

	reasonNewRSCreated     = "NewReplicaSetCreated"
	reasonFoundNewRS       = "FoundNewReplicaSet"
	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonDeadlineExceeded = "ProgressDeadlineExceeded"
	reasonPaused           = "DeploymentPaused"
	reasonResumed          = "DeploymentResumed"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller reconciles Deployments.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	queue    *controller.Queue
}

// New returns a Deployment controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("deployment-controller"),
		clock:    c.Clock,
		log:      log.With("controller", "deployment"),
	}
}

// Run reconciles Deployments until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("deployment")
	dInf := c.ctx.Informers.Apps().V1().Deployments()
	rsInf := c.ctx.Informers.Apps().V1().ReplicaSets()
	c.dLister, c.rsLister = dInf.Lister(), rsInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: dInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: rsInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.replicaSetChanged,
			UpdateFunc: func(_, obj any) { c.replicaSetChanged(obj) },
			DeleteFunc: c.replicaSetChanged,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) replicaSetChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if ref.Kind == controllerKind.Kind {
			c.queue.Add(rs.Namespace + "/" + ref.Name)
		}
		return
	}
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.queue.Add(rs.Namespace + "/" + d.Name)
		}
	}
}

// reconcile moves one Deployment one step along its rollout and writes
// its status.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil
	}
	all, err := c.replicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.writeStatus(ctx, d, all, findNew(d, all), "")
	}
	if d.Spec.Paused {
		return c.syncPaused(ctx, d, all)
	}
	newRS, created, err := c.ensureNewRS(ctx, d, all)
	if err != nil {
		return err
	}
	if created {
		all = append(all, newRS)
	}
	reason := reasonFoundNewRS
	if created {
		reason = reasonNewRSCreated
	}
	old := others(all, newRS)
	if scalingEvent(d, all) {
		if err := c.syncScale(ctx, d, all, newRS); err != nil {
			return err
		}
		return c.writeStatus(ctx, d, all, newRS, reason)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		err = c.recreate(ctx, d, newRS, old)
	} else {
		err = c.rollingUpdate(ctx, d, newRS, old, all)
	}
	if err != nil {
		return err
	}
	if err := c.writeStatus(ctx, d, all, newRS, reason); err != nil {
		return err
	}
	if complete(d, computeStatus(d, all, newRS)) {
		return c.cleanup(ctx, d, old)
	}
	return nil
}

// replicaSets returns the ReplicaSets d controls, adopting matching
// orphans and releasing ones that no longer match.
func (c *Controller) replicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	list, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		ref := metav1.GetControllerOf(rs)
		match := sel.Matches(labels.Set(rs.Labels))
		switch {
		case ref != nil && ref.UID == d.UID && match:
			out = append(out, rs)
		case ref != nil && ref.UID == d.UID && rs.DeletionTimestamp == nil:
			next := rs.DeepCopy()
			var keep []metav1.OwnerReference
			for _, r := range next.OwnerReferences {
				if r.UID != d.UID {
					keep = append(keep, r)
				}
			}
			next.OwnerReferences = keep
			if _, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		case ref == nil && match && rs.DeletionTimestamp == nil && d.DeletionTimestamp == nil:
			next := rs.DeepCopy()
			next.OwnerReferences = append(next.OwnerReferences, *metav1.NewControllerRef(d, controllerKind))
			adopted, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("adopting replicaset %s: %w", rs.Name, err)
			}
			out = append(out, adopted)
		}
	}
	return out, nil
}

// findNew returns the ReplicaSet whose template is d's, the oldest when
// several are.
func findNew(d *appsv1.Deployment, all []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), all...)
	byAge(sorted)
	for _, rs := range sorted {
		if sameTemplate(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

func others(all []*appsv1.ReplicaSet, rs *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, r := range all {
		if rs == nil || r.UID != rs.UID {
			out = append(out, r)
		}
	}
	return out
}

// ensureNewRS finds or creates the ReplicaSet of d's template and keeps
// its revision, annotations and minReadySeconds current.
func (c *Controller) ensureNewRS(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, bool, error) {
	existing := findNew(d, all)
	maxOld := maxRevision(others(all, existing))
	if existing != nil {
		next := existing.DeepCopy()
		rev := revision(existing)
		changed := false
		if rev <= maxOld {
			// An old template is back (a rollback): it becomes the newest
			// revision and remembers the ones it had.
			if next.Annotations == nil {
				next.Annotations = map[string]string{}
			}
			if rev > 0 {
				h := next.Annotations[historyAnnotation]
				if h != "" {
					h += ","
				}
				next.Annotations[historyAnnotation] = h + strconv.FormatInt(rev, 10)
			}
			next.Annotations[revisionAnnotation] = strconv.FormatInt(maxOld+1, 10)
			changed = true
		}
		for k, v := range replicaSetAnnotations(d) {
			if next.Annotations[k] != v {
				if next.Annotations == nil {
					next.Annotations = map[string]string{}
				}
				next.Annotations[k] = v
				changed = true
			}
		}
		if next.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			next.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			out, err := c.client.AppsV1().ReplicaSets(d.Namespace).Update(ctx, next, metav1.UpdateOptions{})
			if err != nil {
				return nil, false, err
			}
			existing = out
		}
		return existing, false, c.setRevision(ctx, d, existing)
	}

	hash := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Labels = copyLabels(tmpl.Labels, hashLabel, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = copyLabels(sel.MatchLabels, hashLabel, hash)
	ann := replicaSetAnnotations(d)
	ann[revisionAnnotation] = strconv.FormatInt(maxOld+1, 10)
	surge, _ := surgeAndUnavailable(d)
	ann[desiredAnnotation] = strconv.Itoa(int(replicasOf(d)))
	ann[maxReplicasAnnotaton] = strconv.Itoa(int(replicasOf(d) + surge))
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          tmpl.Labels,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl},
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		n := newRSReplicas(d, all, rs)
		rs.Spec.Replicas = &n
	}
	out, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, gerr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, false, gerr
		}
		if ref := metav1.GetControllerOf(live); ref != nil && ref.UID == d.UID && sameTemplate(&live.Spec.Template, &d.Spec.Template) {
			return live, false, nil // our cache was behind
		}
		// A different ReplicaSet holds the name: hash again with a
		// higher collision count.
		next := d.DeepCopy()
		n := int32(1)
		if next.Status.CollisionCount != nil {
			n = *next.Status.CollisionCount + 1
		}
		next.Status.CollisionCount = &n
		if _, uerr := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); uerr != nil {
			return nil, false, uerr
		}
		return nil, false, fmt.Errorf("replicaset name %s taken: %w", rs.Name, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("creating replicaset: %w", err)
	}
	if n := rsReplicas(out); n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", out.Name, n)
	}
	return out, true, c.setRevision(ctx, d, out)
}

// setRevision copies the new ReplicaSet's revision (and change-cause) to
// the deployment's annotations.
func (c *Controller) setRevision(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet) error {
	rev := newRS.Annotations[revisionAnnotation]
	if rev == "" || d.Annotations[revisionAnnotation] == rev {
		return nil
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = rev
	out, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*d = *out
	return nil
}

// scale sets rs to n replicas and reports the change as an event.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (*appsv1.ReplicaSet, error) {
	from := rsReplicas(rs)
	surge, _ := surgeAndUnavailable(d)
	desired, maxR := strconv.Itoa(int(replicasOf(d))), strconv.Itoa(int(replicasOf(d)+surge))
	if from == n && rs.Annotations[desiredAnnotation] == desired && rs.Annotations[maxReplicasAnnotaton] == maxR {
		return rs, nil
	}
	next := rs.DeepCopy()
	next.Spec.Replicas = &n
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[desiredAnnotation] = desired
	next.Annotations[maxReplicasAnnotaton] = maxR
	out, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("scaling replicaset %s: %w", rs.Name, err)
	}
	if from != n {
		dir := "up"
		if n < from {
			dir = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, from, n)
	}
	return out, nil // rs belongs to the informer cache: never write to it
}

// rollingUpdate grows the new ReplicaSet within the surge bound, then
// shrinks the old ones within the unavailability bound.
func (c *Controller) rollingUpdate(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old, all []*appsv1.ReplicaSet) error {
	want := replicasOf(d)
	if n := newRSReplicas(d, all, newRS); n != rsReplicas(newRS) || rsReplicas(newRS) > want {
		if rsReplicas(newRS) > want {
			n = want
		}
		_, err := c.scale(ctx, d, newRS, n)
		return err
	}
	budget := oldScaleDown(d, all, newRS)
	if budget <= 0 {
		return nil
	}
	byAge(old)
	// Old pods that are not available cost no availability: remove them
	// first, then available ones, oldest ReplicaSet first.
	for _, rs := range old {
		if budget <= 0 {
			break
		}
		unhealthy := rsReplicas(rs) - rs.Status.AvailableReplicas
		if unhealthy <= 0 {
			continue
		}
		cut := min(unhealthy, budget)
		if _, err := c.scale(ctx, d, rs, rsReplicas(rs)-cut); err != nil {
			return err
		}
		budget -= cut
	}
	_, unavailable := surgeAndUnavailable(d)
	available := int32(0)
	for _, rs := range all {
		available += rs.Status.AvailableReplicas
	}
	canLose := min(budget, available-(want-unavailable))
	for _, rs := range old {
		if canLose <= 0 {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		cut := min(rsReplicas(rs), canLose)
		if _, err := c.scale(ctx, d, rs, rsReplicas(rs)-cut); err != nil {
			return err
		}
		canLose -= cut
	}
	return nil
}

// recreate scales every old ReplicaSet to zero, waits for their pods to
// go, then scales the new one up.
func (c *Controller) recreate(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	waiting := false
	for _, rs := range old {
		if rsReplicas(rs) > 0 {
			if _, err := c.scale(ctx, d, rs, 0); err != nil {
				return err
			}
		}
		if rs.Status.Replicas > 0 {
			waiting = true
		}
	}
	if waiting {
		return nil
	}
	_, err := c.scale(ctx, d, newRS, replicasOf(d))
	return err
}

// scalingEvent reports whether d's replica count changed since its
// active ReplicaSets were last sized.
func scalingEvent(d *appsv1.Deployment, all []*appsv1.ReplicaSet) bool {
	want := strconv.Itoa(int(replicasOf(d)))
	for _, rs := range all {
		if v, ok := rs.Annotations[desiredAnnotation]; ok && rsReplicas(rs) > 0 && v != want {
			return true
		}
	}
	return false
}

// syncScale follows a replica count change without rolling out: a single
// active ReplicaSet takes the new count; several share the change in
// proportion to their sizes.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	var active []*appsv1.ReplicaSet
	for _, rs := range all {
		if rsReplicas(rs) > 0 {
			active = append(active, rs)
		}
	}
	switch {
	case len(active) == 0:
		if newRS != nil {
			_, err := c.scale(ctx, d, newRS, replicasOf(d))
			return err
		}
		return nil
	case len(active) == 1:
		_, err := c.scale(ctx, d, active[0], replicasOf(d))
		return err
	}
	// Largest first, newest first among equals, so rounding favours them.
	byAge(active)
	slices.Reverse(active)
	sort.SliceStable(active, func(i, j int) bool { return rsReplicas(active[i]) > rsReplicas(active[j]) })
	sizes := make([]int32, len(active))
	for i, rs := range active {
		sizes[i] = rsReplicas(rs)
	}
	surge, _ := surgeAndUnavailable(d)
	targets := proportionalSizes(sizes, replicasOf(d)+surge)
	var errs []error
	for i, rs := range active {
		if _, err := c.scale(ctx, d, rs, targets[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncPaused follows replica count changes only; no rollout starts.
func (c *Controller) syncPaused(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet) error {
	newRS := findNew(d, all)
	if scalingEvent(d, all) || newRS != nil && rsReplicas(newRS) == 0 && len(others(all, newRS)) == 0 {
		if err := c.syncScale(ctx, d, all, newRS); err != nil {
			return err
		}
	}
	return c.writeStatus(ctx, d, all, newRS, reasonPaused)
}

// cleanup deletes the oldest old ReplicaSets that have no pods beyond
// revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var idle []*appsv1.ReplicaSet
	for _, rs := range old {
		if rsReplicas(rs) == 0 && rs.Status.Replicas == 0 && rs.DeletionTimestamp == nil && rs.Status.ObservedGeneration >= rs.Generation {
			idle = append(idle, rs)
		}
	}
	extra := len(idle) - int(*d.Spec.RevisionHistoryLimit)
	if extra <= 0 {
		return nil
	}
	byRevision(idle)
	var errs []error
	for _, rs := range idle[:extra] {
		uid := rs.UID
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func byRevision(rss []*appsv1.ReplicaSet) {
	byAge(rss)
	for i := 1; i < len(rss); i++ {
		for j := i; j > 0 && revision(rss[j]) < revision(rss[j-1]); j-- {
			rss[j], rss[j-1] = rss[j-1], rss[j]
		}
	}
}

// writeStatus computes d's status and conditions and writes them when
// they changed. reason is how the new ReplicaSet was found (or
// DeploymentPaused); empty leaves Progressing alone.
func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, reason string) error {
	now := c.clock.Now()
	s := computeStatus(d, all, newRS)
	mt := metav1.NewTime(now)
	_, unavailable := surgeAndUnavailable(d)
	if s.AvailableReplicas >= replicasOf(d)-unavailable {
		setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability.", LastUpdateTime: mt, LastTransitionTime: mt})
	} else {
		setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability.", LastUpdateTime: mt, LastTransitionTime: mt})
	}
	var requeue time.Duration
	prog := condition(&s, appsv1.DeploymentProgressing)
	rsName := ""
	if newRS != nil {
		rsName = newRS.Name
	}
	switch {
	case reason == "":
	case reason == reasonPaused:
		if prog == nil || prog.Reason != reasonPaused {
			setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionUnknown, Reason: reasonPaused, Message: "Deployment is paused", LastUpdateTime: mt, LastTransitionTime: mt})
		}
	case prog != nil && prog.Reason == reasonPaused:
		setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionUnknown, Reason: reasonResumed, Message: "Deployment is resumed", LastUpdateTime: mt, LastTransitionTime: mt})
		requeue = time.Millisecond
	case complete(d, s):
		if prog == nil || prog.Reason != reasonNewRSAvailable {
			setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonNewRSAvailable, Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName), LastUpdateTime: mt, LastTransitionTime: mt})
		}
	case reason == reasonNewRSCreated:
		setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonNewRSCreated, Message: fmt.Sprintf("Created new replica set %q", rsName), LastUpdateTime: mt, LastTransitionTime: mt})
	case prog == nil || prog.Reason == reasonResumed || prog.Reason == reasonNewRSAvailable && !strings.Contains(prog.Message, strconv.Quote(rsName)):
		setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonFoundNewRS, Message: fmt.Sprintf("Found new replica set %q", rsName), LastUpdateTime: mt, LastTransitionTime: mt})
	case progressed(d.Status, s) || prog.Reason == reasonNewRSAvailable:
		setConditionAt(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, Message: fmt.Sprintf("ReplicaSet %q is progressing.", rsName), LastUpdateTime: mt, LastTransitionTime: mt}, true)
	default:
		exceeded, left := deadlineExceeded(d, &s, now)
		if exceeded {
			if prog.Reason != reasonDeadlineExceeded {
				setCondition(&s, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: reasonDeadlineExceeded, Message: fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName), LastUpdateTime: mt, LastTransitionTime: mt})
			}
		} else if left > 0 {
			requeue = left + 10*time.Millisecond
		}
	}
	if requeue > 0 {
		c.queue.AddAfter(d.Namespace+"/"+d.Name, requeue)
	}
	if statusEqual(d.Status, s) {
		return nil
	}
	next := d.DeepCopy()
	next.Status = s
	_, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func statusEqual(a, b appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas || a.UnavailableReplicas != b.UnavailableReplicas ||
		len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			!x.LastUpdateTime.Equal(&y.LastUpdateTime) || !x.LastTransitionTime.Equal(&y.LastTransitionTime) {
			return false
		}
	}
	return true
}
