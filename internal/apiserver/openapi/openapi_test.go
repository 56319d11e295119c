package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	protobuf "google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/openapitest"
	"k8s.io/client-go/openapi3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"
	protovalidation "k8s.io/kube-openapi/pkg/util/proto/validation"
	"sigs.k8s.io/yaml"

	"github.com/bosun-sh/bosun/internal/registry"
)

func build(t testing.TB) *Documents {
	t.Helper()
	docs, err := Build(testKinds())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return docs
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	return m
}

// get follows keys through nested JSON objects.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func gvKey(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

func TestRootListsEveryGroupVersion(t *testing.T) {
	docs := build(t)
	root := decode(t, docs.V3Root)
	paths, _ := root["paths"].(map[string]any)
	for _, k := range testKinds() {
		key := gvKey(k.GVK.GroupVersion())
		want := "/openapi/v3/" + key + "?hash=" + docs.V3Hash[key]
		if got := get(paths, key, "serverRelativeURL"); got != want {
			t.Errorf("root entry of %s = %v, want %s", key, got, want)
		}
		if len(docs.V3Hash[key]) != 128 || strings.ToUpper(docs.V3Hash[key]) != docs.V3Hash[key] {
			t.Errorf("hash of %s = %q, want 128 upper-case hex digits", key, docs.V3Hash[key])
		}
		decode(t, docs.V3[key])
	}
	if len(paths) != len(docs.V3) || len(docs.V3) != len(docs.V3Hash) {
		t.Errorf("root has %d paths, V3 %d documents, V3Hash %d hashes", len(paths), len(docs.V3), len(docs.V3Hash))
	}
	decode(t, docs.V2)
}

func TestBuildIsDeterministic(t *testing.T) {
	a, b := build(t), build(t)
	if !bytes.Equal(a.V2, b.V2) || !bytes.Equal(a.V3Root, b.V3Root) {
		t.Fatal("two builds differ")
	}
}

func TestBuildRejectsBrokenKinds(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Thing"}
	pods := testKind[corev1.Pod, corev1.PodList](corev1.SchemeGroupVersion, "Pod", "pods")
	cases := []struct {
		name  string
		kinds []*registry.Kind
	}{
		{"no New", []*registry.Kind{{GVK: gvk, Resource: "things"}}},
		{"New returns nil", []*registry.Kind{{GVK: gvk, Resource: "things", New: func() runtime.Object { return nil }}}},
		{"listed twice", []*registry.Kind{pods, pods}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(tc.kinds); err == nil {
				t.Error("Build succeeded, want an error")
			}
		})
	}
}

func TestKindWithoutListOnlyHasItemOperations(t *testing.T) {
	k := testKind[corev1.Binding, corev1.List](corev1.SchemeGroupVersion, "Binding", "bindings")
	k.NewList = nil
	docs, err := Build([]*registry.Kind{k})
	if err != nil {
		t.Fatal(err)
	}
	paths := get(decode(t, docs.V3["api/v1"]), "paths").(map[string]any)
	if get(paths, "/api/v1/namespaces/{namespace}/bindings", "post") == nil {
		t.Error("no create operation")
	}
	if get(paths, "/api/v1/namespaces/{namespace}/bindings", "get") != nil || get(paths, "/api/v1/watch/namespaces/{namespace}/bindings") != nil {
		t.Error("list or watch operations without a list type")
	}
}

func TestEveryKindHasNamedDefinitions(t *testing.T) {
	docs := build(t)
	v2defs := get(decode(t, docs.V2), "definitions").(map[string]any)
	for _, k := range testKinds() {
		v3defs := get(decode(t, docs.V3[gvKey(k.GVK.GroupVersion())]), "components", "schemas").(map[string]any)
		objs := map[schema.GroupVersionKind]runtime.Object{k.GVK: k.New()}
		if k.NewList != nil {
			objs[k.GVK.GroupVersion().WithKind(k.GVK.Kind+"List")] = k.NewList()
		}
		for gvk, obj := range objs {
			name := definitionName(reflect.TypeOf(obj).Elem())
			for version, defs := range map[string]map[string]any{"v2": v2defs, "v3": v3defs} {
				def, ok := defs[name]
				if !ok {
					t.Errorf("%s: no definition %s for %s", version, name, gvk)
					continue
				}
				ext, _ := get(def, "x-kubernetes-group-version-kind").([]any)
				want := map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
				if !slices.ContainsFunc(ext, func(e any) bool { return reflect.DeepEqual(e, want) }) {
					t.Errorf("%s: %s has x-kubernetes-group-version-kind %v, want it to hold %v", version, name, ext, want)
				}
			}
		}
	}
	for _, name := range []string{
		"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"io.k8s.apimachinery.pkg.api.resource.Quantity", "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
		"io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.api.autoscaling.v1.Scale",
	} {
		if v2defs[name] == nil {
			t.Errorf("no definition %s", name)
		}
	}
}

