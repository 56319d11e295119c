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
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-sh/bosun/internal/controller"
)

// claimer adopts orphans — pods and ControllerRevisions — for one
// DaemonSet in one reconcile.
type claimer struct {
	c   *Controller
	ds  *appsv1.DaemonSet
	sel labels.Selector
	pc  controller.Claim
}

func newClaimer(c *Controller, ds *appsv1.DaemonSet, sel labels.Selector) *claimer {
	return &claimer{c: c, ds: ds, sel: sel, pc: controller.Claim{
		Client:    c.client,
		Owner:     ds,
		Kind:      controllerKind,
		Matches:   func(p *corev1.Pod) bool { return sel.Matches(labels.Set(p.Labels)) },
		Adoptable: controller.PodActive,
		Live: func(ctx context.Context) (types.UID, bool, error) {
			live, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return "", false, err
			}
			return live.UID, live.DeletionTimestamp != nil, nil
		},
	}}
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
		ok, err := cl.pc.MayAdopt(ctx)
		if err != nil || !ok {
			return err
		}
		up := r.DeepCopy()
		up.OwnerReferences = append(up.OwnerReferences, *metav1.NewControllerRef(cl.ds, controllerKind))
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
	return cl.pc.Pods(ctx, all)
}

// adopters returns the keys of the DaemonSets whose selector matches an
// orphan pod, so that one of them adopts it.
func (c *Controller) adopters(pod *corev1.Pod) []string {
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			keys = append(keys, pod.Namespace+"/"+ds.Name)
		}
	}
	return keys
}
