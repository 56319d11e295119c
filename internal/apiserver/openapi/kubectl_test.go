package openapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/registry"
)

const kubectlPath = "/usr/bin/kubectl"

// fakeServer serves the documents with just enough of the API for
// kubectl: discovery, the OpenAPI endpoints, and an in-memory store that
// answers create, get and patch, recording what kubectl sent.
type fakeServer struct {
	docs  *Documents
	kinds []*registry.Kind

	mu       sync.Mutex
	objects  map[string][]byte // by URL path of the object
	requests []request
}

type request struct {
	method, path, contentType string
	query                     map[string][]string
	body                      string
}

func newFakeServer(t *testing.T, docs *Documents, kinds []*registry.Kind) *httptest.Server {
	s := &fakeServer{docs: docs, kinds: kinds, objects: map[string][]byte{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.URL.Query(), string(body)})

	path := r.URL.Path
	switch {
	case path == "/openapi/v2":
		if strings.Contains(r.Header.Get("Accept"), "protobuf") {
			w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
			w.Write(s.docs.V2Proto)
			return
		}
		s.write(w, http.StatusOK, s.docs.V2)
		return
	case path == "/openapi/v3":
		s.write(w, http.StatusOK, s.docs.V3Root)
		return
	case strings.HasPrefix(path, "/openapi/v3/"):
		if doc, ok := s.docs.V3[strings.TrimPrefix(path, "/openapi/v3/")]; ok {
			s.write(w, http.StatusOK, doc)
			return
		}
	case path == "/version":
		s.writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
		return
	case path == "/api":
		s.writeJSON(w, http.StatusOK, metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
		})
		return
	case path == "/apis":
		s.writeJSON(w, http.StatusOK, s.groups())
		return
	}
	for _, gv := range s.groupVersions() {
		if path == groupVersionPrefix(gv) {
			s.writeJSON(w, http.StatusOK, s.resources(gv))
			return
		}
	}
	switch r.Method {
	case http.MethodPost:
		var obj struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		if json.Unmarshal(body, &obj) == nil && obj.Metadata.Name != "" {
			s.objects[path+"/"+obj.Metadata.Name] = body
			s.write(w, http.StatusCreated, body)
			return
		}
	case http.MethodGet, http.MethodPatch:
		if obj, ok := s.objects[path]; ok {
			s.write(w, http.StatusOK, obj)
			return
		}
	}
	s.writeJSON(w, http.StatusNotFound, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound, Message: path + " not found",
	})
}

func (s *fakeServer) write(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func (s *fakeServer) writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	s.write(w, code, b)
}

func (s *fakeServer) groupVersions() []schema.GroupVersion {
	var gvs []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, k := range s.kinds {
		if gv := k.GVK.GroupVersion(); !seen[gv] {
			seen[gv] = true
			gvs = append(gvs, gv)
		}
	}
	return gvs
}

func (s *fakeServer) groups() metav1.APIGroupList {
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	index := map[string]int{}
	for _, gv := range s.groupVersions() {
		if gv.Group == "" {
			continue
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		i, ok := index[gv.Group]
		if !ok {
			i = len(list.Groups)
			index[gv.Group] = i
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, PreferredVersion: v})
		}
		list.Groups[i].Versions = append(list.Groups[i].Versions, v)
	}
	return list
}

func (s *fakeServer) resources(gv schema.GroupVersion) metav1.APIResourceList {
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, k := range s.kinds {
		if k.GVK.GroupVersion() != gv {
			continue
		}
		singular := k.Singular
		if singular == "" {
			singular = strings.ToLower(k.GVK.Kind)
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: k.Resource, SingularName: singular, Namespaced: k.Namespaced, Kind: k.GVK.Kind, ShortNames: k.ShortNames,
			Verbs: metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		})
		if k.HasStatus {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: k.Resource + "/status", Namespaced: k.Namespaced, Kind: k.GVK.Kind, Verbs: metav1.Verbs{"get", "patch", "update"}})
		}
		if k.Scale != nil {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: k.Resource + "/scale", Namespaced: k.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: metav1.Verbs{"get", "patch", "update"}})
		}
	}
	return list
}

