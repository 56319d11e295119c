package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/storage"
)

// requestTimeout bounds every non-watch request.
const requestTimeout = 60 * time.Second

// maxUpdateRetries bounds the read-modify-write loop of unconditional
// updates and patches under contention. With n writers on one object an
// attempt wins about one time in n, so the bound must be far above n:
// 64 left 16 concurrent patchers with 409s. Kubernetes retries until the
// request times out; requestTimeout still bounds the loop here.
const maxUpdateRetries = 2048

// handler serves one request on one resource.
type handler struct {
	s        *Server
	rs       *resource
	t        target
	warnings []string
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t := h.t
	if !h.subresourceKnown() {
		writeStatus(w, r, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource").s)
		return
	}
	if _, ok := podStreams[t.subresource]; ok {
		h.servePodStream(w, r)
		return
	}
	if t.subresource == "proxy" {
		h.serveNodeProxy(w, r)
		return
	}
	if r.Method == http.MethodGet && (q.Get("watch") == "true" || q.Get("watch") == "1") && t.name == "" {
		h.watch(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	ctx = withWarnings(ctx, &h.warnings)
	var (
		obj  runtime.Object
		code = http.StatusOK
		err  error
	)
	switch {
	case r.Method == http.MethodGet && t.name == "":
		h.list(ctx, w, r)
		return
	case r.Method == http.MethodGet:
		obj, err = h.get(ctx, q)
	case r.Method == http.MethodPost && t.name == "":
		obj, err = h.create(ctx, r)
		code = http.StatusCreated
	case r.Method == http.MethodPost && t.subresource == "binding":
		obj, err = h.bind(ctx, r)
		code = http.StatusCreated
	case r.Method == http.MethodPost && t.subresource == "eviction":
		obj, err = h.evict(ctx, r)
		code = http.StatusCreated
	case r.Method == http.MethodPost && t.subresource == "token":
		obj, err = h.requestToken(ctx, r)
		code = http.StatusCreated
	case r.Method == http.MethodPut && t.name != "":
		obj, err = h.replace(ctx, r)
	case r.Method == http.MethodPatch && t.name != "":
		obj, err = h.patch(ctx, r)
	case r.Method == http.MethodDelete && t.name != "" && t.subresource == "":
		obj, code, err = h.delete(ctx, r)
	case r.Method == http.MethodDelete && t.name == "":
		obj, err = h.deleteCollection(ctx, r)
	default:
		err = errMethodNotAllowed(r.Method)
	}
	for _, wmsg := range h.warnings {
		w.Header().Add("Warning", `299 - `+strconv.Quote(wmsg))
	}
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), t.name))
		return
	}
	if dryRun(q) && code == http.StatusCreated && t.subresource == "" {
		code = http.StatusCreated
	}
	h.respond(w, r, code, obj)
}

// subresourceKnown reports whether the path's subresource exists.
func (h *handler) subresourceKnown() bool {
	k := h.rs.stored
	switch h.t.subresource {
	case "":
		return true
	case "status":
		return k.HasStatus
	case "scale":
		return h.rs.served.Scale != nil
	case "binding", "eviction", "log", "exec", "attach", "portforward":
		return k.GVK.Kind == "Pod" && k.GVK.Group == ""
	case "finalize":
		return k.GVK.Kind == "Namespace"
	case "proxy":
		return k.GVK.Kind == "Node" && k.GVK.Group == ""
	case "token":
		return k.GVK.Kind == "ServiceAccount" && k.GVK.Group == ""
	case "approval":
		return k.GVK.Kind == "CertificateSigningRequest"
	}
	return false
}

func dryRun(q map[string][]string) bool {
	for _, v := range q["dryRun"] {
		if v == "All" {
			return true
		}
	}
	return false
}

func validDryRun(q map[string][]string) error {
	for _, v := range q["dryRun"] {
		if v != "All" {
			return errBadRequest("dryRun may only be set to All, got %q", v)
		}
	}
	return nil
}

