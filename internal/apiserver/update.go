package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/storage"
)

// mutation computes the desired object from the current one (both in
// stored form; cur is a private copy). A non-empty resourceVersion on the
// result is a precondition.
type mutation func(cur runtime.Object) (runtime.Object, error)

// updateObject is the read-modify-write loop behind PUT, PATCH and the
// subresources. sub is "", "status" or "finalize".
func (s *Server) updateObject(ctx context.Context, rs *resource, ns, name, sub string, dry bool, mutate mutation) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		cur, kv, err := rs.get(ctx, s.store, ns, name)
		if err != nil {
			return nil, err
		}
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		m, cm := accessor(obj), accessor(cur)
		precondition := m.GetResourceVersion() != ""
		if precondition && m.GetResourceVersion() != cm.GetResourceVersion() {
			return nil, errConflict(rs.gr(), name, "the object has been modified; please apply your changes to the latest version and try again")
		}
		if m.GetName() != name {
			return nil, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name)
		}
		if rs.stored.Namespaced && m.GetNamespace() != ns {
			if m.GetNamespace() != "" {
				return nil, errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
			}
		}
		m.SetResourceVersion(cm.GetResourceVersion())
		obj, err = s.prepareUpdate(rs, obj, cur, sub)
		if err != nil {
			return nil, err
		}
		m = accessor(obj)
		if errs := s.validateUpdate(rs, obj, cur, sub); len(errs) > 0 {
			return nil, errInvalid(rs.served.GVK.GroupKind(), name, errs)
		}
		alloc, err := s.allocate(ctx, obj, cur)
		if err != nil {
			return nil, err
		}
		if finished(obj) {
			if dry {
				return rs.toServed(obj)
			}
			if _, err := s.store.DeleteWith(ctx, kv.Key, kv.Rev, claimsOf(cur)); err != nil {
				if errors.Is(err, storage.ErrConflict) && !precondition && attempt < maxUpdateRetries {
					continue
				}
				return nil, err
			}
			return rs.toServed(obj)
		}
		m.SetResourceVersion("")
		data, err := rs.encodeStored(obj)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, kv.Value) || dry {
			// Nothing changed: Kubernetes writes nothing and keeps the
			// resourceVersion.
			m.SetResourceVersion(cm.GetResourceVersion())
			return rs.toServed(obj)
		}
		rev, err := s.store.UpdateWith(ctx, kv.Key, data, kv.Rev, alloc.claims(), alloc.released)
		switch {
		case errors.Is(err, storage.ErrConflict) && !precondition && attempt < maxUpdateRetries:
			continue
		case errors.Is(err, storage.ErrClaimTaken):
			return nil, alloc.conflictError(rs, name)
		case err != nil:
			return nil, err
		}
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		return rs.toServed(obj)
	}
}

// prepareUpdate keeps what a client may not change and applies the kind's
// update rules.
func (s *Server) prepareUpdate(rs *resource, obj, cur runtime.Object, sub string) (runtime.Object, error) {
	k := rs.stored
	m, cm := accessor(obj), accessor(cur)
	switch sub {
	case "binding":
		// The binding changes spec.nodeName and the PodScheduled condition.
	case "status":
		// Only the status (and, as upstream allows, nothing else) changes.
		next := cur.DeepCopyObject()
		copyStatus(next, obj)
		accessor(next).SetResourceVersion(m.GetResourceVersion())
		obj, m = next, accessor(next)
	case "finalize":
		next := cur.DeepCopyObject().(*corev1.Namespace)
		next.Spec.Finalizers = obj.(*corev1.Namespace).Spec.Finalizers
		next.ResourceVersion = m.GetResourceVersion()
		obj, m = next, next
	default:
		if k.HasStatus {
			copyStatus(obj, cur)
		}
		if ns, ok := obj.(*corev1.Namespace); ok {
			ns.Spec.Finalizers = cur.(*corev1.Namespace).Spec.Finalizers
		}
		if k.PrepareForUpdate != nil {
			k.PrepareForUpdate(obj, cur)
		}
		if k.Defaults != nil {
			k.Defaults(obj)
		}
	}
	m.SetNamespace(cm.GetNamespace())
	m.SetUID(cm.GetUID())
	m.SetCreationTimestamp(cm.GetCreationTimestamp())
	m.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	m.SetManagedFields(cm.GetManagedFields())
	m.SetGeneration(cm.GetGeneration())
	m.SetSelfLink("")
	if k.Generation && sub == "" && !specEqual(obj, cur) {
		m.SetGeneration(cm.GetGeneration() + 1)
	}
	// Metadata validation refuses new finalizers on an object being
	// deleted, with 422 as in Kubernetes.
	return obj, nil
}

