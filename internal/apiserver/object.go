package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/registry"
	"github.com/bosun-sh/bosun/internal/storage"
)

// resource binds a served kind to the kind its objects are stored as.
type resource struct {
	served *registry.Kind
	stored *registry.Kind // == served unless served.StoredAs is set
	prefix string         // etcd key prefix, ending in "/"
}

func (r *resource) gr() schema.GroupResource { return r.served.GroupResource() }

func (r *resource) key(ns, name string) string {
	if r.stored.Namespaced {
		return r.prefix + ns + "/" + name
	}
	return r.prefix + name
}

// listPrefix is the key prefix of a namespace, or of all objects when ns
// is empty.
func (r *resource) listPrefix(ns string) string {
	if ns == "" || !r.stored.Namespaced {
		return r.prefix
	}
	return r.prefix + ns + "/"
}

// decodeStored turns a stored value into a typed stored-kind object with
// its resourceVersion set.
func (r *resource) decodeStored(kv storage.KV) (runtime.Object, error) {
	obj := r.stored.New()
	if err := fastJSON.Unmarshal(kv.Value, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(kv.Rev, 10))
	setTypeMeta(obj, r.stored.GVK)
	return obj, nil
}

// encodeStored serializes a stored-kind object without its resourceVersion.
func (r *resource) encodeStored(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	setTypeMeta(obj, r.stored.GVK)
	data, err := fastJSON.Marshal(obj)
	m.SetResourceVersion(rv)
	return data, err
}

// toServed converts a stored object to the served version.
func (r *resource) toServed(obj runtime.Object) (runtime.Object, error) {
	if r.served.StoredAs == nil {
		return obj, nil
	}
	out, err := r.served.StoredAs.FromStorage(obj)
	if err != nil {
		return nil, err
	}
	setTypeMeta(out, r.served.GVK)
	return out, nil
}

// toStored converts a served object to the stored version.
func (r *resource) toStored(obj runtime.Object) (runtime.Object, error) {
	if r.served.StoredAs == nil {
		return obj, nil
	}
	out, err := r.served.StoredAs.ToStorage(obj)
	if err != nil {
		return nil, err
	}
	setTypeMeta(out, r.stored.GVK)
	return out, nil
}

// get reads one object in stored form.
func (r *resource) get(ctx context.Context, s *storage.Store, ns, name string) (runtime.Object, storage.KV, error) {
	kv, err := s.Get(ctx, r.key(ns, name))
	if err != nil {
		return nil, kv, err
	}
	obj, err := r.decodeStored(kv)
	return obj, kv, err
}

func setTypeMeta(obj runtime.Object, gvk schema.GroupVersionKind) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("%T has no ObjectMeta", obj)) // every registered kind has one
	}
	return m
}

// field returns the named top-level struct field of a typed object, or an
// invalid Value when it has none.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// copyStatus sets dst's status to src's.
func copyStatus(dst, src runtime.Object) {
	d, s := structField(dst, "Status"), structField(src, "Status")
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

// clearStatus resets the status to its zero value.
func clearStatus(obj runtime.Object) {
	if f := structField(obj, "Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// specEqual reports whether a and b differ only in metadata and status,
// the rule for bumping metadata.generation.
func specEqual(a, b runtime.Object) bool {
	return reflect.DeepEqual(specJSON(a), specJSON(b))
}

func specJSON(obj runtime.Object) string {
	c := obj.DeepCopyObject()
	v := reflect.ValueOf(c).Elem()
	for _, name := range []string{"TypeMeta", "ObjectMeta", "Status"} {
		if f := v.FieldByName(name); f.IsValid() && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	data, _ := json.Marshal(c)
	return string(data)
}

const nameChars = "bcdfghjklmnpqrstvwxz2456789"

// generateName appends 5 random characters to prefix, as Kubernetes does.
func generateName(prefix string) string {
	const max = 63 - 5
	if len(prefix) > max {
		prefix = prefix[:max]
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	out := []byte(prefix)
	for _, c := range b {
		out = append(out, nameChars[int(c)%len(nameChars)])
	}
	return string(out)
}