// walk calls fn on every JSON object within v.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, e := range v {
			walk(e, fn)
		}
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	}
}

func TestRefsResolve(t *testing.T) {
	docs := build(t)
	check := func(doc map[string]any, prefix string, defs map[string]any) {
		n := 0
		walk(doc, func(m map[string]any) {
			ref, ok := m["$ref"].(string)
			if !ok {
				return
			}
			n++
			if _, found := defs[strings.TrimPrefix(ref, prefix)]; !strings.HasPrefix(ref, prefix) || !found {
				t.Errorf("unresolved $ref %q", ref)
			}
		})
		if n == 0 {
			t.Error("no $ref at all")
		}
	}
	v2 := decode(t, docs.V2)
	check(v2, "#/definitions/", v2["definitions"].(map[string]any))
	for key, b := range docs.V3 {
		t.Run(key, func(t *testing.T) {
			doc := decode(t, b)
			check(doc, "#/components/schemas/", get(doc, "components", "schemas").(map[string]any))
		})
	}
}

func TestSchemaShapes(t *testing.T) {
	docs := build(t)
	v2 := get(decode(t, docs.V2), "definitions")
	v3 := get(decode(t, docs.V3["apis/apps/v1"]), "components", "schemas")
	cases := []struct {
		name string
		doc  any
		path []string
		want any
	}{
		{"v2 quantity is a string", v2, []string{"io.k8s.apimachinery.pkg.api.resource.Quantity", "type"}, "string"},
		{"v3 quantity is a string or a number", v3, []string{"io.k8s.apimachinery.pkg.api.resource.Quantity", "oneOf"}, []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
		{"v2 int-or-string", v2, []string{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "format"}, "int-or-string"},
		{"v2 int-or-string type", v2, []string{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "type"}, "string"},
		{"v3 int-or-string", v3, []string{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "x-kubernetes-int-or-string"}, true},
		{"time", v2, []string{"io.k8s.apimachinery.pkg.apis.meta.v1.Time", "format"}, "date-time"},
		{"raw extension", v2, []string{"io.k8s.apimachinery.pkg.runtime.RawExtension", "type"}, "object"},
		{"fields v1", v2, []string{"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", "type"}, "object"},
		{"int32", v2, []string{"io.k8s.api.apps.v1.DeploymentSpec", "properties", "replicas", "format"}, "int32"},
		{"int64", v2, []string{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "properties", "generation", "format"}, "int64"},
		{"bytes", v2, []string{"io.k8s.api.core.v1.Secret", "properties", "data", "additionalProperties"}, map[string]any{"type": "string", "format": "byte"}},
		{"map of quantities", v2, []string{"io.k8s.api.core.v1.ResourceRequirements", "properties", "limits", "additionalProperties", "$ref"}, "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
		{"inline TypeMeta", v2, []string{"io.k8s.api.apps.v1.Deployment", "properties", "kind", "type"}, "string"},
		{"v2 metadata ref", v2, []string{"io.k8s.api.apps.v1.Deployment", "properties", "metadata", "$ref"}, "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{"v3 metadata ref", v3, []string{"io.k8s.api.apps.v1.Deployment", "properties", "metadata", "allOf"}, []any{map[string]any{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}},
		{"array items", v3, []string{"io.k8s.api.core.v1.PodSpec", "properties", "containers", "items", "$ref"}, "#/components/schemas/io.k8s.api.core.v1.Container"},
		{"patch strategy", v3, []string{"io.k8s.api.core.v1.PodSpec", "properties", "containers", "x-kubernetes-patch-strategy"}, "merge"},
		{"patch merge key", v3, []string{"io.k8s.api.core.v1.PodSpec", "properties", "containers", "x-kubernetes-patch-merge-key"}, "name"},
		{"retainKeys", v2, []string{"io.k8s.api.core.v1.PodSpec", "properties", "volumes", "x-kubernetes-patch-strategy"}, "merge,retainKeys"},
		{"ports merge key", v2, []string{"io.k8s.api.core.v1.Container", "properties", "ports", "x-kubernetes-patch-merge-key"}, "containerPort"},
		{"list type", v3, []string{"io.k8s.api.core.v1.PodSpec", "properties", "containers", "x-kubernetes-list-type"}, "map"},
		{"list map keys", v3, []string{"io.k8s.api.core.v1.PodSpec", "properties", "containers", "x-kubernetes-list-map-keys"}, []any{"name"}},
		{"list map keys beyond the merge key", v2, []string{"io.k8s.api.core.v1.Container", "properties", "ports", "x-kubernetes-list-map-keys"}, []any{"containerPort", "protocol"}},
		{"no list type without markers", v2, []string{"io.k8s.api.core.v1.Container", "properties", "args", "x-kubernetes-list-type"}, nil},
		{"inline VolumeSource", v2, []string{"io.k8s.api.core.v1.Volume", "properties", "configMap", "$ref"}, "#/definitions/io.k8s.api.core.v1.ConfigMapVolumeSource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(tc.doc, tc.path...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", strings.Join(tc.path, "."), got, tc.want)
			}
		})
	}
	if get(v2, "io.k8s.apimachinery.pkg.util.intstr.IntOrString", "x-kubernetes-int-or-string") != nil {
		t.Error("v2 IntOrString carries the v3 extension")
	}
}

