package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// PodEvents routes the pod events of a workload controller: a pod with a
// controller reference of Kind queues its owner's key and settles the
// owner's expectations; an orphan, or a pod whose labels changed, queues
// the owners that could adopt it.
type PodEvents struct {
	Queue *Queue
	Kind  schema.GroupVersionKind
	// Creates and Deletes are settled as pods appear and go; either may
	// be nil, and they may be the same.
	Creates, Deletes *Expectations
	// Owner, when set, returns the key of the owner controlling pod, or
	// false when the cache does not hold that owner (say, it was deleted
	// and recreated under the same name). Nil trusts the reference's name.
	Owner func(pod *corev1.Pod, ref *metav1.OwnerReference) (string, bool)
	// Adopters returns the keys of the owners whose selector matches an
	// orphan pod; nil for controllers that never adopt.
	Adopters func(pod *corev1.Pod) []string
}

// Handler returns the informer handler for pods.
func (e *PodEvents) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{AddFunc: e.add, UpdateFunc: e.update, DeleteFunc: e.delete}
}

func (e *PodEvents) owner(pod *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != e.Kind.Kind || ref.APIVersion != e.Kind.GroupVersion().String() {
		return "", false
	}
	if e.Owner != nil {
		return e.Owner(pod, ref)
	}
	return pod.Namespace + "/" + ref.Name, true
}

func (e *PodEvents) adopters(pod *corev1.Pod) {
	if e.Adopters == nil || metav1.GetControllerOf(pod) != nil {
		return
	}
	for _, k := range e.Adopters(pod) {
		e.Queue.Add(k)
	}
}

func (e *PodEvents) add(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, ok := e.owner(pod)
	if !ok {
		e.adopters(pod)
		return
	}
	if pod.DeletionTimestamp != nil {
		if e.Deletes != nil {
			e.Deletes.Deleted(key, pod.UID)
		}
	} else if e.Creates != nil {
		e.Creates.Created(key)
	}
	e.Queue.Add(key)
}

func (e *PodEvents) update(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if key, ok := e.owner(old); ok {
		e.Queue.Add(key)
	}
	if key, ok := e.owner(pod); ok {
		if pod.DeletionTimestamp != nil && old.DeletionTimestamp == nil && e.Deletes != nil {
			e.Deletes.Deleted(key, pod.UID)
		}
		e.Queue.Add(key)
	}
	if !labels.Equals(old.Labels, pod.Labels) || metav1.GetControllerOf(pod) == nil {
		e.adopters(pod)
	}
}

func (e *PodEvents) delete(obj any) {
	pod, ok := PodFromTombstone(obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != e.Kind.Kind {
		return
	}
	// The owner may be gone too; settle by name either way.
	key := pod.Namespace + "/" + ref.Name
	if e.Deletes != nil {
		e.Deletes.Deleted(key, pod.UID)
	}
	e.Queue.Add(key)
}

// Claim sorts the pods of one owner's namespace in one reconcile: pods it
// controls and still matches are its own, owned pods it no longer
// matches are released, and orphans it matches are adopted — after one
// check against the server that the owner is still the object the cache
// holds, so that an owner deleted with orphans and recreated under its
// name does not take them twice.
type Claim struct {
	Client kubernetes.Interface
	Owner  metav1.Object
	Kind   schema.GroupVersionKind
	// Matches says whether pod belongs to the owner (its selector, and
	// for some kinds its name).
	Matches func(pod *corev1.Pod) bool
	// Adoptable says whether a matching orphan may be taken.
	Adoptable func(pod *corev1.Pod) bool
	// Live reads the owner from the server: its UID and whether it is
	// being deleted.
	Live func(ctx context.Context) (types.UID, bool, error)

	checked, live bool
}

// Pods returns the owner's pods among all (owned pods being deleted
// included), adopting and releasing as it goes.
func (c *Claim) Pods(ctx context.Context, all []*corev1.Pod) ([]*corev1.Pod, error) {
	var owned []*corev1.Pod
	var errs []error
	for _, pod := range all {
		ref := metav1.GetControllerOf(pod)
		matches := c.Matches(pod)
		switch {
		case ref != nil && ref.UID == c.Owner.GetUID() && matches:
			owned = append(owned, pod)
		case ref != nil && ref.UID == c.Owner.GetUID():
			if pod.DeletionTimestamp == nil {
				if err := c.release(ctx, pod); err != nil {
					errs = append(errs, err)
				}
			}
		case ref == nil && matches && c.Adoptable(pod):
			ok, err := c.MayAdopt(ctx)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			p := pod.DeepCopy()
			p.OwnerReferences = append(p.OwnerReferences, *metav1.NewControllerRef(c.Owner, c.Kind))
			out, err := c.Client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
				continue
			}
			owned = append(owned, out)
		}
	}
	return owned, errors.Join(errs...)
}

// MayAdopt reports whether the owner may take orphans (of any kind): it
// is not being deleted, and the server still holds it.
func (c *Claim) MayAdopt(ctx context.Context) (bool, error) {
	if c.Owner.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if !c.checked {
		uid, deleting, err := c.Live(ctx)
		if err != nil {
			return false, err
		}
		c.live, c.checked = uid == c.Owner.GetUID() && !deleting, true
	}
	return c.live, nil
}

func (c *Claim) release(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	var keep []metav1.OwnerReference
	for _, r := range p.OwnerReferences {
		if r.UID != c.Owner.GetUID() {
			keep = append(keep, r)
		}
	}
	p.OwnerReferences = keep
	_, err := c.Client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing pod %s: %w", pod.Name, err)
	}
	return nil
}