// finished reports whether an object marked for deletion has no
// finalizers left and should now be removed.
func finished(obj runtime.Object) bool {
	m := accessor(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0 {
		return false
	}
	return true
}

// replace serves PUT on an object or its status, scale or finalize.
func (h *handler) replace(ctx context.Context, r *http.Request) (runtime.Object, error) {
	q := r.URL.Query()
	if err := validDryRun(q); err != nil {
		return nil, err
	}
	if h.t.subresource == "scale" {
		scale := &autoscalingScale{}
		if err := h.decodeBody(r, &scale.Scale); err != nil {
			return nil, err
		}
		return h.updateScale(ctx, dryRun(q), func(*autoscalingScale) (*autoscalingScale, error) { return scale, nil })
	}
	body := h.rs.served.New()
	if err := h.decodeBody(r, body); err != nil {
		return nil, err
	}
	if err := h.checkBodyKind(body); err != nil {
		return nil, err
	}
	stored, err := h.rs.toStored(body)
	if err != nil {
		return nil, errBadRequest("converting: %v", err)
	}
	return h.s.updateObject(ctx, h.rs, h.t.namespace, h.t.name, h.t.subresource, dryRun(q), func(runtime.Object) (runtime.Object, error) {
		return stored.DeepCopyObject(), nil
	})
}

// patch types.
const (
	patchJSON      = "application/json-patch+json"
	patchMerge     = "application/merge-patch+json"
	patchStrategic = "application/strategic-merge-patch+json"
	patchApply     = "application/apply-patch+yaml"
)

// patch serves PATCH on an object or its status or scale.
func (h *handler) patch(ctx context.Context, r *http.Request) (runtime.Object, error) {
	q := r.URL.Query()
	if err := validDryRun(q); err != nil {
		return nil, err
	}
	mode, err := parseFieldValidation(q.Get("fieldValidation"))
	if err != nil {
		return nil, err
	}
	pt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch pt {
	case patchJSON, patchMerge, patchStrategic:
	case patchApply:
		return nil, newStatus(http.StatusUnsupportedMediaType, metav1StatusReasonUnsupportedMediaType, "server-side apply (application/apply-patch+yaml) is not supported by this server yet; use client-side `kubectl apply` (without --server-side)")
	default:
		return nil, newStatus(http.StatusUnsupportedMediaType, metav1StatusReasonUnsupportedMediaType, fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s", patchJSON, patchMerge, patchStrategic))
	}
	patchBody, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if pt == patchJSON {
		if _, err := jsonpatch.DecodePatch(patchBody); err != nil {
			return nil, errBadRequest("the provided JSON patch is invalid: %v", err)
		}
	} else if len(bytes.TrimSpace(patchBody)) == 0 || bytes.TrimSpace(patchBody)[0] != '{' {
		return nil, errBadRequest("the provided patch must be a JSON object")
	}
	apply := func(cur []byte, schema any) ([]byte, error) {
		var out []byte
		var err error
		switch pt {
		case patchJSON:
			p, _ := jsonpatch.DecodePatch(patchBody)
			out, err = p.Apply(cur)
		case patchMerge:
			out, err = jsonpatch.MergePatch(cur, patchBody)
		case patchStrategic:
			out, err = strategicpatch.StrategicMergePatch(cur, patchBody, schema)
		}
		if err != nil {
			return nil, errUnprocessable(err)
		}
		return out, nil
	}
	if h.t.subresource == "scale" {
		return h.updateScale(ctx, dryRun(q), func(cur *autoscalingScale) (*autoscalingScale, error) {
			curJSON, err := fastJSON.Marshal(&cur.Scale)
			if err != nil {
				return nil, err
			}
			out, err := apply(curJSON, cur.Scale)
			if err != nil {
				return nil, err
			}
			next := &autoscalingScale{}
			warns, err := decodeInto(out, &next.Scale, mode)
			h.warnings = append(h.warnings, warns...)
			if err != nil {
				return nil, err
			}
			if next.ResourceVersion == cur.ResourceVersion {
				next.ResourceVersion = ""
			}
			return next, nil
		})
	}
	return h.s.updateObject(ctx, h.rs, h.t.namespace, h.t.name, h.t.subresource, dryRun(q), func(cur runtime.Object) (runtime.Object, error) {
		served, err := h.rs.toServed(cur)
		if err != nil {
			return nil, err
		}
		curRV := accessor(served).GetResourceVersion()
		curJSON, err := fastJSON.Marshal(served)
		if err != nil {
			return nil, err
		}
		out, err := apply(curJSON, h.rs.served.New())
		if err != nil {
			return nil, err
		}
		next := h.rs.served.New()
		warns, err := decodeInto(out, next, mode)
		if err != nil {
			return nil, err
		}
		h.warnings = append(h.warnings[:0], warns...)
		if err := h.checkBodyKind(next); err != nil {
			return nil, err
		}
		if accessor(next).GetResourceVersion() == curRV {
			accessor(next).SetResourceVersion("")
		}
		return h.rs.toStored(next)
	})
}

func errUnprocessable(err error) error {
	return newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, err.Error())
}

var _ = apiequality.Semantic

// validateUpdate validates an update; a binding changes only what the
// server itself set, so only metadata is checked.
func (s *Server) validateUpdate(rs *resource, obj, cur runtime.Object, sub string) field.ErrorList {
	if sub == "binding" {
		return apivalidation.ValidateObjectMetaAccessorUpdate(accessor(obj), accessor(cur), field.NewPath("metadata"))
	}
	return s.validate(rs, obj, cur)
}