func TestRequired(t *testing.T) {
	v2 := get(decode(t, build(t).V2), "definitions")
	cases := []struct {
		def, field string
		want       bool
	}{
		{"io.k8s.api.core.v1.Container", "name", true},
		{"io.k8s.api.core.v1.Container", "image", false},
		{"io.k8s.api.core.v1.PodSpec", "containers", true},
		{"io.k8s.api.apps.v1.DeploymentSpec", "selector", true},
		{"io.k8s.api.apps.v1.DeploymentSpec", "template", true},
		{"io.k8s.api.apps.v1.DeploymentSpec", "replicas", false},
		{"io.k8s.api.core.v1.ServicePort", "port", true},
		{"io.k8s.api.core.v1.EnvVar", "name", true},
		{"io.k8s.api.core.v1.GRPCAction", "service", false},
		{"io.k8s.api.core.v1.TypedLocalObjectReference", "apiGroup", false},
		{"io.k8s.api.apps.v1.Deployment", "metadata", false},
		{"io.k8s.api.apps.v1.Deployment", "kind", false},
		{"io.k8s.api.apps.v1.DeploymentList", "items", true},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "name", false},
	}
	for _, tc := range cases {
		req, _ := get(v2, tc.def, "required").([]any)
		if got := slices.Contains(req, any(tc.field)); got != tc.want {
			t.Errorf("%s.%s required = %v, want %v", tc.def, tc.field, got, tc.want)
		}
	}
}

func TestDescriptionsComeFromSwaggerDoc(t *testing.T) {
	docs := build(t)
	v3 := get(decode(t, docs.V3["apis/apps/v1"]), "components", "schemas")
	strategy := get(v3, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "strategy", "description")
	if want := (appsv1.DeploymentSpec{}).SwaggerDoc()["strategy"]; strategy != want || want == "" {
		t.Errorf("DeploymentSpec.strategy description = %q, want %q", strategy, want)
	}
	if got, want := get(v3, "io.k8s.api.apps.v1.Deployment", "description"), (appsv1.Deployment{}).SwaggerDoc()[""]; got != want {
		t.Errorf("Deployment description = %q, want %q", got, want)
	}
	// Fields of inline structs take their docs from the struct declaring them.
	if got, want := get(v3, "io.k8s.api.core.v1.Volume", "properties", "secret", "description"), (corev1.VolumeSource{}).SwaggerDoc()["secret"]; got != want {
		t.Errorf("Volume.secret description = %q, want %q", got, want)
	}
	// Nearly every field of the API types is documented; a generator that
	// loses descriptions shows here.
	var fields, described int
	for name, def := range get(decode(t, docs.V2), "definitions").(map[string]any) {
		if d, _ := get(def, "description").(string); d == "" {
			t.Errorf("definition %s has no description", name)
		}
		props, _ := get(def, "properties").(map[string]any)
		for _, p := range props {
			fields++
			if get(p, "description") != nil {
				described++
			}
		}
	}
	if described < fields*95/100 {
		t.Errorf("%d of %d properties described, want 95%%", described, fields)
	}
}