func (s *fakeServer) requestsTo(method, path string) []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []request
	for _, r := range s.requests {
		if r.method == method && r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// kubectl runs the real kubectl against url with a private home and cache.
func kubectl(t *testing.T, url, stdin string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(kubectlPath, append([]string{"--server", url, "--cache-dir", filepath.Join(home, "cache")}, args...)...)
	cmd.Env = []string{"HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "config"), "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func requireKubectl(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("%s not available: %v", kubectlPath, err)
	}
	if testing.Short() {
		t.Skip("runs kubectl")
	}
}

func TestKubectlExplain(t *testing.T) {
	requireKubectl(t)
	kinds := testKinds()
	srv := newFakeServer(t, build(t), kinds)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"v3 field of a struct", []string{"explain", "deployment.spec.strategy"}, []string{
			"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1",
			"FIELD: strategy <DeploymentStrategy>", "The deployment strategy to use", "rollingUpdate\t<RollingUpdateDeployment>", "type\t<string>",
		}},
		{"v3 list of structs", []string{"explain", "deployment.spec.template.spec.containers"}, []string{
			"FIELD: containers <[]Container>", "name\t<string> -required-", "image\t<string>", "resources\t<ResourceRequirements>", "ports\t<[]ContainerPort>",
		}},
		{"v3 kind", []string{"explain", "pods"}, []string{
			"KIND:       Pod", "VERSION:    v1", "Pod is a collection of containers", "metadata\t<ObjectMeta>", "spec\t<PodSpec>", "status\t<PodStatus>",
		}},
		{"v3 map of quantities", []string{"explain", "pod.spec.containers.resources.limits"}, []string{"FIELD: limits <map[string]Quantity>"}},
		{"v3 int-or-string", []string{"explain", "services.spec.ports.targetPort"}, []string{"FIELD: targetPort <IntOrString>"}},
		{"v3 time", []string{"explain", "pod.metadata.creationTimestamp"}, []string{"FIELD: creationTimestamp <string>"}},
		{"v3 cluster-scoped kind", []string{"explain", "clusterroles.rules"}, []string{"GROUP:      rbac.authorization.k8s.io", "KIND:       ClusterRole", "verbs\t<[]string> -required-"}},
		{"v3 recursive", []string{"explain", "deployment.spec.strategy", "--recursive"}, []string{"maxSurge\t<IntOrString>"}},
		{"v2 kind", []string{"explain", "pods", "--output=plaintext-openapiv2"}, []string{
			"KIND:     Pod", "VERSION:  v1", "DESCRIPTION:", "Pod is a collection of containers", "spec\t<Object>",
		}},
		{"v2 field", []string{"explain", "deployment.spec.strategy", "--output=plaintext-openapiv2"}, []string{
			"RESOURCE: strategy <Object>", "The deployment strategy to use", "rollingUpdate\t<Object>",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kubectl(t, srv.URL, "", tc.args...)
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
				}
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		out, err := kubectl(t, srv.URL, "", "explain", "deployment.spec.strategee")
		if err == nil || !strings.Contains(out, `field "strategee" does not exist`) {
			t.Errorf("err %v, output:\n%s", err, out)
		}
	})
}

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27", resources: {requests: {cpu: 100m, memory: 1}}, ports: [{containerPort: 80}]}
      - {name: side, image: "busybox:1"}
