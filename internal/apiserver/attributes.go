package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
)

// requestAttributes is what a request asks for in Kubernetes' terms: the
// verb and the resource (or, for other paths, the path), as audit and
// authorization see it.
type requestAttributes struct {
	resourceRequest                        bool
	verb                                   string
	apiGroup, apiVersion                   string
	resource, subresource, namespace, name string
	path                                   string
	// fieldSelector of a list or watch, when it parses.
	fieldSelector fields.Requirements
}

// attributesOf classifies r. Resource paths get Kubernetes' verbs: get,
// list, watch, create, update, patch, delete, deletecollection; other
// paths (discovery, health, openapi) the lower-cased HTTP method.
func (s *Server) attributesOf(r *http.Request) requestAttributes {
	a := requestAttributes{path: r.URL.Path, verb: strings.ToLower(r.Method)}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || (parts[0] != "api" && parts[0] != "apis") || (parts[0] == "apis" && len(parts) < 4) {
		return a
	}
	path := r.URL.Path
	watchPath := false
	// The legacy watch paths: /api/v1/watch/..., /apis/G/V/watch/...
	if i := map[string]int{"api": 2, "apis": 3}[parts[0]]; len(parts) > i+1 && parts[i] == "watch" {
		watchPath = true
		path = "/" + strings.Join(append(parts[:i:i], parts[i+1:]...), "/")
	}
	t, ok := parsePath(path, s.isNamespaced)
	if !ok {
		return a
	}
	a.resourceRequest = true
	a.apiGroup, a.apiVersion = t.gv.Group, t.gv.Version
	a.resource, a.subresource, a.namespace, a.name = t.resource, t.subresource, t.namespace, t.name
	if t.resource == "namespaces" && t.subresource == "" && t.name != "" {
		// A namespace is in itself, for authorization's sake.
		a.namespace = t.name
	}
	q := r.URL.Query()
	watch := watchPath || q.Get("watch") == "true" || q.Get("watch") == "1"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch:
			a.verb = "watch"
		case t.name == "":
			a.verb = "list"
		default:
			a.verb = "get"
		}
	}
	if a.verb == "list" || a.verb == "watch" {
		if sel, err := fields.ParseSelector(q.Get("fieldSelector")); err == nil && !sel.Empty() {
			a.fieldSelector = sel.Requirements()
			// A list or watch of one object by name is a read of that
			// object, as a kubelet watching one Secret asks for it.
			if name, ok := sel.RequiresExactMatch("metadata.name"); ok && a.name == "" {
				a.name = name
			}
		}
	}
	switch r.Method {
	case http.MethodPost:
		a.verb = "create"
	case http.MethodPut:
		a.verb = "update"
	case http.MethodPatch:
		a.verb = "patch"
	case http.MethodDelete:
		if t.name == "" {
			a.verb = "deletecollection"
		} else {
			a.verb = "delete"
		}
	}
	return a
}