func TestPaths(t *testing.T) {
	docs := build(t)
	v3 := decode(t, docs.V3["apis/apps/v1"])
	core := decode(t, docs.V3["api/v1"])
	rbac := decode(t, docs.V3["apis/rbac.authorization.k8s.io/v1"])
	cases := []struct {
		doc                  map[string]any
		path, method, id, ac string
	}{
		{core, "/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get"},
		{core, "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list"},
		{core, "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list"},
		{core, "/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "post"},
		{core, "/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch", "patchCoreV1NamespacedPodStatus", "patch"},
		{core, "/api/v1/watch/namespaces/{namespace}/pods", "get", "watchCoreV1NamespacedPodList", "watchlist"},
		{core, "/api/v1/watch/namespaces/{namespace}/pods/{name}", "get", "watchCoreV1NamespacedPod", "watch"},
		{core, "/api/v1/nodes/{name}", "put", "replaceCoreV1Node", "put"},
		{v3, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "delete", "deleteAppsV1NamespacedDeployment", "delete"},
		{v3, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put", "replaceAppsV1NamespacedDeploymentScale", "put"},
		{rbac, "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", "patch", "patchRbacAuthorizationV1ClusterRole", "patch"},
		{rbac, "/apis/rbac.authorization.k8s.io/v1/watch/clusterroles", "get", "watchRbacAuthorizationV1ClusterRoleList", "watchlist"},
	}
	for _, tc := range cases {
		op := get(tc.doc, "paths", tc.path, tc.method)
		if op == nil {
			t.Errorf("no %s %s", tc.method, tc.path)
			continue
		}
		if get(op, "operationId") != tc.id || get(op, "x-kubernetes-action") != tc.ac {
			t.Errorf("%s %s: operationId %v action %v, want %s %s", tc.method, tc.path, get(op, "operationId"), get(op, "x-kubernetes-action"), tc.id, tc.ac)
		}
	}
	scaleGVK := get(v3, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch", "x-kubernetes-group-version-kind")
	want := map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}
	if !reflect.DeepEqual(scaleGVK, want) {
		t.Errorf("scale patch GVK = %v, want %v", scaleGVK, want)
	}
	if get(v3, "components", "schemas", "io.k8s.api.autoscaling.v1.Scale") == nil {
		t.Error("apps/v1 document lacks the Scale definition its scale paths use")
	}
	if get(core, "paths", "/api/v1/namespaces/{namespace}/configmaps/{name}/status") != nil {
		t.Error("configmaps have a status path")
	}
}

// TestFieldValidationSupport checks the documents the way kubectl decides
// whether the server validates fields (cli-runtime's query param
// verifiers): the v3 document of the GVK's group-version, read with
// client-go's openapi3 root, has PATCH operations tagged with the GVK, and
// the first of them it meets (paths come from a map: any of them) lists
// fieldValidation among its own query parameters. The same in v2.
func TestFieldValidationSupport(t *testing.T) {
	docs := build(t)
	client := openapitest.NewFakeClient()
	for key, b := range docs.V3 {
		client.PathsMap[key] = openapitest.FakeGroupVersion{GVSpec: b}
	}
	root := openapi3.NewRoot(client)
	v2 := v2Proto(t, docs.V2Proto)
	for _, k := range testKinds() {
		gvks := []schema.GroupVersionKind{k.GVK}
		if k.Scale != nil {
			gvks = append(gvks, scaleGVK)
		}
		for _, gvk := range gvks {
			spec, err := root.GVSpec(k.GVK.GroupVersion())
			if err != nil {
				t.Fatalf("%s: GVSpec: %v", k.GVK, err)
			}
			patches := 0
			for path, item := range spec.Paths.Paths {
				op := item.Patch
				if op == nil || !hasGVK(op.Extensions, gvk) {
					continue
				}
				patches++
				if !slices.ContainsFunc(op.Parameters, func(p *spec3.Parameter) bool { return p.Name == "fieldValidation" && p.In == "query" }) {
					t.Errorf("v3 PATCH %s (%s) lacks the fieldValidation query parameter", path, gvk)
				}
				if op.RequestBody == nil || op.RequestBody.Content["application/strategic-merge-patch+json"] == nil {
					t.Errorf("v3 PATCH %s (%s) does not take strategic merge patches", path, gvk)
				}
			}
			if patches == 0 {
				t.Errorf("v3: no PATCH operation for %s", gvk)
			}
			if !v2SupportsFieldValidation(v2, gvk) {
				t.Errorf("v2: no PATCH operation for %s with fieldValidation", gvk)
			}
		}
	}
}

func hasGVK(ext map[string]any, gvk schema.GroupVersionKind) bool {
	m, ok := ext["x-kubernetes-group-version-kind"].(map[string]any)
	return ok && m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind
}

// v2SupportsFieldValidation reads the v2 document as kubectl's fallback
// verifier does: the first PATCH operation of the GVK decides.
func v2SupportsFieldValidation(doc *openapi_v2.Document, gvk schema.GroupVersionKind) bool {
	for _, path := range doc.GetPaths().GetPath() {
		patch := path.GetValue().GetPatch()
		found := false
		for _, ext := range patch.GetVendorExtension() {
			if ext.GetName() != "x-kubernetes-group-version-kind" {
				continue
			}
			var v map[string]string
			if err := yaml.Unmarshal([]byte(ext.GetValue().GetYaml()), &v); err == nil &&
				v["group"] == gvk.Group && v["version"] == gvk.Version && v["kind"] == gvk.Kind {
				found = true
			}
		}
		if !found {
			continue
		}
		for _, p := range patch.GetParameters() {
			if p.GetParameter().GetNonBodyParameter().GetQueryParameterSubSchema().GetName() == "fieldValidation" {
				return true
			}
		}
		return false
	}
	return false
}

// v2Proto decodes the protobuf v2 document as client-go does.
func v2Proto(t testing.TB, b []byte) *openapi_v2.Document {
	t.Helper()
	doc := &openapi_v2.Document{}
	if err := protobuf.Unmarshal(b, doc); err != nil {
		t.Fatalf("cannot decode the v2 protobuf document: %v", err)
	}
	return doc
}

// TestV2JSONMatchesProto checks that the JSON and protobuf forms of the v2
// document say the same: gnostic reads the JSON into the same paths,
// operations, definitions and fields.
func TestV2JSONMatchesProto(t *testing.T) {
	docs := build(t)
	fromJSON, err := openapi_v2.ParseDocument(docs.V2)
	if err != nil {
		t.Fatalf("gnostic cannot parse the v2 JSON document: %v", err)
	}
	fromProto := v2Proto(t, docs.V2Proto)
	type summary struct {
		paths, ops, defs, props, exts int
	}
	sum := func(d *openapi_v2.Document) (s summary) {
		for _, p := range d.GetPaths().GetPath() {
			s.paths++
			for _, op := range []*openapi_v2.Operation{p.Value.Get, p.Value.Put, p.Value.Post, p.Value.Delete, p.Value.Patch} {
				if op != nil {
					s.ops += 1 + len(op.Parameters)
					s.exts += len(op.VendorExtension)
				}
			}
		}
		for _, def := range d.GetDefinitions().GetAdditionalProperties() {
			s.defs++
			s.exts += len(def.Value.VendorExtension)
			for _, p := range def.Value.GetProperties().GetAdditionalProperties() {
				s.props++
				s.exts += len(p.Value.VendorExtension)
			}
		}
		return s
	}
	if a, b := sum(fromJSON), sum(fromProto); a != b || a.defs == 0 {
		t.Errorf("JSON %+v, protobuf %+v", a, b)
	}
	jsonModels, err := proto.NewOpenAPIData(fromJSON)
	if err != nil {
		t.Fatal(err)
	}
	protoModels, err := proto.NewOpenAPIData(fromProto)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jsonModels.ListModels(), protoModels.ListModels()) {
		t.Error("JSON and protobuf documents have different models")
	}
	for _, name := range protoModels.ListModels() {
		a, b := jsonModels.LookupModel(name), protoModels.LookupModel(name)
		if !reflect.DeepEqual(a.GetExtensions(), b.GetExtensions()) || a.GetDescription() != b.GetDescription() {
			t.Errorf("%s: JSON and protobuf models differ", name)
		}
	}
}

// v2Models reads the protobuf v2 document into kubectl's models and
// indexes them by GVK, as kubectl's OpenAPI getter does.
func v2Models(t testing.TB, b []byte) (proto.Models, map[schema.GroupVersionKind]string) {
	t.Helper()
	models, err := proto.NewOpenAPIData(v2Proto(t, b))
	if err != nil {
		t.Fatalf("kubectl cannot read the v2 models: %v", err)
	}
	byGVK := map[schema.GroupVersionKind]string{}
	for _, name := range models.ListModels() {
		list, _ := models.LookupModel(name).GetExtensions()["x-kubernetes-group-version-kind"].([]any)
		for _, e := range list {
			m, _ := e.(map[any]any)
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			k, _ := m["kind"].(string)
			byGVK[schema.GroupVersionKind{Group: g, Version: v, Kind: k}] = name
		}
	}
	return models, byGVK
}

// validate runs kubectl's client-side validation of one object.
func validate(t testing.TB, models proto.Models, byGVK map[schema.GroupVersionKind]string, manifest []byte) []error {
	t.Helper()
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatalf("bad manifest: %v", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(js, &obj); err != nil {
		t.Fatalf("bad manifest: %v", err)
	}
	gv, err := schema.ParseGroupVersion(obj["apiVersion"].(string))
	if err != nil {
		t.Fatal(err)
	}
	gvk := gv.WithKind(obj["kind"].(string))
	name, ok := byGVK[gvk]
	if !ok {
		t.Fatalf("no model for %s", gvk)
	}
	return protovalidation.ValidateModel(obj, models.LookupModel(name), gvk.Kind)
}

func TestClientSideValidation(t *testing.T) {
	models, byGVK := v2Models(t, build(t).V2Proto)
	good := []string{`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80, name: http}]
        resources:
          requests: {cpu: 100m, memory: 1}
          limits: {cpu: 0.5, memory: 128Mi}
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 5}
        livenessProbe: {grpc: {port: 9000}}
        env: [{name: A, value: "1"}, {name: B, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
      volumes: [{name: c, configMap: {name: cfg}}, {name: e, emptyDir: {}}]
`, `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}, {port: 53, protocol: UDP, targetPort: dns}]}
`, `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: default, annotations: {a: b}}
data: {key: value}
binaryData: {bin: aGVsbG8=}
`}
	for _, m := range good {
		if errs := validate(t, models, byGVK, []byte(m)); len(errs) > 0 {
			t.Errorf("valid manifest rejected: %v\n%s", errs, m)
		}
	}
	bad := []struct{ manifest, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatas: {a: b}\n", `unknown field "datas"`},
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {}}\n", `spec.replicas`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{image: nginx}]}\n", `missing required field "name"`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: x, labelz: {}}\nspec: {containers: [{name: a}]}\n", `unknown field "labelz"`},
	}
	for _, tc := range bad {
		errs := validate(t, models, byGVK, []byte(tc.manifest))
		if !strings.Contains(errors.Join(errs...).Error()+" ", tc.want) {
			t.Errorf("validation errors %v, want one about %s", errs, tc.want)
		}
	}
}

