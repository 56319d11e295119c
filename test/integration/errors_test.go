package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// rawResponse is one HTTP exchange with the server.
type rawResponse struct {
	code   int
	header http.Header
	body   []byte
}

func rawRequest(t *testing.T, c *http.Client, method, url, contentType string, body []byte) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return rawResponse{code: resp.StatusCode, header: resp.Header, body: data}
}

// status decodes a response body as a metav1.Status and checks its
// framing: kind Status, the HTTP code, the reason.
func (r rawResponse) status(t *testing.T, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("body is not a Status: %v: %s", err, r.body)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" {
		t.Errorf("body kind %q apiVersion %q, want Status v1: %s", st.Kind, st.APIVersion, r.body)
	}
	if int(st.Code) != r.code || st.Status != metav1.StatusFailure {
		t.Errorf("Status code %d status %q, HTTP %d: %s", st.Code, st.Status, r.code, r.body)
	}
	if st.Reason != reason {
		t.Errorf("reason %q, want %q: %s", st.Reason, reason, st.Message)
	}
	if st.Message == "" {
		t.Error("Status without a message")
	}
	return st
}

func TestMalformedRequests(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	hc, err := rest.HTTPClientFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	base := s.Config.Host
	configmaps := base + "/api/v1/namespaces/" + ns + "/configmaps"
	deployments := base + "/apis/apps/v1/namespaces/" + ns + "/deployments"
	pods := base + "/api/v1/namespaces/" + ns + "/pods"
	const cmJSON = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"k":"v"}}`
	cm := func(name string) []byte { return []byte(strings.Replace(cmJSON, "%s", name, 1)) }
	huge := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"k":"` + strings.Repeat("x", 3<<20) + `"}}`)
	cases := []struct {
		name        string
		method, url string
		contentType string
		body        []byte
		code        int
		reason      metav1.StatusReason
		// cause, when set, is a field that must be named in the details.
		cause string
	}{
		{"invalid JSON", "POST", configmaps, "application/json", []byte(`{"metadata":`), 400, metav1.StatusReasonBadRequest, ""},
		{"not an object", "POST", configmaps, "application/json", []byte(`[1,2]`), 400, metav1.StatusReasonBadRequest, ""},
		{"empty body", "POST", configmaps, "application/json", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong field type", "POST", deployments, "application/json",
			[]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad-type"},"spec":{"replicas":"abc"}}`), 400, metav1.StatusReasonBadRequest, ""},
		{"unknown field, strict", "POST", configmaps + "?fieldValidation=Strict", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`), 400, metav1.StatusReasonBadRequest, ""},
		{"duplicate field, strict", "POST", configmaps + "?fieldValidation=Strict", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup2"}}`), 400, metav1.StatusReasonBadRequest, ""},
		{"invalid fieldValidation", "POST", configmaps + "?fieldValidation=Loud", "application/json", cm("loud"), 400, metav1.StatusReasonBadRequest, ""},
		{"invalid dryRun", "POST", configmaps + "?dryRun=Some", "application/json", cm("dry-some"), 400, metav1.StatusReasonBadRequest, ""},
		{"body over 3 MiB", "POST", configmaps, "application/json", huge, 413, "RequestEntityTooLarge", ""},
		{"unsupported content type", "POST", configmaps, "text/plain", cm("text"), 415, "UnsupportedMediaType", ""},
		{"kind mismatch", "POST", configmaps, "application/json",
			[]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"kind"}}`), 400, metav1.StatusReasonBadRequest, ""},
		{"apiVersion mismatch", "POST", configmaps, "application/json",
			[]byte(`{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"version"}}`), 400, metav1.StatusReasonBadRequest, ""},
		{"namespace mismatch", "POST", configmaps, "application/json",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nsm","namespace":"elsewhere"}}`), 400, metav1.StatusReasonBadRequest, ""},
		{"invalid name", "POST", configmaps, "application/json", cm("Bad_Name"), 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"missing name", "POST", configmaps, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`), 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"pod without containers", "POST", pods, "application/json",
			[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"empty"},"spec":{"containers":[]}}`), 422, metav1.StatusReasonInvalid, "spec.containers"},
		{"deployment selector mismatch", "POST", deployments, "application/json",
			[]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"sel"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"c"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`),
			422, metav1.StatusReasonInvalid, "spec.template.metadata.labels"},
		{"unknown resource", "GET", base + "/api/v1/namespaces/" + ns + "/widgets", "", nil, 404, metav1.StatusReasonNotFound, ""},
		{"unknown group", "GET", base + "/apis/nope.example.com/v1/things", "", nil, 404, metav1.StatusReasonNotFound, ""},
		{"unknown subresource", "GET", configmaps + "/x/status", "", nil, 404, metav1.StatusReasonNotFound, ""},
		{"missing object", "GET", configmaps + "/missing", "", nil, 404, metav1.StatusReasonNotFound, ""},
		{"PUT on a collection", "PUT", configmaps, "application/json", cm("put"), 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"PATCH on a collection", "PATCH", configmaps, "application/merge-patch+json", []byte(`{}`), 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"invalid JSON patch", "PATCH", configmaps + "/missing", "application/json-patch+json", []byte(`{"op":"add"}`), 400, metav1.StatusReasonBadRequest, ""},
		{"unknown patch type", "PATCH", configmaps + "/missing", "application/json", []byte(`{}`), 415, "UnsupportedMediaType", ""},
		{"invalid label selector", "GET", configmaps + "?labelSelector=a+in+(b", "", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"invalid limit", "GET", configmaps + "?limit=-1", "", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"invalid resourceVersion", "GET", configmaps + "?resourceVersion=abc", "", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"invalid propagationPolicy", "DELETE", configmaps + "/missing?propagationPolicy=Sideways", "", nil, 422, metav1.StatusReasonInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawRequest(t, hc, tc.method, tc.url, tc.contentType, tc.body)
			if r.code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", r.code, tc.code, r.body)
			}
			st := r.status(t, tc.reason)
			if tc.cause != "" {
				found := false
				if st.Details != nil {
					for _, c := range st.Details.Causes {
						found = found || strings.HasPrefix(c.Field, tc.cause)
					}
				}
				if !found {
					t.Errorf("no cause for %s in %+v", tc.cause, st.Details)
				}
			}
		})
	}

	t.Run("unknown field, warn", func(t *testing.T) {
		r := rawRequest(t, hc, "POST", configmaps+"?fieldValidation=Warn", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"bogus":1}`))
		if r.code != http.StatusCreated {
			t.Fatalf("HTTP %d, want 201: %s", r.code, r.body)
		}
		if w := strings.Join(r.header.Values("Warning"), "; "); !strings.Contains(w, "bogus") || !strings.HasPrefix(w, "299 ") {
			t.Errorf("Warning header %q, want a 299 warning naming the field", w)
		}
	})
	t.Run("YAML body", func(t *testing.T) {
		r := rawRequest(t, hc, "POST", configmaps, "application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml\ndata:\n  k: v\n"))
		if r.code != http.StatusCreated {
			t.Fatalf("HTTP %d, want 201: %s", r.code, r.body)
		}
	})

	// Nothing refused above was written.
	for _, tc := range []struct{ url, want string }{
		{configmaps, "warned,yaml"},
		{deployments, ""},
		{pods, ""},
	} {
		r := rawRequest(t, hc, "GET", tc.url, "", nil)
		if r.code != http.StatusOK {
			t.Fatalf("list %s: HTTP %d: %s", tc.url, r.code, r.body)
		}
		var list metav1.PartialObjectMetadataList
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if strings.Join(names, ",") != tc.want {
			t.Errorf("%s holds %v after the refused requests, want %q", tc.url, names, tc.want)
		}
	}
}

