package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// selection is a request's label and field selectors.
type selection struct {
	labels labels.Selector
	fields fields.Selector
}

func (s selection) empty() bool { return s.labels.Empty() && s.fields.Empty() }

func (s selection) matches(rs *resource, obj runtime.Object) bool {
	if s.empty() {
		return true
	}
	m := accessor(obj)
	if !s.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if s.fields.Empty() {
		return true
	}
	return s.fields.Matches(objectFields(rs, obj))
}

// objectFields returns the selectable fields of a stored object.
func objectFields(rs *resource, obj runtime.Object) fields.Set {
	m := accessor(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if rs.stored.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if rs.served.Fields != nil {
		served, err := rs.toServed(obj)
		if err == nil {
			for k, v := range rs.served.Fields(served) {
				set[k] = v
			}
		}
	} else if rs.stored.Fields != nil {
		for k, v := range rs.stored.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// selectors parses labelSelector and fieldSelector, refusing fields the
// kind cannot select on.
func (h *handler) selectors(q map[string][]string) (selection, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ls, err := labels.Parse(get("labelSelector"))
	if err != nil {
		return selection{}, errBadRequest("unable to parse requirement: %v", err)
	}
	fs, err := fields.ParseSelector(get("fieldSelector"))
	if err != nil {
		return selection{}, errBadRequest("invalid field selector: %v", err)
	}
	known := h.knownFields()
	for _, r := range fs.Requirements() {
		if !known[r.Field] {
			return selection{}, errBadRequest("field label not supported: %s", r.Field)
		}
	}
	return selection{labels: ls, fields: fs}, nil
}

// knownFields lists the field selector keys of the resource, found by
// asking the kind for the fields of an empty object.
func (h *handler) knownFields() map[string]bool {
	known := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	k := h.rs.served
	if k.Fields != nil {
		for f := range k.Fields(k.New()) {
			known[f] = true
		}
	}
	return known
}

// continueToken is the opaque continue value of a paged list.
type continueToken struct {
	Rev   int64  `json:"rv"`
	After string `json:"start"`
}

func encodeContinue(rev int64, after string) string {
	data, _ := json.Marshal(continueToken{Rev: rev, After: after})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var t continueToken
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(data, &t)
	}
	if err != nil || t.Rev <= 0 || len(t.After) < len(prefix) || t.After[:len(prefix)] != prefix {
		return t, errBadRequest("continue key is not valid")
	}
	return t, nil
}

// listParams are a list or watch request's resourceVersion parameters.
type listParams struct {
	rv      int64 // 0 when "" or "0"
	rvSet   bool  // resourceVersion was given (even "0")
	rvZero  bool  // resourceVersion was "0"
	match   string
	limit   int64
	cont    string
	timeout int64
}

func parseListParams(q map[string][]string) (listParams, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var p listParams
	if v := get("resourceVersion"); v != "" {
		p.rvSet = true
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, errBadRequest("invalid resource version %q", v)
		}
		p.rv, p.rvZero = n, n == 0
	}
	p.match = get("resourceVersionMatch")
	switch p.match {
	case "", "NotOlderThan", "Exact":
	default:
		return p, errBadRequest("resourceVersionMatch: unsupported value %q: supported values are Exact, NotOlderThan", p.match)
	}
	// A watch-list request (sendInitialEvents) may start from the latest
	// state with resourceVersion unset, as client-go informers do.
	watching := get("watch") == "true" || get("watch") == "1"
	if p.match != "" && !p.rvSet && !watching {
		return p, errBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if p.match == "Exact" && p.rvZero {
		return p, errBadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
	}
	if v := get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, errBadRequest("invalid limit %q", v)
		}
		p.limit = n
	}
	p.cont = get("continue")
	if p.cont != "" && p.rvSet && !p.rvZero {
		return p, errBadRequest("specifying resource version is not allowed when using continue")
	}
	if v := get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, errBadRequest("invalid timeoutSeconds %q", v)
		}
		p.timeout = n
	}
	return p, nil
}

