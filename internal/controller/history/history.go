// Package history keeps the ControllerRevisions through which
// StatefulSets and DaemonSets remember their past pod templates: one
// revision per distinct template, named by its hash, numbered in the
// order the templates were used, and recorded as the patch that
// `kubectl rollout undo` sends back to the owner.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// HashLabel is the label carrying a revision's hash on the revision and
// on the pods made from it.
const HashLabel = "controller-revision-hash"

// Data returns the revision content for template: a strategic merge
// patch that replaces the owner's template, which is what kubectl applies
// on rollback and reads to show a revision.
func Data(template *corev1.PodTemplateSpec) ([]byte, error) {
	t, err := runtime.DefaultUnstructuredConverter.ToUnstructured(template)
	if err != nil {
		return nil, err
	}
	t["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": t}})
}

// Hash names data; collisionCount changes the name when two different
// contents hash alike.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.Itoa(int(*collisionCount))))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Owned returns the revisions in owner's namespace that owner controls
// and sel matches, oldest revision first.
func Owned(lister appslisters.ControllerRevisionLister, owner metav1.Object, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := lister.ControllerRevisions(owner.GetNamespace()).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOf(r); ref != nil && ref.UID == owner.GetUID() {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Revision != out[j].Revision {
			return out[i].Revision < out[j].Revision
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Ensure returns owner's revision holding data, creating it when none
// does. The current template always holds the highest revision number:
// returning to an older template (a rollback) renumbers its revision.
// revisions are owner's, from Owned. A name taken by a revision with
// other content bumps *collisionCount, which the caller must persist in
// the owner's status; Ensure then fails so the caller retries with it.
func Ensure(ctx context.Context, client kubernetes.Interface, owner metav1.Object, gvk schema.GroupVersionKind, lbls map[string]string, data []byte, collisionCount *int32, revisions []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	var next int64 = 1
	if n := len(revisions); n > 0 {
		next = revisions[n-1].Revision + 1
	}
	for _, r := range revisions {
		if string(r.Data.Raw) != string(data) {
			continue
		}
		if r.Revision == next-1 {
			return r, nil
		}
		up := r.DeepCopy()
		up.Revision = next
		return client.AppsV1().ControllerRevisions(up.Namespace).Update(ctx, up, metav1.UpdateOptions{})
	}
	hash := Hash(data, collisionCount)
	l := make(map[string]string, len(lbls)+1)
	for k, v := range lbls {
		l[k] = v
	}
	l[HashLabel] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            owner.GetName() + "-" + hash,
			Namespace:       owner.GetNamespace(),
			Labels:          l,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: next,
	}
	out, err := client.AppsV1().ControllerRevisions(rev.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return out, err
	}
	existing, gerr := client.AppsV1().ControllerRevisions(rev.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
	if gerr != nil {
		return nil, gerr
	}
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == owner.GetUID() && string(existing.Data.Raw) == string(data) {
		return existing, nil // our own, not yet in the cache
	}
	*collisionCount++
	return nil, fmt.Errorf("controller revision %s/%s exists with other content; collision count now %d: %w", rev.Namespace, rev.Name, *collisionCount, err)
}

// Truncate deletes the oldest of revisions beyond limit that no pod or
// status names (inUse holds revision names).
func Truncate(ctx context.Context, client kubernetes.Interface, revisions []*appsv1.ControllerRevision, inUse map[string]bool, limit int) error {
	var spare []*appsv1.ControllerRevision
	for _, r := range revisions {
		if !inUse[r.Name] {
			spare = append(spare, r)
		}
	}
	for i := 0; i < len(spare)-limit; i++ {
		err := client.AppsV1().ControllerRevisions(spare[i].Namespace).Delete(ctx, spare[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting controller revision %s: %w", spare[i].Name, err)
		}
	}
	return nil
}
