package openapi

import (
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// jsonSchema is one schema object in the shape both OpenAPI versions share.
// Ref holds a bare definition name; render turns it into a version's
// reference and applies what only one version can say.
type jsonSchema struct {
	Ref                  string                 `json:"$ref,omitempty"`
	AllOf                []*jsonSchema          `json:"allOf,omitempty"`
	OneOf                []*jsonSchema          `json:"oneOf,omitempty"`
	Description          string                 `json:"description,omitempty"`
	Type                 string                 `json:"type,omitempty"`
	Format               string                 `json:"format,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	Properties           map[string]*jsonSchema `json:"properties,omitempty"`
	AdditionalProperties *jsonSchema            `json:"additionalProperties,omitempty"`
	Required             []string               `json:"required,omitempty"`

	GVK           []gvkExt `json:"x-kubernetes-group-version-kind,omitempty"`
	PatchStrategy string   `json:"x-kubernetes-patch-strategy,omitempty"`
	PatchMergeKey string   `json:"x-kubernetes-patch-merge-key,omitempty"`
	IntOrString   bool     `json:"x-kubernetes-int-or-string,omitempty"`
	ListType      string   `json:"x-kubernetes-list-type,omitempty"`
	ListMapKeys   []string `json:"x-kubernetes-list-map-keys,omitempty"`

	// v3OneOf lists the JSON types a value may take where v2 can only
	// name one (quantities, int-or-string).
	v3OneOf []string
}

// gvkExt is the value of x-kubernetes-group-version-kind, a list of them
// on definitions and a single one on operations.
type gvkExt struct {
	Group   string `json:"group"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

func toGVKExt(gvk schema.GroupVersionKind) gvkExt {
	return gvkExt{Group: gvk.Group, Kind: gvk.Kind, Version: gvk.Version}
}

// Interfaces the API types implement to describe themselves. They are
// looked up with reflection, so only their method sets matter here.
type (
	swaggerDoccer   interface{ SwaggerDoc() map[string]string }
	modelNamer      interface{ OpenAPIModelName() string }
	schemaTyper     interface{ OpenAPISchemaType() []string }
	schemaFormatter interface{ OpenAPISchemaFormat() string }
	v3OneOfTyper    interface{ OpenAPIV3OneOfTypes() []string }
)

var (
	swaggerDoccerType   = reflect.TypeFor[swaggerDoccer]()
	modelNamerType      = reflect.TypeFor[modelNamer]()
	schemaTyperType     = reflect.TypeFor[schemaTyper]()
	schemaFormatterType = reflect.TypeFor[schemaFormatter]()
	v3OneOfTyperType    = reflect.TypeFor[v3OneOfTyper]()
	marshalerType       = reflect.TypeFor[json.Marshaler]()
)

// Descriptions of the definitions whose types have no SwaggerDoc (mostly
// those that marshal themselves); kubectl explain prints them when a field
// points at one.
var selfMarshalingDocs = map[string]string{
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       "Time is a timestamp in RFC 3339 form, in UTC, with second precision.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":  "MicroTime is a timestamp in RFC 3339 form, in UTC, with microsecond precision.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Duration":   "Duration is a length of time written as a Go duration string, such as \"1h30m\".",
	"io.k8s.apimachinery.pkg.api.resource.Quantity":   "Quantity is a fixed-point number, written as a string with an optional SI or binary suffix (\"100m\", \"1.5\", \"2Gi\") or as a plain JSON number.",
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString holds either an integer or a string, such as a port number or a port name.",
	"io.k8s.apimachinery.pkg.runtime.RawExtension":    "RawExtension holds an embedded object, serialized as its own JSON document.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1":   "FieldsV1 is the set of fields a manager owns, as a trie in JSON form.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Patch":      "Patch is the body of a PATCH request; its format depends on the request's content type.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent": "WatchEvent is one change to a watched object.",
}

// definitions builds the named schemas of Go types by reflection. Every
// named struct becomes a definition and is referenced by name, which also
// keeps recursive types finite.
type definitions struct {
	byName map[string]*jsonSchema
	names  map[reflect.Type]string
}

func newDefinitions() *definitions {
	return &definitions{byName: map[string]*jsonSchema{}, names: map[reflect.Type]string{}}
}

// definitionName is the OpenAPI name of a named Go type: the name the type
// declares for itself, or its package path with the domain reversed
// (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod), as Kubernetes names it.
func definitionName(t reflect.Type) string {
	if t.Implements(modelNamerType) {
		return reflect.Zero(t).Interface().(modelNamer).OpenAPIModelName()
	}
	parts := strings.Split(t.PkgPath(), "/")
	if strings.Contains(parts[0], ".") {
		domain := strings.Split(parts[0], ".")
		for i, j := 0, len(domain)-1; i < j; i, j = i+1, j-1 {
			domain[i], domain[j] = domain[j], domain[i]
		}
		parts[0] = strings.Join(domain, ".")
	}
	return strings.Join(parts, ".") + "." + t.Name()
}

// ref returns the definition name of struct type t, building the
// definition on first use.
func (d *definitions) ref(t reflect.Type) string {
	if name, ok := d.names[t]; ok {
		return name
	}
	name := definitionName(t)
	d.names[t] = name
	s := &jsonSchema{}
	// Registered before building the fields, so a type that contains
	// itself finds its own name instead of recursing.
	d.byName[name] = s
	d.build(t, name, s)
	return name
}

// build fills the definition of the named type t.
func (d *definitions) build(t reflect.Type, name string, s *jsonSchema) {
	s.Description = typeDoc(t)
	if s.Description == "" {
		s.Description = selfMarshalingDocs[name]
	}
	if t.Implements(schemaTyperType) {
		types := reflect.Zero(t).Interface().(schemaTyper).OpenAPISchemaType()
		if len(types) == 1 {
			s.Type = types[0]
		}
		if t.Implements(schemaFormatterType) {
			s.Format = reflect.Zero(t).Interface().(schemaFormatter).OpenAPISchemaFormat()
		}
		if t.Implements(v3OneOfTyperType) {
			s.v3OneOf = reflect.Zero(t).Interface().(v3OneOfTyper).OpenAPIV3OneOfTypes()
		}
		s.IntOrString = s.Format == "int-or-string"
		return
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		// RawExtension, FieldsV1 and the like: an object whose shape the
		// type's own marshaling decides.
		s.Type = "object"
		return
	}
	s.Type = "object"
	d.addFields(t, s)
}

// addFields adds the JSON fields of struct type t to s, merging inline
// (embedded) structs the way encoding/json does.
func (d *definitions) addFields(t reflect.Type, s *jsonSchema) {
	docs := fieldDocs(t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			d.addFields(ft, s)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		p := d.fieldSchema(f.Type)
		p.Description = docs[name]
		if strategy := f.Tag.Get("patchStrategy"); strategy != "" {
			p.PatchStrategy = strategy
			p.PatchMergeKey = f.Tag.Get("patchMergeKey")
		}
		if p.Type == "array" {
			p.ListType, p.ListMapKeys = listType(definitionName(t)+"."+name, p.PatchMergeKey)
		}
		if s.Properties == nil {
			s.Properties = map[string]*jsonSchema{}
		}
		s.Properties[name] = p
		if required(f.Type, opts) {
			s.Required = append(s.Required, name)
		}
	}
}

// listTypeOverrides are the lists whose +listType and +listMapKey markers,
// which reflection cannot see, say more than their patch merge key: their
// items are keyed by more fields (two ports may differ only in protocol),
// or they are atomic. Keyed by declaring type and JSON field.
var listTypeOverrides = map[string][]string{
	"io.k8s.api.core.v1.Container.ports":                     {"containerPort", "protocol"},
	"io.k8s.api.core.v1.EphemeralContainerCommon.ports":      {"containerPort", "protocol"},
	"io.k8s.api.core.v1.ServiceSpec.ports":                   {"port", "protocol"},
	"io.k8s.api.core.v1.PodSpec.topologySpreadConstraints":   {"topologyKey", "whenUnsatisfiable"},
	"io.k8s.api.core.v1.VolumeHealthStatus.healthConditions": {"status", "reason"},
	"io.k8s.api.core.v1.PodVolumeHealth.healthConditions":    {"status", "reason"},
	"io.k8s.api.core.v1.PodStatus.hostIPs":                   nil,
	"io.k8s.api.batch.v1.JobStatus.conditions":               nil,
}

// listType returns the x-kubernetes-list-type and map keys of a list
// field: a map keyed by its patch merge key, as Kubernetes declares nearly
// all of those, unless listTypeOverrides knows better; nothing for other
// lists, which server-side apply then treats as atomic.
func listType(field, mergeKey string) (string, []string) {
	if keys, ok := listTypeOverrides[field]; ok {
		if keys == nil {
			return "atomic", nil
		}
		return "map", keys
	}
	if mergeKey != "" {
		return "map", []string{mergeKey}
	}
	return "", nil
}

// required tells whether a field is required. Kubernetes marks a field
// optional with omitempty or with a +optional comment, which reflection
// cannot see. A pointer to a scalar without omitempty stands for the
// comment: upstream marks all of those optional (GRPCAction.service, the
// apiGroup of typed references), while pointers to structs without
// omitempty (DeploymentSpec.selector) are required.
func required(t reflect.Type, opts string) bool {
	if hasOption(opts, "omitempty") || hasOption(opts, "omitzero") {
		return false
	}
	return t.Kind() != reflect.Pointer || t.Elem().Kind() == reflect.Struct
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// fieldSchema returns a fresh schema for a value of type t.
func (d *definitions) fieldSchema(t reflect.Type) *jsonSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		if t.Name() == "" {
			s := &jsonSchema{Type: "object"}
			d.addFields(t, s)
			return s
		}
		return &jsonSchema{Ref: d.ref(t)}
	}
	switch t.Kind() {
	case reflect.Bool:
		return &jsonSchema{Type: "boolean"}
	case reflect.String:
		return &jsonSchema{Type: "string"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Int:
		return &jsonSchema{Type: "integer", Format: "int32"}
	case reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return &jsonSchema{Type: "integer", Format: "int64"}
	case reflect.Float32:
		return &jsonSchema{Type: "number", Format: "float"}
	case reflect.Float64:
		return &jsonSchema{Type: "number", Format: "double"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &jsonSchema{Type: "string", Format: "byte"}
		}
		return &jsonSchema{Type: "array", Items: d.fieldSchema(t.Elem())}
	case reflect.Map:
		return &jsonSchema{Type: "object", AdditionalProperties: d.fieldSchema(t.Elem())}
	}
	// Interfaces and anything else: any JSON value.
	return &jsonSchema{}
}

// typeDoc is the description a type gives itself in SwaggerDoc.
func typeDoc(t reflect.Type) string {
	return fieldDocs(t)[""]
}

// fieldDocs returns t's SwaggerDoc: "" describes the type, other keys its
// JSON fields.
func fieldDocs(t reflect.Type) map[string]string {
	if !t.Implements(swaggerDoccerType) {
		return nil
	}
	return reflect.Zero(t).Interface().(swaggerDoccer).SwaggerDoc()
}

// render returns a copy of s as OpenAPI v2 or v3 writes it.
func render(s *jsonSchema, v3 bool) *jsonSchema {
	if s == nil {
		return nil
	}
	out := *s
	out.v3OneOf = nil
	if s.Ref != "" {
		if !v3 {
			out.Ref = "#/definitions/" + s.Ref
			return &out
		}
		ref := &jsonSchema{Ref: "#/components/schemas/" + s.Ref}
		if s.Description == "" && s.PatchStrategy == "" {
			return ref
		}
		// OpenAPI 3.0 ignores siblings of $ref; Kubernetes wraps the
		// reference in allOf so the description survives.
		out.Ref = ""
		out.AllOf = []*jsonSchema{ref}
		return &out
	}
	if v3 && len(s.v3OneOf) > 0 {
		out.Type = ""
		for _, t := range s.v3OneOf {
			out.OneOf = append(out.OneOf, &jsonSchema{Type: t})
		}
	}
	if !v3 {
		out.IntOrString = false
	}
	out.Items = render(s.Items, v3)
	out.AdditionalProperties = render(s.AdditionalProperties, v3)
	if s.Properties != nil {
		out.Properties = make(map[string]*jsonSchema, len(s.Properties))
		for k, p := range s.Properties {
			out.Properties[k] = render(p, v3)
		}
	}
	return &out
}

// refs calls fn with the definition names s refers to directly.
func refs(s *jsonSchema, fn func(string)) {
	if s == nil {
		return
	}
	if s.Ref != "" {
		fn(s.Ref)
	}
	refs(s.Items, fn)
	refs(s.AdditionalProperties, fn)
	for _, p := range s.Properties {
		refs(p, fn)
	}
}