// pageSize is how many keys one etcd read returns while listing.
const pageSize = 2000

// list serves GET on a collection.
func (h *handler) list(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := negotiate(r, map[string]bool{"Table": true, "PartialObjectMetadataList": true})
	if !ok {
		writeStatus(w, r, newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf").s)
		return
	}
	if f.as == "" && f.media == mediaJSON && h.rs.served.StoredAs == nil {
		sel, err := h.selectors(q)
		if err != nil {
			writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
			return
		}
		if sel.fields.Empty() {
			h.listRaw(ctx, w, r, q, sel)
			return
		}
	}
	items, meta, err := h.listObjects(ctx, q)
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	switch f.as {
	case "Table":
		writeObject(w, http.StatusOK, f.media, h.table(items, meta, q.Get("includeObject"), f.vers, true))
		return
	case "PartialObjectMetadataList":
		l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/" + f.vers}, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *partialMetadata(o, f.vers))
		}
		writeObject(w, http.StatusOK, f.media, l)
		return
	}
	list := h.rs.served.NewList()
	if err := setListItems(list, items); err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	lm := listMeta(list)
	*lm = meta
	setTypeMeta(list, h.rs.served.GVK.GroupVersion().WithKind(h.rs.served.GVK.Kind+"List"))
	writeObject(w, http.StatusOK, f.media, list)
}

// listObjects reads the selected objects in served form.
func (h *handler) listObjects(ctx context.Context, q map[string][]string) ([]runtime.Object, metav1.ListMeta, error) {
	sel, err := h.selectors(q)
	if err != nil {
		return nil, metav1.ListMeta{}, err
	}
	var items []runtime.Object
	meta, err := h.scan(ctx, q, sel.empty(), func(kv storage.KV) (bool, error) {
		obj, err := h.rs.decodeStored(kv)
		if err != nil {
			return false, err
		}
		if !sel.matches(h.rs, obj) {
			return false, nil
		}
		served, err := h.rs.toServed(obj)
		if err != nil {
			return false, err
		}
		items = append(items, served)
		return true, nil
	})
	return items, meta, err
}

// scan walks the stored objects a list request selects, page by page at
// one revision, calling keep for each until the limit of kept objects is
// reached. unfiltered tells that keep accepts everything, which lets the
// limit go straight to etcd and the remaining count be reported.
func (h *handler) scan(ctx context.Context, q map[string][]string, unfiltered bool, keep func(storage.KV) (bool, error)) (metav1.ListMeta, error) {
	var meta metav1.ListMeta
	p, err := parseListParams(q)
	if err != nil {
		return meta, err
	}
	prefix := h.rs.listPrefix(h.t.namespace)
	opts := storage.ListOptions{}
	if p.cont != "" {
		tok, err := decodeContinue(p.cont, prefix)
		if err != nil {
			return meta, err
		}
		opts.Rev, opts.After = tok.Rev, tok.After
	} else if p.match == "Exact" {
		opts.Rev = p.rv
	} else if p.rv > 0 {
		cur, err := h.s.store.Rev(ctx)
		if err != nil {
			return meta, err
		}
		if p.rv > cur {
			return meta, fmt.Errorf("resource version %d, current %d: %w", p.rv, cur, storage.ErrFutureRevision)
		}
	}
	kept := int64(0)
	var lastKey string
	for {
		want := int64(pageSize)
		if p.limit > 0 && unfiltered {
			want = p.limit - kept
		}
		opts.Limit = want
		res, err := h.s.store.List(ctx, prefix, opts)
		if err != nil {
			return meta, err
		}
		opts.Rev = res.Rev
		brokeEarly := false
		for i, kv := range res.KVs {
			lastKey = kv.Key
			ok, err := keep(kv)
			if err != nil {
				return meta, err
			}
			if !ok {
				continue
			}
			kept++
			if p.limit > 0 && kept == p.limit {
				brokeEarly = i < len(res.KVs)-1
				break
			}
		}
		meta.ResourceVersion = strconv.FormatInt(res.Rev, 10)
		full := p.limit > 0 && kept >= p.limit
		if full && (res.More || brokeEarly) {
			meta.Continue = encodeContinue(res.Rev, lastKey)
			if n := res.Remaining; unfiltered && n > 0 {
				meta.RemainingItemCount = &n
			}
			break
		}
		if !res.More || full {
			break
		}
		opts.After = lastKey
	}
	return meta, nil
}