// get serves GET of one object or its status or scale.
func (h *handler) get(ctx context.Context, q map[string][]string) (runtime.Object, error) {
	obj, _, err := h.rs.get(ctx, h.s.store, h.t.namespace, h.t.name)
	if err != nil {
		return nil, err
	}
	if h.t.subresource == "scale" {
		return h.scaleOf(obj)
	}
	return h.rs.toServed(obj)
}

// decodeBody decodes a request body into a new served object and checks
// its kind.
func (h *handler) decodeBody(r *http.Request, into runtime.Object) error {
	mode, err := parseFieldValidation(r.URL.Query().Get("fieldValidation"))
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	warns, err := decodeRequest(r.Header.Get("Content-Type"), body, into, mode)
	if err != nil {
		return err
	}
	auditRequest(r, body, into)
	h.warnings = append(h.warnings, warns...)
	return nil
}

// create serves POST on a collection.
func (h *handler) create(ctx context.Context, r *http.Request) (runtime.Object, error) {
	q := r.URL.Query()
	if err := validDryRun(q); err != nil {
		return nil, err
	}
	obj := h.rs.served.New()
	if err := h.decodeBody(r, obj); err != nil {
		return nil, err
	}
	if err := h.checkBodyKind(obj); err != nil {
		return nil, err
	}
	return h.s.createObject(ctx, h.rs, h.t.namespace, obj, dryRun(q))
}

// checkBodyKind makes sure a body's apiVersion and kind, when given, are
// the endpoint's.
func (h *handler) checkBodyKind(obj runtime.Object) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	want := h.rs.served.GVK
	if gvk.Kind != "" && gvk.Kind != want.Kind {
		return errBadRequest("the kind of the provided object %q does not match the kind of the endpoint %q", gvk.Kind, want.Kind)
	}
	if gvk.Version != "" && gvk.GroupVersion() != want.GroupVersion() {
		return errBadRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion().String(), want.GroupVersion().String())
	}
	setTypeMeta(obj, want)
	return nil
}

