package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// deleteOptions reads DeleteOptions from the body or the query.
func (h *handler) deleteOptions(r *http.Request) (metav1.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	body, err := readBody(r)
	if err != nil {
		return opts, err
	}
	if len(body) > 0 {
		if _, err := decodeRequest(r.Header.Get("Content-Type"), body, &opts, validateIgnore); err != nil {
			return opts, err
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, errBadRequest("gracePeriodSeconds: %v", err)
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	opts.DryRun = append(opts.DryRun, q["dryRun"]...)
	for _, d := range opts.DryRun {
		if d != "All" {
			return opts, errBadRequest("dryRun may only be set to All, got %q", d)
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return opts, errInvalid(metav1.SchemeGroupVersion.WithKind("DeleteOptions").GroupKind(), "", fieldErrs("propagationPolicy", string(*p), "must be one of Background, Foreground, Orphan"))
		}
		if opts.OrphanDependents != nil {
			return opts, errBadRequest("orphanDependents and propagationPolicy cannot both be set")
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (h *handler) delete(ctx context.Context, r *http.Request) (runtime.Object, int, error) {
	opts, err := h.deleteOptions(r)
	if err != nil {
		return nil, 0, err
	}
	obj, code, err := h.s.deleteObject(ctx, h.rs, h.t.namespace, h.t.name, opts)
	if err != nil {
		return nil, 0, err
	}
	return obj, code, nil
}

// deleteObject deletes or marks for deletion one object and returns it in
// served form with the status code: 200 when gone, 202 when deletion waits
// for finalizers or a grace period.
func (s *Server) deleteObject(ctx context.Context, rs *resource, ns, name string, opts metav1.DeleteOptions) (runtime.Object, int, error) {
	dry := len(opts.DryRun) > 0
	for attempt := 0; ; attempt++ {
		cur, kv, err := rs.get(ctx, s.store, ns, name)
		if err != nil {
			return nil, 0, err
		}
		if _, ok := cur.(*corev1.Namespace); ok && immortalNamespaces[name] {
			return nil, 0, errForbidden(rs.gr(), name, "this namespace may not be deleted")
		}
		if err := s.admitNodeWrite(ctx, rs.gr(), "delete", "", ns, name, nil, cur); err != nil {
			return nil, 0, err
		}
		m := accessor(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, 0, errConflict(rs.gr(), name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, 0, errConflict(rs.gr(), name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		next := cur.DeepCopyObject()
		nm := accessor(next)
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		mark := false
		// The propagation policy is recorded as a finalizer for the
		// garbage collector.
		policy := opts.PropagationPolicy
		if policy == nil && opts.OrphanDependents != nil {
			p := metav1.DeletePropagationBackground
			if *opts.OrphanDependents {
				p = metav1.DeletePropagationOrphan
			}
			policy = &p
		}
		if policy != nil && m.GetDeletionTimestamp() == nil {
			switch *policy {
			case metav1.DeletePropagationForeground:
				nm.SetFinalizers(addString(nm.GetFinalizers(), metav1.FinalizerDeleteDependents))
			case metav1.DeletePropagationOrphan:
				nm.SetFinalizers(addString(nm.GetFinalizers(), metav1.FinalizerOrphanDependents))
			}
		}
		if n, ok := next.(*corev1.Namespace); ok {
			if n.Status.Phase != corev1.NamespaceTerminating || n.DeletionTimestamp == nil {
				n.Status.Phase = corev1.NamespaceTerminating
				mark = true
			}
			if len(n.Spec.Finalizers) > 0 {
				mark = true
			}
		}
		if pod, ok := next.(*corev1.Pod); ok && pod.Spec.NodeName != "" && !podFinished(pod) {
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = *pod.Spec.TerminationGracePeriodSeconds
			}
			if opts.GracePeriodSeconds != nil {
				grace = *opts.GracePeriodSeconds
			}
			if grace > 0 {
				cg := pod.DeletionGracePeriodSeconds
				if cg == nil || grace < *cg {
					t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
					pod.DeletionTimestamp = &t
					pod.DeletionGracePeriodSeconds = &grace
				}
				mark = true
			}
		}
		if len(nm.GetFinalizers()) > 0 {
			mark = true
		}
		if mark {
			if nm.GetDeletionTimestamp() == nil {
				nm.SetDeletionTimestamp(&now)
				zero := int64(0)
				nm.SetDeletionGracePeriodSeconds(&zero)
			}
			if nm.GetDeletionTimestamp() != nil && m.GetDeletionTimestamp() != nil && equalObjects(rs, next, cur) {
				served, err := rs.toServed(cur)
				return served, http.StatusAccepted, err
			}
			if k := rs.stored; k.Generation {
				nm.SetGeneration(m.GetGeneration() + 1)
			}
			if dry {
				served, err := rs.toServed(next)
				return served, http.StatusAccepted, err
			}
			nm.SetResourceVersion("")
			data, err := rs.encodeStored(next)
			if err != nil {
				return nil, 0, err
			}
			rev, err := s.store.Update(ctx, kv.Key, data, kv.Rev)
			if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
				continue
			}
			if err != nil {
				return nil, 0, err
			}
			nm.SetResourceVersion(strconv.FormatInt(rev, 10))
			served, err := rs.toServed(next)
			return served, http.StatusAccepted, err
		}
		if dry {
			served, err := rs.toServed(cur)
			return served, http.StatusOK, err
		}
		if _, err := s.store.DeleteWith(ctx, kv.Key, kv.Rev, claimsOf(cur)); err != nil {
			if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
				continue
			}
			return nil, 0, err
		}
		served, err := rs.toServed(cur)
		return served, http.StatusOK, err
	}
}

// immortalNamespaces hold the cluster's own objects (the kubernetes
// Service among them); like Kubernetes' NamespaceLifecycle admission, the
// server refuses to delete them.
var immortalNamespaces = map[string]bool{metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true}

func podFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func equalObjects(rs *resource, a, b runtime.Object) bool {
	da, err1 := rs.encodeStored(a.DeepCopyObject())
	db, err2 := rs.encodeStored(b.DeepCopyObject())
	return err1 == nil && err2 == nil && string(da) == string(db)
}

func addString(list []string, v string) []string {
	if contains(list, v) {
		return list
	}
	return append(list, v)
}

// deleteCollection deletes every object matching the selectors.
func (h *handler) deleteCollection(ctx context.Context, r *http.Request) (runtime.Object, error) {
	opts, err := h.deleteOptions(r)
	if err != nil {
		return nil, err
	}
	sel, err := h.selectors(r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := h.s.store.List(ctx, h.rs.listPrefix(h.t.namespace), storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	list := h.rs.served.NewList()
	var items []runtime.Object
	for _, kv := range res.KVs {
		obj, err := h.rs.decodeStored(kv)
		if err != nil {
			return nil, err
		}
		if !sel.matches(h.rs, obj) {
			continue
		}
		m := accessor(obj)
		deleted, _, err := h.s.deleteObject(ctx, h.rs, m.GetNamespace(), m.GetName(), opts)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		items = append(items, deleted)
	}
	if err := setListItems(list, items); err != nil {
		return nil, err
	}
	setTypeMeta(list, h.rs.served.GVK.GroupVersion().WithKind(h.rs.served.GVK.Kind+"List"))
	return list, nil
}

// bind serves pods/binding: it sets spec.nodeName once.
func (h *handler) bind(ctx context.Context, r *http.Request) (runtime.Object, error) {
	var b corev1.Binding
	if err := h.decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Target.Name == "" {
		return nil, errInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), h.t.name, fieldErrs("target.name", "", "must be set"))
	}
	if b.Name != "" && b.Name != h.t.name {
		return nil, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", b.Name, h.t.name)
	}
	_, err := h.s.updateObject(ctx, h.rs, h.t.namespace, h.t.name, "binding", dryRun(r.URL.Query()), func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, errConflict(h.rs.gr(), pod.Name, "pod is being deleted, cannot be assigned to a host")
		}
		if pod.Spec.NodeName != "" {
			return nil, errConflict(h.rs.gr(), pod.Name, fmt.Sprintf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, errConflict(h.rs.gr(), pod.Name, "Precondition failed: UID mismatch")
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		pod.ResourceVersion = ""
		return pod, nil
	})
	if err != nil {
		return nil, err
	}
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	return &st, nil
}

func setPodCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			p.Status.Conditions[i] = c
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}