// TestFixturesValidate validates k8s.io/api's round-trip fixtures, objects
// with every field set, against the v2 document: each field must be known
// and of the right type.
func TestFixturesValidate(t *testing.T) {
	dir := moduleDir(t, "k8s.io/api")
	models, byGVK := v2Models(t, build(t).V2Proto)
	n := 0
	for _, k := range testKinds() {
		for _, kind := range []string{k.GVK.Kind, k.GVK.Kind + "List"} {
			group := k.GVK.Group
			if group != "" {
				group += "."
			}
			b, err := os.ReadFile(filepath.Join(dir, "testdata", "HEAD", group+k.GVK.Version+"."+kind+".json"))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, err := range validate(t, models, byGVK, b) {
				// Zero times in maps come out as null in the fixtures,
				// which no schema accepts.
				if !strings.Contains(err.Error(), `unknown object type "nil"`) {
					t.Errorf("%s: %v", kind, err)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no fixtures found")
	}
}

// TestMatchesUpstream compares definitions with the upstream OpenAPI v3
// documents client-go ships as test data: the same fields, patch
// extensions and required fields, except where the Go types have moved on
// since those documents or where only a source comment (+optional) tells.
func TestMatchesUpstream(t *testing.T) {
	dir := filepath.Join(moduleDir(t, "k8s.io/client-go"), "openapi", "openapitest", "testdata")
	known := map[string]bool{
		// +optional without omitempty.
		"required io.k8s.api.apps.v1.ControllerRevision.data":                   true,
		"required io.k8s.api.apps.v1.StatefulSetOrdinals.start":                 true,
		"required io.k8s.api.apps.v1.StatefulSetStatus.availableReplicas":       true,
		"required io.k8s.api.core.v1.ContainerImage.names":                      true,
		"required io.k8s.api.core.v1.Event.reportingComponent":                  true,
		"required io.k8s.api.core.v1.Event.reportingInstance":                   true,
		"required io.k8s.api.core.v1.ProjectedVolumeSource.sources":             true,
		"required io.k8s.api.discovery.v1.EndpointSlice.ports":                  true,
		"required io.k8s.api.batch.v1.PodFailurePolicyRule.onPodConditions":     true, // now optional
		"required io.k8s.api.core.v1.HostAlias.ip":                              true, // now required
		"required io.k8s.api.core.v1.PodIP.ip":                                  true, // now required
		"field io.k8s.api.core.v1.PersistentVolumeClaimStatus.resizeStatus":     true, // removed
		"field io.k8s.api.core.v1.PodResourceClaim.source":                      true, // removed
		"ext io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement.key": true, // tag removed
	}
	docs := build(t)
	ours := map[string]map[string]any{}
	for _, b := range docs.V3 {
		for name, def := range get(decode(t, b), "components", "schemas").(map[string]any) {
			ours[name] = def.(map[string]any)
		}
	}
	compared := 0
	for _, file := range []string{"api__v1_openapi.json", "apis__apps__v1_openapi.json", "apis__batch__v1_openapi.json", "apis__discovery.k8s.io__v1_openapi.json"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Skipf("upstream documents not found: %v", err)
		}
		for name, up := range get(decode(t, b), "components", "schemas").(map[string]any) {
			our, ok := ours[name]
			if !ok {
				continue
			}
			compared++
			props, _ := get(up, "properties").(map[string]any)
			ourProps, _ := our["properties"].(map[string]any)
			upReq, _ := get(up, "required").([]any)
			ourReq, _ := our["required"].([]any)
			for field, p := range props {
				q, ok := ourProps[field]
				if !ok {
					if !known["field "+name+"."+field] {
						t.Errorf("%s: no field %s", name, field)
					}
					continue
				}
				for _, ext := range []string{"x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key"} {
					if get(p, ext) != get(q, ext) && !known["ext "+name+"."+field] {
						t.Errorf("%s.%s: %s = %v, upstream %v", name, field, ext, get(q, ext), get(p, ext))
					}
				}
				if get(p, "type") != get(q, "type") || get(p, "format") != get(q, "format") {
					t.Errorf("%s.%s: type %v/%v, upstream %v/%v", name, field, get(q, "type"), get(q, "format"), get(p, "type"), get(p, "format"))
				}
				if slices.Contains(upReq, any(field)) != slices.Contains(ourReq, any(field)) && !known["required "+name+"."+field] {
					t.Errorf("%s.%s: required %v, upstream %v", name, field, slices.Contains(ourReq, any(field)), !slices.Contains(ourReq, any(field)))
				}
			}
		}
	}
	if compared < 100 {
		t.Errorf("compared only %d definitions", compared)
	}
}

// moduleDir returns where the go command keeps a module of the build.
func moduleDir(t testing.TB, module string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Skipf("cannot locate module %s: %v", module, err)
	}
	return string(bytes.TrimSpace(out))
}

// TestStrategicMergePatch computes a three-way patch from the v3 document
// as kubectl apply does: container lists merge by name.
func TestStrategicMergePatch(t *testing.T) {
	var doc spec3.OpenAPI
	if err := json.Unmarshal(build(t).V3["apis/apps/v1"], &doc); err != nil {
		t.Fatalf("kube-openapi cannot read the v3 document: %v", err)
	}
	deployment := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if deployment == nil {
		t.Fatal("no Deployment schema")
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: deployment, SchemaList: doc.Components.Schemas}
	original := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`)
	modified := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"b","image":"b:1"}]}}}}`)
	current := []byte(`{"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"a","image":"a:1","imagePullPolicy":"Always"},{"name":"b","image":"b:1"}]}}}}`)
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
	if err != nil {
		t.Fatalf("CreateThreeWayMergePatch: %v", err)
	}
	want := `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"image":"a:2","name":"a"}]}}}}`
	if string(patch) != want {
		t.Errorf("patch = %s\nwant    %s", patch, want)
	}
}

