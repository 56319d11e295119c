package apiserver

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	fieldselection "k8s.io/apimachinery/pkg/selection"

	"github.com/bosun-sh/bosun/internal/registry"
)

func TestAttributesOf(t *testing.T) {
	s := New(Config{Kinds: registry.Kinds()})
	cases := []struct {
		method, url string
		want        requestAttributes
	}{
		{"GET", "/api/v1/namespaces/a/pods", requestAttributes{resourceRequest: true, verb: "list", apiVersion: "v1", resource: "pods", namespace: "a"}},
		{"GET", "/api/v1/namespaces/a/pods/web", requestAttributes{resourceRequest: true, verb: "get", apiVersion: "v1", resource: "pods", namespace: "a", name: "web"}},
		{"GET", "/api/v1/pods?watch=true", requestAttributes{resourceRequest: true, verb: "watch", apiVersion: "v1", resource: "pods"}},
		{"GET", "/apis/apps/v1/watch/namespaces/a/deployments", requestAttributes{resourceRequest: true, verb: "watch", apiGroup: "apps", apiVersion: "v1", resource: "deployments", namespace: "a"}},
		{"POST", "/apis/apps/v1/namespaces/a/deployments", requestAttributes{resourceRequest: true, verb: "create", apiGroup: "apps", apiVersion: "v1", resource: "deployments", namespace: "a"}},
		{"PUT", "/apis/apps/v1/namespaces/a/deployments/web/scale", requestAttributes{resourceRequest: true, verb: "update", apiGroup: "apps", apiVersion: "v1", resource: "deployments", subresource: "scale", namespace: "a", name: "web"}},
		{"PATCH", "/api/v1/nodes/n1/status", requestAttributes{resourceRequest: true, verb: "patch", apiVersion: "v1", resource: "nodes", subresource: "status", name: "n1"}},
		{"DELETE", "/api/v1/namespaces/a/configmaps", requestAttributes{resourceRequest: true, verb: "deletecollection", apiVersion: "v1", resource: "configmaps", namespace: "a"}},
		{"DELETE", "/api/v1/namespaces/a", requestAttributes{resourceRequest: true, verb: "delete", apiVersion: "v1", resource: "namespaces", namespace: "a", name: "a"}},
		{"GET", "/api/v1/namespaces/a/pods/web/log", requestAttributes{resourceRequest: true, verb: "get", apiVersion: "v1", resource: "pods", subresource: "log", namespace: "a", name: "web"}},
		{"GET", "/healthz", requestAttributes{verb: "get"}},
		{"GET", "/apis/apps/v1", requestAttributes{verb: "get"}},
		// A list of one object by name is a read of that object.
		{"GET", "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dtls&watch=1", requestAttributes{resourceRequest: true, verb: "watch", apiVersion: "v1", resource: "secrets", namespace: "a", name: "tls",
			fieldSelector: fields.Requirements{{Field: "metadata.name", Operator: fieldselection.Equals, Value: "tls"}}}},
		{"GET", "/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls", requestAttributes{resourceRequest: true, verb: "list", apiVersion: "v1", resource: "secrets",
			fieldSelector: fields.Requirements{{Field: "type", Operator: fieldselection.Equals, Value: "kubernetes.io/tls"}}}},
		// Classified by the path's shape, served or not, as Kubernetes does.
		{"GET", "/api/v1/nosuchthings", requestAttributes{resourceRequest: true, verb: "list", apiVersion: "v1", resource: "nosuchthings"}},
	}
	for _, c := range cases {
		got := s.attributesOf(httptest.NewRequest(c.method, c.url, nil))
		c.want.path = httptest.NewRequest(c.method, c.url, nil).URL.Path
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s:\n got %+v\nwant %+v", c.method, c.url, got, c.want)
		}
	}
}