// createObject validates and stores a new object given in served form.
// The namespace comes from the request path.
func (s *Server) createObject(ctx context.Context, rs *resource, ns string, obj runtime.Object, dry bool) (runtime.Object, error) {
	m := accessor(obj)
	if rs.served.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if m.GetNamespace() != ns {
			return nil, errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetResourceVersion() != "" {
		return nil, errBadRequest("resourceVersion should not be set on objects to be created")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(generateName(m.GetGenerateName()))
	}
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	m.SetManagedFields(nil)
	m.SetSelfLink("")

	if rs.served.StoredAs != nil {
		if rs.served.Defaults != nil {
			rs.served.Defaults(obj)
		}
		// The served version's own rules apply to what the client sent.
		if v := rs.served.Validate; v != nil {
			if errs := v(obj, nil); len(errs) > 0 {
				return nil, errInvalid(rs.served.GVK.GroupKind(), m.GetName(), errs)
			}
		}
	}
	stored, err := rs.toStored(obj)
	if err != nil {
		return nil, errBadRequest("converting: %v", err)
	}
	k := rs.stored
	sm := accessor(stored)
	if k.HasStatus && k.PrepareForCreate == nil {
		clearStatus(stored)
	}
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(stored)
	}
	if err := s.admitPriority(ctx, stored); err != nil {
		return nil, err
	}
	if err := s.admitIngressClass(ctx, stored); err != nil {
		return nil, err
	}
	if err := s.admitDefaultStorageClass(ctx, stored); err != nil {
		return nil, err
	}
	if k.Defaults != nil {
		k.Defaults(stored)
	}
	if err := s.admitLimitRanges(ctx, stored); err != nil {
		return nil, err
	}
	if err := s.admitServiceAccount(ctx, stored); err != nil {
		return nil, err
	}
	if err := s.admitCertificateRequest(ctx, stored); err != nil {
		return nil, err
	}
	if k.Generation {
		sm.SetGeneration(1)
	}
	if errs := s.validate(rs, stored, nil); len(errs) > 0 {
		return nil, errInvalid(rs.served.GVK.GroupKind(), sm.GetName(), errs)
	}
	if rs.stored.Namespaced {
		ns, err := s.namespaceAccepts(ctx, rs, sm.GetNamespace(), sm.GetName())
		if err != nil {
			return nil, err
		}
		if err := admitPodSecurity(ctx, ns, stored); err != nil {
			return nil, err
		}
	}
	if err := s.admitNodeWrite(ctx, rs.gr(), "create", "", sm.GetNamespace(), sm.GetName(), stored, nil); err != nil {
		return nil, err
	}
	if err := s.admitRBAC(ctx, stored, nil); err != nil {
		return nil, err
	}
	if err := s.admitQuota(ctx, rs, stored, nil, dry); err != nil {
		return nil, err
	}
	pristine := stored.DeepCopyObject()
	var rev int64
	for attempt := 0; ; attempt++ {
		stored = pristine.DeepCopyObject()
		sm = accessor(stored)
		alloc, err := s.allocate(ctx, stored, nil)
		if err != nil {
			return nil, err
		}
		if dry {
			// Nothing is written, but the answer must be the real create's.
			_, err := s.store.Get(ctx, rs.key(sm.GetNamespace(), sm.GetName()))
			if err == nil {
				return nil, errAlreadyExists(rs.gr(), sm.GetName())
			}
			if !errors.Is(err, storage.ErrNotFound) {
				return nil, err
			}
			return rs.toServed(stored)
		}
		data, err := rs.encodeStored(stored)
		if err != nil {
			return nil, err
		}
		rev, err = s.store.CreateWith(ctx, rs.key(sm.GetNamespace(), sm.GetName()), data, alloc.claims())
		if errors.Is(err, storage.ErrClaimTaken) {
			if !alloc.explicit && attempt < 8 {
				continue
			}
			return nil, alloc.conflictError(rs, sm.GetName())
		}
		if errors.Is(err, storage.ErrExists) {
			return nil, errAlreadyExists(rs.gr(), sm.GetName())
		}
		if err != nil {
			return nil, err
		}
		break
	}
	sm.SetResourceVersion(strconv.FormatInt(rev, 10))
	return rs.toServed(stored)
}

// validate runs the generic metadata checks and the kind's own.
func (s *Server) validate(rs *resource, obj, old runtime.Object) field.ErrorList {
	k := rs.stored
	nameRule := apivalidation.NameIsDNSSubdomain
	if k.NameRule != nil {
		nameRule = k.NameRule
	}
	m := accessor(obj)
	var errs field.ErrorList
	if old == nil {
		errs = apivalidation.ValidateObjectMetaAccessor(m, k.Namespaced, apivalidation.ValidateNameFunc(nameRule), field.NewPath("metadata"))
	} else {
		errs = apivalidation.ValidateObjectMetaAccessorUpdate(m, accessor(old), field.NewPath("metadata"))
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(m, k.Namespaced, apivalidation.ValidateNameFunc(nameRule), field.NewPath("metadata"))...)
	}
	if k.Validate != nil {
		errs = append(errs, k.Validate(obj, old)...)
	}
	return errs
}

// namespaceAccepts checks that ns exists and is not being deleted, and
// returns it (its labels carry the Pod Security level).
func (s *Server) namespaceAccepts(ctx context.Context, rs *resource, ns, name string) (*corev1.Namespace, error) {
	nsr := s.byGVK[corev1.SchemeGroupVersion.WithKind("Namespace")]
	kv, err := s.store.GetSerializable(ctx, nsr.key("", ns))
	if errors.Is(err, storage.ErrNotFound) {
		// A namespace created a moment ago may not be visible to a
		// serializable read yet; ask the quorum before refusing.
		kv, err = s.store.Get(ctx, nsr.key("", ns))
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound(nsr.gr(), ns)
	}
	if err != nil {
		return nil, err
	}
	obj, err := nsr.decodeStored(kv)
	if err != nil {
		return nil, err
	}
	n := obj.(*corev1.Namespace)
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil, errForbidden(rs.gr(), name, fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return n, nil
}
