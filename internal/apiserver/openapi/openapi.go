// Package openapi builds the OpenAPI v2 and v3 documents the API server
// publishes at /openapi/v2 and /openapi/v3. It owns their content: the
// schemas, made by reflection over the Go types of the registry's kinds
// with the names, descriptions and Kubernetes extensions kubectl reads
// (explain, client-side validation, strategic merge patch, the
// fieldValidation check), and the REST paths of every kind. Serving the
// bytes is the API server's business.
package openapi

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/registry"
)

// Documents holds the serialized OpenAPI documents, built once at start.
type Documents struct {
	V2 []byte // JSON of the swagger 2.0 document served at /openapi/v2
	// V2Proto is the same document in gnostic's protobuf encoding. Serve
	// it at /openapi/v2 when Accept names
	// application/com.github.proto-openapi.spec.v2@v1.0+protobuf (or the
	// same with ".v1.0" for "@v1.0"), with Content-Type
	// application/com.github.proto-openapi.spec.v2.v1.0+protobuf: the "@"
	// form fails client-go's media type parsing. kubectl asks only for
	// this encoding and decodes the answer as protobuf whatever its type.
	V2Proto []byte
	V3Root  []byte            // JSON served at /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=HASH"}, ...}}
	V3      map[string][]byte // key "api/v1", "apis/apps/v1"...: JSON of the OpenAPI 3.0 document for that group-version
	V3Hash  map[string]string // key as in V3: upper-case hex SHA-512 of the document, as in the URLs of V3Root
}

// Build makes the documents for kinds. It fails when a kind lacks New,
// when New or NewList does not return a pointer to a struct, or when two
// kinds have the same GVK. A kind whose NewList is nil gets no list, watch
// or deletecollection operations.
func Build(kinds []*registry.Kind) (*Documents, error) {
	defs := newDefinitions()
	var gvs []schema.GroupVersion
	paths := map[schema.GroupVersion][]pathItem{}
	seen := map[schema.GroupVersionKind]bool{}
	for _, k := range kinds {
		if seen[k.GVK] {
			return nil, fmt.Errorf("kind %s: listed twice", k.GVK)
		}
		seen[k.GVK] = true
		item, err := objectDefinition(defs, k.New, k.GVK)
		if err != nil {
			return nil, fmt.Errorf("kind %s: New: %w", k.GVK, err)
		}
		if item == "" {
			return nil, fmt.Errorf("kind %s: New is nil", k.GVK)
		}
		list, err := objectDefinition(defs, k.NewList, k.GVK.GroupVersion().WithKind(k.GVK.Kind+"List"))
		if err != nil {
			return nil, fmt.Errorf("kind %s: NewList: %w", k.GVK, err)
		}
		if k.Scale != nil {
			addGVK(defs.byName[defs.ref(scaleType)], scaleGVK)
		}
		gv := k.GVK.GroupVersion()
		if _, ok := paths[gv]; !ok {
			gvs = append(gvs, gv)
			paths[gv] = []pathItem{groupVersionRoot(gv, defs)}
		}
		paths[gv] = append(paths[gv], kindPaths(k, item, list, defs)...)
	}

	v2Defs := make(map[string]*jsonSchema, len(defs.byName))
	v3Defs := make(map[string]*jsonSchema, len(defs.byName))
	for name, s := range defs.byName {
		v2Defs[name] = render(s, false)
		v3Defs[name] = render(s, true)
	}

	docs := &Documents{V3: map[string][]byte{}, V3Hash: map[string]string{}}
	v2Paths := map[string]*pathV2{}
	root := v3Root{Paths: map[string]v3RootEntry{}}
	for _, gv := range gvs {
		v3Paths := map[string]*pathV3{}
		for _, p := range paths[gv] {
			v2Paths[p.path] = renderPathV2(p)
			v3Paths[p.path] = renderPathV3(p)
		}
		used := map[string]*jsonSchema{}
		for _, name := range reachable(defs, paths[gv]) {
			used[name] = v3Defs[name]
		}
		doc, err := json.Marshal(docV3{
			OpenAPI:    "3.0.0",
			Info:       info{Title: "Kubernetes", Version: "unversioned"},
			Paths:      v3Paths,
			Components: componentsV3{Schemas: used},
		})
		if err != nil {
			return nil, fmt.Errorf("openapi v3 document of %s: %w", gv, err)
		}
		key := strings.TrimPrefix(groupVersionPrefix(gv), "/")
		sum := sha512.Sum512(doc)
		hash := strings.ToUpper(hex.EncodeToString(sum[:]))
		docs.V3[key] = doc
		docs.V3Hash[key] = hash
		root.Paths[key] = v3RootEntry{ServerRelativeURL: "/openapi/v3/" + key + "?hash=" + hash}
	}

	var err error
	docs.V3Root, err = json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 root: %w", err)
	}
	docs.V2, err = json.Marshal(docV2{
		Swagger:     "2.0",
		Info:        info{Title: "Kubernetes", Version: "unversioned"},
		Paths:       v2Paths,
		Definitions: v2Defs,
	})
	if err != nil {
		return nil, fmt.Errorf("openapi v2 document: %w", err)
	}
	docs.V2Proto, err = proto.MarshalOptions{Deterministic: true}.Marshal(docProto(v2Paths, v2Defs))
	if err != nil {
		return nil, fmt.Errorf("openapi v2 protobuf document: %w", err)
	}
	return docs, nil
}

// objectDefinition returns the definition name of the type newObj makes,
// marking it as the schema of gvk; "" when newObj is nil.
func objectDefinition(defs *definitions, newObj func() runtime.Object, gvk schema.GroupVersionKind) (string, error) {
	if newObj == nil {
		return "", nil
	}
	t := reflect.TypeOf(newObj())
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || t.Elem().Name() == "" {
		return "", fmt.Errorf("returns %v, want a pointer to a named struct", t)
	}
	name := defs.ref(t.Elem())
	addGVK(defs.byName[name], gvk)
	return name, nil
}

func addGVK(s *jsonSchema, gvk schema.GroupVersionKind) {
	e := toGVKExt(gvk)
	if !slices.Contains(s.GVK, e) {
		s.GVK = append(s.GVK, e)
	}
}

// reachable returns the definitions the operations of items use, directly
// or through other definitions.
func reachable(defs *definitions, items []pathItem) []string {
	seen := map[string]bool{}
	var out []string
	var visit func(name string)
	visit = func(name string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, name)
		refs(defs.byName[name], visit)
	}
	for _, p := range items {
		for _, op := range p.ops {
			visit(op.body)
			visit(op.response)
		}
	}
	return out
}

type info struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type v3Root struct {
	Paths map[string]v3RootEntry `json:"paths"`
}

type v3RootEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}
