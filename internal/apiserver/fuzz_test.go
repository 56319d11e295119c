package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-sh/bosun/internal/registry"
)

// The fuzz targets feed client-controlled input through the decoders and
// parsers the server runs before touching storage. They check for panics,
// for hangs, and that every refusal is a statusError with a client-error
// code. Run them with hack/fuzz.sh.

var fuzzKinds = registry.Kinds()

// wantStatus fails unless err is a *statusError with one of codes.
func wantStatus(t *testing.T, err error, codes ...int32) {
	t.Helper()
	var se *statusError
	if !errors.As(err, &se) {
		t.Fatalf("error is %T, not *statusError: %v", err, err)
	}
	if !slices.Contains(codes, se.s.Code) {
		t.Fatalf("status code %d, want one of %v: %s", se.s.Code, codes, se.s.Message)
	}
}

var fuzzContentTypes = []string{
	mediaJSON,
	mediaYAML,
	mediaProtobuf,
	"application/json; charset=utf-8",
	"text/yaml",
	"",
	"text/plain",
	"application/json; =",
}

var fuzzModes = []string{"Ignore", "Warn", "Strict", ""}

func fuzzPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "c",
				Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "A", Value: "1"}},
			}},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func fuzzDeployment() *appsv1.Deployment {
	replicas := int32(3)
	pod := fuzzPod()
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}, Finalizers: []string{"f"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: pod.Spec},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%"))}},
		},
		Status: appsv1.DeploymentStatus{Replicas: 3, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}},
	}
}

func ptr[T any](v T) *T { return &v }

