package controller

import (
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// PodActive reports whether a pod counts towards its owner's replicas:
// not finished and not being deleted.
func PodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// ReadySince returns when the pod became Ready, and whether it is.
func ReadySince(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	_, ok := ReadySince(p)
	return ok
}

// PodAvailable reports whether the pod has been ready for at least
// minReady at now. A ready pod without a transition time counts as
// available only when minReady is zero.
func PodAvailable(p *corev1.Pod, minReady time.Duration, now time.Time) bool {
	since, ok := ReadySince(p)
	if !ok {
		return false
	}
	if minReady == 0 {
		return true
	}
	return !since.IsZero() && !since.Add(minReady).After(now)
}

// SlowStart runs do for every item, concurrently in batches of 1, 2, 4, …
// After a batch with an error the rest are not tried — skip is called for
// each of them — and that batch's errors are returned: a template the
// server refuses costs a few requests, not one per item.
func SlowStart[T any](items []T, do func(T) error, skip func(T)) error {
	done := 0
	for _, size := range slowStartBatches(len(items)) {
		batch := items[done : done+size]
		done += size
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, it := range batch {
			wg.Go(func() { errs[i] = do(it) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			for _, it := range items[done:] {
				skip(it)
			}
			return err
		}
	}
	return nil
}

// slowStartBatches returns the sizes of SlowStart's batches for n items.
func slowStartBatches(n int) []int {
	var out []int
	for size := 1; n > 0; size *= 2 {
		b := min(size, n)
		out = append(out, b)
		n -= b
	}
	return out
}

// PodFromTemplate returns a pod built from t, controlled by owner (of
// kind gvk), named by the server from owner's name unless the caller sets
// a name.
func PodFromTemplate(t *corev1.PodTemplateSpec, owner metav1.Object, gvk schema.GroupVersionKind) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    owner.GetName() + "-",
			Namespace:       owner.GetNamespace(),
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PodFromTombstone returns the pod of an informer delete notification.
func PodFromTombstone(obj any) (*corev1.Pod, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}
