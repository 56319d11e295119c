package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// subresources. sub is "", "status", "approval" or "finalize".
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
		if err := s.admitNodeWrite(ctx, rs.gr(), "update", sub, ns, name, obj, cur); err != nil {
			return nil, err
		}
		if err := s.admitCertificateUpdate(ctx, sub, obj, cur); err != nil {
			return nil, err
		}
		if err := s.admitRBAC(ctx, obj, cur); err != nil {
			return nil, err
		}
		if sub == "" {
			if err := s.admitQuota(ctx, rs, obj, cur, dry); err != nil {
				return nil, err
			}
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
	// A body naming another UID is a precondition that failed: the object
	// was deleted and recreated under the same name.
	if uid := m.GetUID(); uid != "" && uid != cm.GetUID() {
		return nil, errConflict(rs.gr(), cm.GetName(), fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, cm.GetUID()))
	}
	switch sub {
	case "binding":
		// The binding changes spec.nodeName and the PodScheduled condition.
	case "status":
		// Only the status (and, as upstream allows, nothing else) changes.
		next := cur.DeepCopyObject()
		copyStatus(next, obj)
		next = csrSubresourceUpdate(sub, next, cur)
		accessor(next).SetResourceVersion(m.GetResourceVersion())
		obj, m = next, accessor(next)
	case "approval":
		// Only a CertificateSigningRequest's Approved and Denied
		// conditions change.
		next := cur.DeepCopyObject()
		copyStatus(next, obj)
		next = csrSubresourceUpdate(sub, next, cur)
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
	auditRequest(r, patchBody, nil)
	if err := checkPatch(pt, patchBody); err != nil {
		return nil, err
	}
	apply := func(cur []byte, schema any) ([]byte, error) {
		return applyPatch(pt, cur, patchBody, schema)
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

// Bounds on the work of one patch, whose libraries take no context.
const (
	// maxJSONPatchCopyBytes bounds how much "copy" operations of one JSON
	// patch may add: without it, a patch copying a field into a sibling
	// doubles the object per operation and exhausts memory.
	maxJSONPatchCopyBytes = maxBodyBytes
	// maxJSONPatchOps is Kubernetes' bound on the operations of a JSON
	// patch; 48,000 inserts at the head of a list take 15s.
	maxJSONPatchOps = 10000
	// maxMergeCost bounds the sum of the squared lengths of the lists a
	// strategic merge patch merges (see strategicMergeCost): one list of
	// 2048 items, merged in about half a second.
	maxMergeCost = 1 << 22
	// maxPatchDepth bounds the nesting of a patch, far above that of any
	// served kind: JSON merge patches re-parse every object once per level
	// above it, so 3 MiB of patch nested 9,000 deep take minutes.
	maxPatchDepth = 64
)

func init() {
	// The library offers only this global knob (v4); no caller sets another.
	jsonpatch.AccumulatedCopySizeLimit = maxJSONPatchCopyBytes
}

// checkPatch rejects a malformed patch before the object is read.
func checkPatch(pt string, patch []byte) error {
	if jsonDepth(patch) > maxPatchDepth {
		return errBadRequest("the provided patch is nested deeper than %d levels", maxPatchDepth)
	}
	if pt == patchJSON {
		_, err := decodeJSONPatch(patch)
		return err
	}
	if t := bytes.TrimSpace(patch); len(t) == 0 || t[0] != '{' {
		return errBadRequest("the provided patch must be a JSON object")
	}
	return nil
}

// jsonDepth returns how deep objects and arrays nest in a JSON text.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// decodeJSONPatch decodes a JSON patch, refusing operations without the
// value RFC 6902 requires of them: the library dereferences the missing
// value (a "replace" of the root panics).
func decodeJSONPatch(patch []byte) (jsonpatch.Patch, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, errBadRequest("the provided JSON patch is invalid: %v", err)
	}
	if len(p) > maxJSONPatchOps {
		return nil, newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOps, len(p)))
	}
	for i, op := range p {
		switch op.Kind() {
		case "add", "replace", "test":
			if _, ok := op["value"]; !ok {
				return nil, errBadRequest("the provided JSON patch is invalid: operation %d (%s) has no value", i, op.Kind())
			}
		}
	}
	return p, nil
}

// applyPatch applies a patch of type pt (patchJSON, patchMerge or
// patchStrategic), which has passed checkPatch, to the JSON object cur.
// schema is a typed object of cur's kind, which strategic merge reads its
// list rules from.
func applyPatch(pt string, cur, patch []byte, schema any) ([]byte, error) {
	var out []byte
	var err error
	switch pt {
	case patchJSON:
		p, derr := decodeJSONPatch(patch)
		if derr != nil {
			return nil, derr
		}
		out, err = p.Apply(cur)
	case patchMerge:
		out, err = jsonpatch.MergePatch(cur, patch)
	case patchStrategic:
		if err := checkStrategicPatch(cur, patch, schema); err != nil {
			return nil, err
		}
		out, err = strategicpatch.StrategicMergePatch(cur, patch, schema)
	default:
		return nil, newStatus(http.StatusUnsupportedMediaType, metav1StatusReasonUnsupportedMediaType, fmt.Sprintf("unsupported patch type %q", pt))
	}
	if err != nil {
		return nil, errUnprocessable(err)
	}
	return out, nil
}

