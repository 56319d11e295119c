package apiserver

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// target is a parsed resource path.
type target struct {
	gv          schema.GroupVersion
	resource    string
	namespace   string
	name        string
	subresource string
	// proxyPath is what follows nodes/NAME/proxy/.
	proxyPath string
}

// parsePath splits /api/v1/... or /apis/GROUP/VERSION/... into a target.
// ok is false when the path is not a resource path. isNamespaced tells
// whether a resource in gv is namespaced, to tell
// /api/v1/namespaces/NS/pods from /api/v1/namespaces/NAME/status.
func parsePath(path string, isNamespaced func(gv schema.GroupVersion, resource string) (namespaced, known bool)) (target, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var t target
	// An empty part anywhere, the group and version included, is no
	// resource path: /apis//v1/pods must not serve core pods.
	for _, p := range parts {
		if p == "" {
			return t, false
		}
	}
	switch {
	case len(parts) >= 3 && parts[0] == "api" && parts[1] == "v1":
		t.gv = schema.GroupVersion{Version: "v1"}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		t.gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return t, false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		if ns, known := isNamespaced(t.gv, parts[2]); known && ns {
			t.namespace = parts[1]
			parts = parts[2:]
		}
	}
	t.resource = parts[0]
	if len(parts) > 1 {
		t.name = parts[1]
	}
	if len(parts) > 2 {
		t.subresource = parts[2]
	}
	if len(parts) > 3 {
		if t.subresource != "proxy" {
			return t, false
		}
		t.proxyPath = strings.Join(parts[3:], "/")
	}
	return t, true
}
