package daemonset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-sh/bosun/internal/controller"
)

// claimer adopts orphans for one DaemonSet in one reconcile. It checks
// once against the server that the DaemonSet is still the one the cache
// holds before taking anything for it, as a DaemonSet deleted with
// orphans and recreated under the same name must not take them twice.
type claimer struct {
	c     *Controller
	ds    *appsv1.DaemonSet
	sel   labels.Selector
	live  bool
	check bool
}

func (cl *claimer) canAdopt(ctx context.Context) (bool, error) {
	if cl.ds.DeletionTimestamp != nil {
		return false, nil
	}
	if !cl.check {
		live, err := cl.c.client.AppsV1().DaemonSets(cl.ds.Namespace).Get(ctx, cl.ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cl.live, cl.check = live.UID == cl.ds.UID && live.DeletionTimestamp == nil, true
	}
	return cl.live, nil
}

func (cl *claimer) ownerRef() metav1.OwnerReference {
	return *metav1.NewControllerRef(cl.ds, controllerKind)
}

// revisions adopts the orphaned ControllerRevisions the selector matches
// (left by a DaemonSet deleted with orphans), so that rolling back to them
// still works.
func (cl *claimer) revisions(ctx context.Context) error {
	all, err := cl.c.revLister.ControllerRevisions(cl.ds.Namespace).List(cl.sel)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range all {
		if metav1.GetControllerOf(r) != nil || r.DeletionTimestamp != nil {
			continue
		}
		ok, err := cl.canAdopt(ctx)
		if err != nil || !ok {
			return err
		}
		up := r.DeepCopy()
		up.OwnerReferences = append(up.OwnerReferences, cl.ownerRef())
		if _, err := cl.c.client.AppsV1().ControllerRevisions(up.Namespace).Update(ctx, up, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("adopting controller revision %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// pods returns the pods the DaemonSet controls after adopting active
// orphans its selector matches and releasing owned pods it no longer
// matches.
func (cl *claimer) pods(ctx context.Context) ([]*corev1.Pod, error) {
	all, err := cl.c.podLister.Pods(cl.ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*corev1.Pod
	var errs []error
	for _, pod := range all {
		ref := metav1.GetControllerOf(pod)
		matches := cl.sel.Matches(labels.Set(pod.Labels))
		switch {
		case ref != nil && ref.UID == cl.ds.UID && matches:
			owned = append(owned, pod)
		case ref != nil && ref.UID == cl.ds.UID:
			if pod.DeletionTimestamp == nil {
				errs = append(errs, cl.release(ctx, pod))
			}
		case ref == nil && matches && controller.PodActive(pod):
			ok, err := cl.canAdopt(ctx)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			p := pod.DeepCopy()
			p.OwnerReferences = append(p.OwnerReferences, cl.ownerRef())
			out, err := cl.c.client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
				continue
			}
			owned = append(owned, out)
		}
	}
	return owned, errors.Join(errs...)
}

func (cl *claimer) release(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	var keep []metav1.OwnerReference
	for _, r := range p.OwnerReferences {
		if r.UID != cl.ds.UID {
			keep = append(keep, r)
		}
	}
	p.OwnerReferences = keep
	_, err := cl.c.client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing pod %s: %w", pod.Name, err)
	}
	return nil
}

// enqueueMatching queues every DaemonSet whose selector matches an orphan
// pod, so that one of them adopts it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	if metav1.GetControllerOf(pod) != nil {
		return
	}
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			c.queue.Add(pod.Namespace + "/" + ds.Name)
		}
	}
}