func mustJSON(f *testing.F, obj any) []byte {
	data, err := fastJSON.Marshal(obj)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func mustEncode(f *testing.F, media string, obj runtime.Object) []byte {
	data, err := encode(media, obj)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func kindIndex(f *testing.F, kind string) uint8 {
	for i, k := range fuzzKinds {
		if k.GVK.Kind == kind {
			return uint8(i)
		}
	}
	f.Fatalf("no kind %s", kind)
	return 0
}

// FuzzDecodeRequest decodes request bodies of every content type into
// every kind under every fieldValidation mode.
func FuzzDecodeRequest(f *testing.F) {
	pod, dep := fuzzPod(), fuzzDeployment()
	podKind, depKind := kindIndex(f, "Pod"), kindIndex(f, "Deployment")
	for mode := range uint8(len(fuzzModes)) {
		f.Add(mustJSON(f, pod), uint8(0), mode, podKind)
		f.Add(mustJSON(f, dep), uint8(0), mode, depKind)
		f.Add(mustEncode(f, mediaYAML, dep), uint8(1), mode, depKind)
		f.Add(mustEncode(f, mediaProtobuf, pod), uint8(2), mode, podKind)
		f.Add(mustEncode(f, mediaProtobuf, dep), uint8(2), mode, depKind)
		// Another kind decoded silently into an empty object.
		f.Add(mustEncode(f, mediaProtobuf, dep), uint8(2), mode, podKind)
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"},"spec":{"bogus":1}}`), uint8(0), uint8(1), podKind)
	f.Add([]byte(`{"metadata":{"Name":"a"},"spec":{"replicas":"3"}}`), uint8(3), uint8(2), depKind)
	f.Add([]byte(`{"spec":{"replicas":1e400,"template":{"spec":{"containers":[{"resources":{"limits":{"cpu":"1e999999"}}}]}}}}`), uint8(0), uint8(0), depKind)
	f.Add([]byte(`{"metadata":{"creationTimestamp":"not a time","labels":null}}`), uint8(0), uint8(0), podKind)
	f.Add([]byte(`null`), uint8(0), uint8(0), podKind)
	f.Add([]byte(`   `), uint8(1), uint8(0), podKind)
	f.Add([]byte(strings.Repeat("[", 20000)), uint8(0), uint8(0), podKind)
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n"), uint8(4), uint8(1), podKind)
	f.Add([]byte("metadata:\n  name: a\n  name: b\n"), uint8(1), uint8(2), podKind)
	f.Add([]byte("k8s\x00\n\x02v1\x12\x03Pod\x12\x00"), uint8(2), uint8(0), podKind)
	f.Add([]byte("k8s\x00\n\x0a\x0aapps/v1\x12\x0aDeployment\x12\x04\x0a\x02\x0a\x00"), uint8(2), uint8(0), depKind)
	f.Add([]byte(`{}`), uint8(6), uint8(0), podKind)
	f.Add([]byte(`{}`), uint8(7), uint8(0), podKind)

	f.Fuzz(func(t *testing.T, body []byte, ct, mode, kind uint8) {
		if len(body) > maxBodyBytes {
			return // readBody answers 413 before decoding
		}
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		k := fuzzKinds[int(kind)%len(fuzzKinds)]
		strict, err := parseFieldValidation(fuzzModes[int(mode)%len(fuzzModes)])
		if err != nil {
			t.Fatal(err)
		}
		obj := k.New()
		warns, err := decodeRequest(contentType, body, obj, strict)
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
			return
		}
		if len(warns) > 0 && strict != validateWarn {
			t.Fatalf("warnings under %v: %v", strict, warns)
		}
		if gvk := obj.GetObjectKind().GroupVersionKind(); contentType == mediaProtobuf && gvk != k.GVK {
			t.Fatalf("a protobuf %v decoded as a %v", gvk, k.GVK)
		}
		// What decoded must encode again, in every response form.
		setTypeMeta(obj, k.GVK)
		for _, media := range []string{mediaJSON, mediaYAML, mediaProtobuf} {
			if _, err := encode(media, obj); err != nil {
				t.Fatalf("encoding the decoded %s as %s: %v", k.GVK.Kind, media, err)
			}
		}
	})
}

var fuzzPatchTypes = []string{patchJSON, patchMerge, patchStrategic}

// FuzzPatch applies arbitrary patches of each type to a Deployment and a
// Pod as PATCH does, and decodes the result. A patch is at most
// maxBodyBytes (readBody refuses more) and must apply in bounded time and
// space, which takes the bounds of update.go: maxJSONPatchCopyBytes keeps
// "copy" from doubling the object per operation, maxJSONPatchOps and
// maxMergeCost keep list operations, quadratic in the libraries, short.
func FuzzPatch(f *testing.F) {
	for pt := range uint8(len(fuzzPatchTypes)) {
		f.Add([]byte(`{}`), pt, uint8(0), false)
	}
	f.Add([]byte(`[{"op":"replace","path":"/spec/replicas","value":5}]`), uint8(0), uint8(2), false)
	f.Add([]byte(`[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"d","image":"busybox"}}]`), uint8(0), uint8(0), false)
	f.Add([]byte(`[{"op":"remove","path":"/spec/template/spec/containers/-1"}]`), uint8(0), uint8(0), false)
	f.Add([]byte(`[{"op":"replace","path":""}]`), uint8(0), uint8(0), false) // a root replace without a value panicked
	f.Add([]byte(`[{"op":"replace","path":"","value":null},{"op":"test","path":""},{"op":"add","path":"/x"}]`), uint8(0), uint8(0), true)
	f.Add([]byte(`[{"op":"test","path":"/metadata/name","value":"web"},{"op":"move","from":"/metadata/labels","path":"/metadata/annotations/x"}]`), uint8(0), uint8(0), false)
	f.Add([]byte(`[{"op":"copy","from":"/spec","path":"/spec/template/metadata/annotations/x"}]`), uint8(0), uint8(1), false)
	f.Add([]byte(`[{"op":"add","path":"/metadata/labels/a~1b","value":"c"},{"op":"replace","path":"/spec/template/spec/containers/0/ports/0/containerPort","value":-1}]`), uint8(0), uint8(2), true)
	// Each "copy" doubles spec: without the copy bound this exhausts memory.
	var doubling []string
	for i := range 64 {
		doubling = append(doubling, fmt.Sprintf(`{"op":"copy","from":"/spec","path":"/spec/x%d"}`, i))
	}
	f.Add([]byte("["+strings.Join(doubling, ",")+"]"), uint8(0), uint8(0), false)
	f.Add([]byte(`{"spec":{"replicas":null,"template":{"spec":{"containers":[{"name":"c","image":"httpd"}]}}}}`), uint8(1), uint8(1), false)
	f.Add([]byte(`{"metadata":{"labels":{"app":null,"x":"y"}},"status":{"replicas":"many"}}`), uint8(1), uint8(2), true)
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"httpd"},{"name":"d","image":"x"}]}}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","$patch":"delete"}],"$setElementOrder/containers":[{"name":"c"}]}}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"$patch":"replace"}],"volumes":{"$patch":"delete"}}}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":{"$retainKeys":["replicas"],"replicas":1,"template":{"spec":{"$deleteFromPrimitiveList/finalizers":["f"]}}}}`), uint8(2), uint8(2), false)
	f.Add([]byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["f"],"finalizers":["g"]},"spec":{"ports":[{"port":80,"protocol":"UDP"}]}}`), uint8(2), uint8(0), true)
	f.Add([]byte(`{"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}],"ports":[{"containerPort":80,"$patch":"replace"}]}]}}`), uint8(2), uint8(1), true)
	// Objects and arrays where strategic merge compares or hashes values
	// panicked.
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":{}},{"name":{}}]}}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":{"containers":[{"name":"c","ports":[{"containerPort":[]},{"containerPort":[]}]}]}}`), uint8(2), uint8(0), true)
	f.Add([]byte(`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":{}}],"containers":[{"name":{}}]}}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"metadata":{"$setElementOrder/finalizers":[{}],"finalizers":[{}]}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":{"strategy":{"$retainKeys":[{}],"type":"Recreate"}}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":[{}]}}`), uint8(2), uint8(0), false)
	// Merging a long list took hours before maxMergeCost.
	var finalizers []string
	for i := range 2100 {
		finalizers = append(finalizers, fmt.Sprintf(`"f%d"`, i))
	}
	f.Add([]byte(`{"metadata":{"finalizers":[`+strings.Join(finalizers, ",")+`]}}`), uint8(2), uint8(0), false)
	f.Add([]byte(`{"$patch":"replace","metadata":{"name":"web"}}`), uint8(2), uint8(2), false)
	f.Add([]byte(`{"$patch":"delete"}`), uint8(2), uint8(2), true)
	// Merge patches re-parse each level: deep nesting took minutes.
	deep := []byte(`{"spec":` + strings.Repeat(`{"x":`, 9000) + `"\"}{["` + strings.Repeat(`}`, 9001))
	f.Add(deep, uint8(1), uint8(0), false)
	f.Add(deep, uint8(2), uint8(0), false)
	f.Add([]byte(`{"spec":`+strings.Repeat(`{"x":`, 60)+`"\"}}}"`+strings.Repeat(`}`, 61)), uint8(1), uint8(0), false)

	depJSON := mustJSON(f, fuzzDeployment())
	podJSON := mustJSON(f, fuzzPod())
	f.Fuzz(func(t *testing.T, patch []byte, pt, mode uint8, onPod bool) {
		if len(patch) > maxBodyBytes {
			return // readBody answers 413 before the patch is read
		}
		typ := fuzzPatchTypes[int(pt)%len(fuzzPatchTypes)]
		strict, err := parseFieldValidation(fuzzModes[int(mode)%len(fuzzModes)])
		if err != nil {
			t.Fatal(err)
		}
		cur, next := depJSON, runtime.Object(&appsv1.Deployment{})
		if onPod {
			cur, next = podJSON, &corev1.Pod{}
		}
		if json.Valid(patch) && jsonDepth(patch) != tokenDepth(patch) {
			t.Fatalf("jsonDepth = %d, want %d", jsonDepth(patch), tokenDepth(patch))
		}
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("a %d-byte %s patch took %v", len(patch), typ, d)
			}
		}()
		if err := checkPatch(typ, patch); err != nil {
			wantStatus(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		out, err := applyPatch(typ, cur, patch, next.DeepCopyObject())
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
			return
		}
		// Escaping may grow what the patch adds (six bytes for "<" as
		// \u003c); beyond that, only JSON patch copies add bytes.
		if limit := 6*(len(cur)+len(patch)) + 2*maxJSONPatchCopyBytes; len(out) > limit {
			t.Fatalf("a %d-byte %s patch made a %d-byte object", len(patch), typ, len(out))
		}
		if _, err := decodeInto(out, next, strict); err != nil {
			wantStatus(t, err, http.StatusBadRequest)
		}
	})
}