// checkStrategicPatch refuses what apimachinery's strategic merge cannot
// apply safely. It compares merge keys and list items with == and uses them
// as map keys, so an object or array there panics; and it merges a list in
// time quadratic in its length (each item is found, and sorted, by linear
// scans), so a 3 MiB patch of list items, or a small patch of a long stored
// list, runs for hours.
func checkStrategicPatch(cur, patch []byte, schema any) error {
	var curMap, patchMap map[string]any
	if json.Unmarshal(cur, &curMap) != nil || json.Unmarshal(patch, &patchMap) != nil {
		return nil // strategic merge refuses it
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(schema)
	if err != nil {
		return nil
	}
	cost, err := strategicMergeCost(curMap, patchMap, meta)
	if err != nil {
		return errUnprocessable(err)
	}
	if cost > maxMergeCost {
		return newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "the strategic merge patch merges lists too long to merge; use a JSON merge patch or a JSON patch")
	}
	return nil
}

// strategicMergeCost follows strategic merge's walk of patch over cur (its
// mergeMap): it sums the squared lengths of the lists that get merged and
// checks their items. A value missing from cur is taken from the patch
// as it is; a field the schema does not know fails the merge, so neither
// is looked into.
func strategicMergeCost(cur, patch map[string]any, meta strategicpatch.LookupPatchMeta) (int, error) {
	if _, ok := patch["$patch"]; ok {
		return 0, nil
	}
	if keys, ok := patch["$retainKeys"].([]any); ok {
		if err := mergeItems("$retainKeys", keys, ""); err != nil {
			return 0, err
		}
	}
	cost := 0
	for k, pv := range patch {
		var c int
		var err error
		switch {
		case strings.HasPrefix(k, "$setElementOrder/"), strings.HasPrefix(k, "$deleteFromPrimitiveList/"):
			c, err = mergeDirectiveCost(k, cur, patch, meta)
		case strings.HasPrefix(k, "$"):
		default:
			switch pv := pv.(type) {
			case map[string]any:
				cm, ok := cur[k].(map[string]any)
				sub, _, lerr := meta.LookupPatchMetadataForStruct(k)
				if ok && lerr == nil {
					c, err = strategicMergeCost(cm, pv, sub)
				}
			case []any:
				cl, ok := cur[k].([]any)
				sub, pm, lerr := meta.LookupPatchMetadataForSlice(k)
				if ok && lerr == nil && slices.Contains(pm.GetPatchStrategies(), "merge") {
					c, err = mergeListCost(k, cl, pv, sub, pm.GetPatchMergeKey())
				}
			}
		}
		if err != nil {
			return 0, err
		}
		if cost += c; cost > maxMergeCost {
			return cost, nil
		}
	}
	return cost, nil
}

// mergeDirectiveCost is the cost of a $setElementOrder/ or
// $deleteFromPrimitiveList/ list, which order or delete items of the list
// they name with the same scans as a merge.
func mergeDirectiveCost(k string, cur, patch map[string]any, meta strategicpatch.LookupPatchMeta) (int, error) {
	directive, key, _ := strings.Cut(k, "/")
	list, ok := patch[k].([]any)
	_, pm, err := meta.LookupPatchMetadataForSlice(key)
	if !ok || err != nil {
		return 0, nil
	}
	mergeKey := pm.GetPatchMergeKey()
	cl, inCur := cur[key].([]any)
	if directive == "$deleteFromPrimitiveList" && !inCur {
		return 0, nil
	}
	if err := mergeItems(k, list, mergeKey); err != nil {
		return 0, err
	}
	n := len(list) + len(cl)
	if pl, ok := patch[key].([]any); ok && directive == "$setElementOrder" {
		// The order applies to the patch's list even where cur has none.
		if err := mergeItems(key, pl, mergeKey); err != nil {
			return 0, err
		}
		n += len(pl)
	}
	return n * n, nil
}

// mergeListCost is the cost of merging the list pl into cl, and of merging
// each of its items into the item of cl with the same merge key.
func mergeListCost(k string, cl, pl []any, meta strategicpatch.LookupPatchMeta, mergeKey string) (int, error) {
	if err := mergeItems(k, pl, mergeKey); err != nil {
		return 0, err
	}
	n := len(cl) + len(pl)
	cost := n * n
	if mergeKey == "" || cost > maxMergeCost {
		return cost, nil
	}
	byKey := make(map[any]map[string]any, len(cl))
	for _, item := range cl {
		if m, ok := item.(map[string]any); ok && scalar(m[mergeKey]) {
			byKey[m[mergeKey]] = m
		}
	}
	for _, item := range pl {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if cm, ok := byKey[m[mergeKey]]; ok {
			c, err := strategicMergeCost(cm, m, meta)
			if err != nil {
				return 0, err
			}
			if cost += c; cost > maxMergeCost {
				return cost, nil
			}
		}
	}
	return cost, nil
}

// mergeItems checks that strategic merge can compare the items of a list:
// scalars, or objects whose merge key is a scalar.
func mergeItems(k string, items []any, mergeKey string) error {
	for i, item := range items {
		m, isMap := item.(map[string]any)
		switch {
		case isMap && mergeKey != "":
			if !scalar(m[mergeKey]) {
				return fmt.Errorf("%s[%d]: the merge key %q must be a string, number or boolean", k, i, mergeKey)
			}
		case !scalar(item):
			return fmt.Errorf("%s[%d]: must be a string, number or boolean", k, i)
		}
	}
	return nil
}

// scalar reports whether a decoded JSON value is comparable with ==.
func scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
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