// TestClientGoReadsV3 loads every v3 document with client-go's openapi3
// root, the way kubectl explain and apply fetch them.
func TestClientGoReadsV3(t *testing.T) {
	docs := build(t)
	client := openapitest.NewFakeClient()
	for key, b := range docs.V3 {
		client.PathsMap[key] = openapitest.FakeGroupVersion{GVSpec: b}
	}
	var _ openapi.Client = client
	root := openapi3.NewRoot(client)
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(gvs) != len(docs.V3) {
		t.Errorf("client-go sees %d group-versions, want %d", len(gvs), len(docs.V3))
	}
	for _, gv := range gvs {
		spec, err := root.GVSpec(gv)
		if err != nil {
			t.Errorf("%s: %v", gv, err)
			continue
		}
		if spec.Info == nil || len(spec.Paths.Paths) == 0 || len(spec.Components.Schemas) == 0 {
			t.Errorf("%s: empty document", gv)
		}
	}
}

// TestManagedFieldsTypeConverter builds the structured-merge-diff type
// converter server-side apply would use from the v3 documents: lists key
// their items as Kubernetes declares (ports by port and protocol,
// containers by name).
func TestManagedFieldsTypeConverter(t *testing.T) {
	docs := build(t)
	client := openapitest.NewFakeClient()
	for key, b := range docs.V3 {
		client.PathsMap[key] = openapitest.FakeGroupVersion{GVSpec: b}
	}
	tc, err := openapi.NewTypeConverter(client, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	dns := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "dns"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			{Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
		}},
	}
	typed, err := tc.ObjectToTyped(dns)
	if err != nil {
		t.Fatalf("service with a port on TCP and UDP: %v", err)
	}
	set, err := typed.ToFieldSet()
	if err != nil {
		t.Fatal(err)
	}
	if s := set.String(); !strings.Contains(s, `.spec.ports[port=53,protocol="UDP"].targetPort`) {
		t.Errorf("field set lacks the UDP port keyed by port and protocol:\n%s", s)
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "a"}}},
	}
	if _, err := tc.ObjectToTyped(pod); err == nil || !strings.Contains(err.Error(), "duplicate entries") {
		t.Errorf("two containers named a: err %v, want duplicate entries", err)
	}
}

// BenchmarkBuild times Build at server start, for the registry's kinds
// and for the wider test set.
func BenchmarkBuild(b *testing.B) {
	for _, bc := range []struct {
		name  string
		kinds []*registry.Kind
	}{{"registry", registry.Kinds()}, {"test", testKinds()}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Build(bc.kinds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bc.kinds)), "kinds")
		})
	}
}