// listRaw writes a JSON list straight from the stored bytes, splicing in
// each item's resourceVersion: no decoding or encoding of the objects.
// Only label selectors are allowed, read from a metadata-only decode.
func (h *handler) listRaw(ctx context.Context, w http.ResponseWriter, r *http.Request, q map[string][]string, sel selection) {
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	n := 0
	meta, err := h.scan(ctx, q, sel.empty(), func(kv storage.KV) (bool, error) {
		if !sel.labels.Empty() {
			var m struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
			}
			if err := fastJSON.Unmarshal(kv.Value, &m); err != nil {
				return false, fmt.Errorf("decoding %s: %w", kv.Key, err)
			}
			if !sel.labels.Matches(labels.Set(m.Metadata.Labels)) {
				return false, nil
			}
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		writeWithResourceVersion(&buf, kv)
		return true, nil
	})
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	gvk := h.rs.served.GVK
	metaJSON, _ := json.Marshal(meta)
	head := fmt.Sprintf(`{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, gvk.Kind+"List", gvk.GroupVersion().String(), metaJSON)
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+buf.Len()+2))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, head)
	w.Write(buf.Bytes())
	io.WriteString(w, "]}")
}

var metadataOpen = []byte(`"metadata":{`)

// writeWithResourceVersion writes a stored object with its
// resourceVersion added to its metadata.
func writeWithResourceVersion(buf *bytes.Buffer, kv storage.KV) {
	i := bytes.Index(kv.Value, metadataOpen)
	if i < 0 || i+len(metadataOpen) >= len(kv.Value) || kv.Value[i+len(metadataOpen)] == '}' {
		// Not the layout encodeStored writes; take the slow, sure path.
		var obj map[string]any
		if fastJSON.Unmarshal(kv.Value, &obj) == nil {
			if m, ok := obj["metadata"].(map[string]any); ok {
				m["resourceVersion"] = strconv.FormatInt(kv.Rev, 10)
				data, _ := fastJSON.Marshal(obj)
				buf.Write(data)
				return
			}
		}
		buf.Write(kv.Value)
		return
	}
	at := i + len(metadataOpen)
	buf.Write(kv.Value[:at])
	buf.WriteString(`"resourceVersion":"`)
	buf.WriteString(strconv.FormatInt(kv.Rev, 10))
	buf.WriteString(`",`)
	buf.Write(kv.Value[at:])
}

// setListItems sets the Items field of a typed list.
func setListItems(list runtime.Object, items []runtime.Object) error {
	v := reflect.ValueOf(list).Elem().FieldByName("Items")
	if !v.IsValid() {
		return fmt.Errorf("%T has no Items", list)
	}
	s := reflect.MakeSlice(v.Type(), 0, len(items))
	for _, it := range items {
		iv := reflect.ValueOf(it)
		if v.Type().Elem().Kind() == reflect.Pointer {
			s = reflect.Append(s, iv)
		} else {
			s = reflect.Append(s, iv.Elem())
		}
	}
	v.Set(s)
	return nil
}

func listMeta(list runtime.Object) *metav1.ListMeta {
	return reflect.ValueOf(list).Elem().FieldByName("ListMeta").Addr().Interface().(*metav1.ListMeta)
}

// partialMetadata is the metadata-only form of obj.
func partialMetadata(obj runtime.Object, vers string) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/" + vers}}
	om := reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta)
	pm.ObjectMeta = *om.DeepCopy()
	return pm
}