// tokenDepth is jsonDepth by the standard library's tokenizer.
func tokenDepth(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzSelectors parses label and field selectors as a list or watch of
// each kind does.
func FuzzSelectors(f *testing.F) {
	podKind := kindIndex(f, "Pod")
	for _, s := range [][2]string{
		{"", ""},
		{"app=web,tier!=db", "metadata.name=web"},
		{"app in (a,b),!gone,has", "spec.nodeName!=,status.phase=Running"},
		{"environment notin (production, qa), x.y/z", `metadata.namespace==default,spec.nodeName=a\,b`},
		{"a>1,b<2", "metadata.name=a\\=b"},
		{"app=", "=x"},
		{"(,)", "spec.unknownField=1"},
		{"a in (", "a=b,,"},
		{strings.Repeat("a", 300) + "=b", strings.Repeat(`\`, 100)},
	} {
		f.Add(s[0], s[1], podKind)
	}
	f.Fuzz(func(t *testing.T, ls, fs string, kind uint8) {
		k := fuzzKinds[int(kind)%len(fuzzKinds)]
		h := &handler{rs: &resource{served: k, stored: k}}
		sel, err := h.selectors(map[string][]string{"labelSelector": {ls}, "fieldSelector": {fs}})
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest)
			return
		}
		// A parsed selector must be usable on an object of the kind.
		obj := k.New()
		setTypeMeta(obj, k.GVK)
		accessor(obj).SetLabels(map[string]string{"app": "web"})
		sel.matches(h.rs, obj)
		_ = sel.labels.String() + sel.fields.String()
	})
}

// FuzzListParams parses the paging and resourceVersion parameters of a
// list, and the continue token it carries.
func FuzzListParams(f *testing.F) {
	prefix := "/registry/core/pods/default/"
	tok := encodeContinue(42, prefix+"web")
	for _, s := range [][5]string{
		{"", "", "", "", ""},
		{"0", "", "500", "", "30"},
		{"10", "NotOlderThan", "1", "", ""},
		{"10", "Exact", "", "", ""},
		{"0", "Exact", "", "", ""},
		{"", "Exact", "", "", ""},
		{"", "", "2", tok, ""},
		{"5", "", "2", tok, ""},
		{"0", "", "2", encodeContinue(0, prefix), ""},
		{"", "", "", encodeContinue(1, "/registry/core/pods/"), ""},
		{"-1", "", "-1", "!!", "-5"},
		{"9223372036854775808", "", "9223372036854775807", "e30", "1e3"},
		{"+7", "exact", " 1", "eyJydiI6MSwic3RhcnQiOm51bGx9", "0x10"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], false)
	}
	f.Fuzz(func(t *testing.T, rv, match, limit, cont, timeout string, allNamespaces bool) {
		q := map[string][]string{}
		for k, v := range map[string]string{"resourceVersion": rv, "resourceVersionMatch": match, "limit": limit, "continue": cont, "timeoutSeconds": timeout} {
			if v != "" {
				q[k] = []string{v}
			}
		}
		p, err := parseListParams(q)
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest)
			return
		}
		switch {
		case p.rv < 0, p.limit < 0, p.timeout < 0:
			t.Fatalf("negative value accepted: %+v", p)
		case p.rvZero && p.rv != 0, p.rvZero && !p.rvSet:
			t.Fatalf("inconsistent resourceVersion: %+v", p)
		case p.match != "" && p.match != "Exact" && p.match != "NotOlderThan":
			t.Fatalf("resourceVersionMatch %q accepted", p.match)
		case p.match == "Exact" && p.rvZero:
			t.Fatalf("Exact with resourceVersion 0 accepted")
		}
		if p.cont == "" {
			return
		}
		pre := prefix
		if allNamespaces {
			pre = "/registry/core/pods/"
		}
		tok, err := decodeContinue(p.cont, pre)
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest)
			return
		}
		if tok.Rev <= 0 || !strings.HasPrefix(tok.After, pre) {
			t.Fatalf("continue token %+v accepted for prefix %q", tok, pre)
		}
		again, err := decodeContinue(encodeContinue(tok.Rev, tok.After), pre)
		if err != nil || again != tok {
			t.Fatalf("continue token %+v does not round-trip: %+v, %v", tok, again, err)
		}
	})
}

// fuzzNamespaced answers for the registry's kinds as the server does.
func fuzzNamespaced(gv schema.GroupVersion, resource string) (namespaced, known bool) {
	for _, k := range fuzzKinds {
		if k.GVK.GroupVersion() == gv && k.Resource == resource {
			return k.Namespaced, true
		}
	}
	return false, false
}

// targetPath renders t back into a URL path.
func targetPath(t target) string {
	var b strings.Builder
	if t.gv.Group == "" {
		b.WriteString("/api/" + t.gv.Version)
	} else {
		b.WriteString("/apis/" + t.gv.Group + "/" + t.gv.Version)
	}
	if t.namespace != "" {
		b.WriteString("/namespaces/" + t.namespace)
	}
	for _, p := range []string{t.resource, t.name, t.subresource} {
		if p != "" {
			b.WriteString("/" + p)
		}
	}
	return b.String()
}

// FuzzParsePath splits URL paths into resource targets; an accepted path
// must have all its parts and render back to a path that parses the same.
func FuzzParsePath(f *testing.F) {
	for _, p := range []string{
		"/api/v1/pods",
		"/api/v1/namespaces",
		"/api/v1/namespaces/default",
		"/api/v1/namespaces/default/status",
		"/api/v1/namespaces/default/finalize",
		"/api/v1/namespaces/default/pods/web/status",
		"/api/v1/namespaces/default/pods/web/status/extra",
		"/apis/apps/v1/namespaces/default/deployments/web/scale",
		"/apis/apps/v1/deployments",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
		"/apis//v1/pods",
		"/apis/apps//deployments",
		"/api/v1//pods",
		"/api/v2/pods",
		"/apis/apps",
		"api/v1/nodes/n1/",
		"//api/v1/nodes",
		"/api/v1/namespaces/a/namespaces/b",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tg, ok := parsePath(path, fuzzNamespaced)
		if !ok {
			return
		}
		if tg.gv.Version == "" || tg.resource == "" || (tg.subresource != "" && tg.name == "") {
			t.Fatalf("parsePath(%q) accepted an incomplete target %+v", path, tg)
		}
		for _, p := range []string{tg.gv.Group, tg.gv.Version, tg.namespace, tg.resource, tg.name, tg.subresource} {
			if strings.Contains(p, "/") {
				t.Fatalf("parsePath(%q): part %q holds a slash", path, p)
			}
		}
		again, ok := parsePath(targetPath(tg), fuzzNamespaced)
		if !ok || again != tg {
			t.Fatalf("parsePath(%q) = %+v renders as %q, which parses as %+v, %v", path, tg, targetPath(tg), again, ok)
		}
	})
}

// FuzzAccept negotiates response formats from Accept headers.
func FuzzAccept(f *testing.F) {
	for _, h := range []string{
		"",
		"*/*",
		"application/json",
		"application/yaml, application/json;q=0.9",
		"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json",
		"application/json;as=Table;v=v1beta1;g=meta.k8s.io",
		"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
		"application/json;stream=watch",
		"text/html, application/*",
		"application/json;as=Table;v=v2;g=meta.k8s.io",
		"application/json;;;, ,=,",
		`application/json;as="Ta\"ble"`,
		"image/png",
	} {
		f.Add(h, uint8(3))
	}
	allow := []string{"Table", "PartialObjectMetadata", "PartialObjectMetadataList"}
	f.Fuzz(func(t *testing.T, h string, allowBits uint8) {
		allowAs := map[string]bool{}
		for i, a := range allow {
			if allowBits&(1<<i) != 0 {
				allowAs[a] = true
			}
		}
		for _, m := range parseAccept(h) {
			if m.typ == "" {
				t.Fatalf("parseAccept(%q): a media range with no type", h)
			}
		}
		r := &http.Request{Header: http.Header{"Accept": {h}}}
		fm, ok := negotiate(r, allowAs)
		if !ok {
			if h == "" {
				t.Fatal("no Accept header must negotiate JSON")
			}
			return
		}
		if fm.media != mediaJSON && fm.media != mediaYAML && fm.media != mediaProtobuf {
			t.Fatalf("negotiate(%q) picked media %q", h, fm.media)
		}
		if fm.as != "" && (!allowAs[fm.as] || (fm.vers != "v1" && fm.vers != "v1beta1")) {
			t.Fatalf("negotiate(%q) picked as=%q v=%q, allowed %v", h, fm.as, fm.vers, allowAs)
		}
	})
}