`

// TestKubectlUsesServerSideValidationAndOpenAPIPatches checks that kubectl
// finds fieldValidation support in the documents (so it leaves validation
// to the server), and that apply computes a strategic merge patch from
// the v3 schema.
func TestKubectlUsesServerSideValidationAndOpenAPIPatches(t *testing.T) {
	requireKubectl(t)
	s := &fakeServer{docs: build(t), kinds: testKinds(), objects: map[string][]byte{}}
	srv := httptest.NewServer(s)
	defer srv.Close()

	// An unknown field passes the client: the server is trusted with it.
	bad := strings.Replace(deploymentYAML, "replicas: 1", "replicas: 1\n  replicass: 1", 1)
	out, err := kubectl(t, srv.URL, bad, "apply", "--validate=strict", "-f", "-")
	if err != nil || !strings.Contains(out, "deployment.apps/web created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	collection := "/apis/apps/v1/namespaces/default/deployments"
	posts := s.requestsTo(http.MethodPost, collection)
	if len(posts) != 1 || posts[0].query["fieldValidation"][0] != "Strict" {
		t.Fatalf("creates %+v, want one with fieldValidation=Strict", posts)
	}

	changed := strings.Replace(deploymentYAML, "nginx:1.27", "nginx:1.28", 1)
	out, err = kubectl(t, srv.URL, changed, "apply", "--validate=strict", "-f", "-")
	if err != nil || !strings.Contains(out, "deployment.apps/web configured") || strings.Contains(out, "warning") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	patches := s.requestsTo(http.MethodPatch, collection+"/web")
	if len(patches) != 1 {
		t.Fatalf("patches %+v, want one", patches)
	}
	p := patches[0]
	if p.contentType != "application/strategic-merge-patch+json" || !strings.Contains(p.body, `"$setElementOrder/containers":[{"name":"web"},{"name":"side"}]`) {
		t.Errorf("patch %s %s, want a strategic merge patch keyed by container name", p.contentType, p.body)
	}
	if p.query["fieldValidation"][0] != "Strict" {
		t.Errorf("patch query %v, want fieldValidation=Strict", p.query)
	}
}

// TestKubectlClientSideValidation makes kubectl validate on its own, from
// the v2 document, by serving v3 documents whose operations do not list
// fieldValidation, as an old server's would.
func TestKubectlClientSideValidation(t *testing.T) {
	requireKubectl(t)
	docs := build(t)
	old := &Documents{V2: docs.V2, V2Proto: docs.V2Proto, V3Root: docs.V3Root, V3: map[string][]byte{}, V3Hash: docs.V3Hash}
	for key, b := range docs.V3 {
		old.V3[key] = bytes.ReplaceAll(b, []byte(`"name":"fieldValidation"`), []byte(`"name":"fieldValidationUnknown"`))
	}
	srv := newFakeServer(t, old, testKinds())
	cases := []struct {
		name, manifest, want string
		ok                   bool
	}{
		{"valid", deploymentYAML, "deployment.apps/web created (dry run)", true},
		{"unknown field", strings.Replace(deploymentYAML, "replicas: 1", "replicas: 1\n  replicass: 1", 1), `unknown field "replicass" in io.k8s.api.apps.v1.DeploymentSpec`, false},
		{"wrong type", strings.Replace(deploymentYAML, "replicas: 1", "replicas: {a: 1}", 1), "spec.replicas", false},
		{"missing required", strings.Replace(deploymentYAML, "{name: side, ", "{", 1), `missing required field "name"`, false},
		{"service", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 53, targetPort: dns, protocol: UDP}, {port: 53, targetPort: 53}]}\n", "service/s created (dry run)", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kubectl(t, srv.URL, tc.manifest, "create", "--dry-run=client", "--validate=strict", "-f", "-")
			if (err == nil) != tc.ok || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output lacks %q:\n%s", err, tc.want, out)
			}
		})
	}
}

// TestKubectlApplyReadsPatchStrategyFromV3 is the control of the patch
// check above: without the merge key in the v3 documents, kubectl's patch
// replaces the container list, so the key kubectl used came from them and
// not from its compiled-in types.
func TestKubectlApplyReadsPatchStrategyFromV3(t *testing.T) {
	requireKubectl(t)
	docs := build(t)
	stripped := &Documents{V2: docs.V2, V2Proto: docs.V2Proto, V3Root: docs.V3Root, V3: map[string][]byte{}, V3Hash: docs.V3Hash}
	for key, b := range docs.V3 {
		stripped.V3[key] = bytes.ReplaceAll(b, []byte(`"x-kubernetes-patch-strategy":"merge","x-kubernetes-patch-merge-key":"name"`), []byte(`"x-kubernetes-bosun-test":"none"`))
	}
	s := &fakeServer{docs: stripped, kinds: testKinds(), objects: map[string][]byte{}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	if out, err := kubectl(t, srv.URL, deploymentYAML, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	changed := strings.Replace(deploymentYAML, "nginx:1.27", "nginx:1.28", 1)
	if out, err := kubectl(t, srv.URL, changed, "apply", "-f", "-"); err != nil {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	patches := s.requestsTo(http.MethodPatch, "/apis/apps/v1/namespaces/default/deployments/web")
	if len(patches) != 1 || strings.Contains(patches[0].body, "$setElementOrder/containers") || !strings.Contains(patches[0].body, `"containers":[{`) {
		t.Errorf("patches %+v, want one replacing the container list", patches)
	}
}