func TestAuthentication(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ca := s.Config.TLSClientConfig.CAData
	if len(ca) == 0 {
		data, err := os.ReadFile(s.Config.TLSClientConfig.CAFile)
		if err != nil {
			t.Fatalf("reading the CA: %v", err)
		}
		ca = data
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in the kubeconfig")
	}
	// A client that trusts the server but presents no certificate.
	anon := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(anon.CloseIdleConnections)

	for _, path := range []string{"/api/v1/namespaces", "/api/v1/namespaces/default/configmaps", "/apis/apps/v1/deployments", "/api", "/apis", "/openapi/v2"} {
		r := rawRequest(t, anon, "GET", s.Config.Host+path, "", nil)
		if r.code != http.StatusUnauthorized {
			t.Errorf("GET %s without a client certificate: HTTP %d, want 401: %s", path, r.code, r.body)
			continue
		}
		r.status(t, metav1.StatusReasonUnauthorized)
	}
	r := rawRequest(t, anon, "POST", s.Config.Host+"/api/v1/namespaces", "application/json", []byte(`{"metadata":{"name":"anon"}}`))
	if r.code != http.StatusUnauthorized {
		t.Errorf("POST without a client certificate: HTTP %d, want 401", r.code)
	}
	if _, err := s.Client.CoreV1().Namespaces().Get(testContext(t), "anon", metav1.GetOptions{}); err == nil {
		t.Error("an unauthenticated create was stored")
	}

	req, _ := http.NewRequest("GET", s.Config.Host+"/api/v1/namespaces", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	if resp, err := anon.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET with an unknown bearer token: HTTP %d, want 401", resp.StatusCode)
		}
	}

	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		r := rawRequest(t, anon, "GET", s.Config.Host+path, "", nil)
		if r.code != http.StatusOK {
			t.Errorf("GET %s without a client certificate: HTTP %d, want 200: %s", path, r.code, r.body)
		}
	}
	r = rawRequest(t, anon, "GET", s.Config.Host+"/version", "", nil)
	var info version.Info
	if err := json.Unmarshal(r.body, &info); err != nil || info.GitVersion == "" || info.Major == "" {
		t.Errorf("/version: %v %+v", err, info)
	}
}
