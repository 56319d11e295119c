package openapi

import (
	"reflect"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/registry"
)

// param is a path or query parameter.
type param struct {
	name, in, typ, description string
	required                   bool
}

func query(name, typ, description string) param {
	return param{name: name, in: "query", typ: typ, description: description}
}

// The parameters of the REST verbs, in the order upstream lists them.
var (
	pPretty    = query("pretty", "string", "If 'true', the output is pretty printed.")
	pNamespace = param{name: "namespace", in: "path", typ: "string", required: true, description: "object name and auth scope, such as for teams and projects"}

	pDryRun          = query("dryRun", "string", "When present, the request is processed but nothing is persisted. The only valid value is All.")
	pFieldManager    = query("fieldManager", "string", "fieldManager names the actor making the change, for managed fields. Required for apply patches, optional otherwise.")
	pFieldValidation = query("fieldValidation", "string", "fieldValidation tells the server what to do with unknown or duplicate fields in the request body: Ignore drops them silently, Warn drops them with a warning header, Strict rejects the request.")
	pForce           = query("force", "boolean", "Force makes an apply patch take over fields owned by other managers. Must be unset for other patch types.")

	pGracePeriod       = query("gracePeriodSeconds", "integer", "Seconds to wait before the object is deleted; zero deletes at once. Unset uses the kind's default.")
	pOrphanDependents  = query("orphanDependents", "boolean", "Deprecated: use propagationPolicy. Whether dependents are orphaned.")
	pPropagationPolicy = query("propagationPolicy", "string", "How dependents are garbage collected: Orphan, Background or Foreground.")

	pAllowWatchBookmarks  = query("allowWatchBookmarks", "boolean", "Asks for BOOKMARK watch events. The server may ignore it.")
	pContinue             = query("continue", "string", "The continue token from a previous, limited list response, to get the next chunk.")
	pFieldSelector        = query("fieldSelector", "string", "Restricts the returned objects by their fields, such as metadata.name=foo. Everything matches by default.")
	pLabelSelector        = query("labelSelector", "string", "Restricts the returned objects by their labels. Everything matches by default.")
	pLimit                = query("limit", "integer", "The most objects a list response holds; when more exist, the response carries a continue token.")
	pResourceVersion      = query("resourceVersion", "string", "Sets which resource versions the request may be served from. Unset means the most recent.")
	pResourceVersionMatch = query("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan.")
	pSendInitialEvents    = query("sendInitialEvents", "boolean", "With watch=true, starts the watch with synthetic ADDED events for the current state, then a bookmark.")
	pTimeoutSeconds       = query("timeoutSeconds", "integer", "Time limit of the list or watch call, whatever the activity.")
	pWatch                = query("watch", "boolean", "Watch for changes to the described objects and return them as a stream of events.")

	listParams   = []param{pAllowWatchBookmarks, pContinue, pFieldSelector, pLabelSelector, pLimit, pResourceVersion, pResourceVersionMatch, pSendInitialEvents, pTimeoutSeconds, pWatch}
	writeParams  = []param{pDryRun, pFieldManager, pFieldValidation}
	patchParams  = []param{pDryRun, pFieldManager, pFieldValidation, pForce}
	deleteParams = []param{pDryRun, pGracePeriod, pOrphanDependents, pPropagationPolicy}
	// deletecollection takes the list selection and the delete options.
	deleteCollectionParams = []param{pContinue, pDryRun, pFieldSelector, pGracePeriod, pLabelSelector, pLimit, pOrphanDependents, pPropagationPolicy, pResourceVersion, pResourceVersionMatch, pSendInitialEvents, pTimeoutSeconds}
)

func pName(kind string) param {
	return param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + kind}
}

// operation is one HTTP method on one path, before it is written in a
// version's shape.
type operation struct {
	method      string // get, put, post, patch, delete
	id          string
	action      string // x-kubernetes-action
	description string
	tag         string
	gvk         *schema.GroupVersionKind
	params      []param
	body        string // definition the request body holds, "" for none
	patch       bool   // the body is a patch in one of the patch content types
	response    string // definition of the 200 response
	created     bool   // 201 Created may answer
	accepted    bool   // 202 Accepted may answer
}

// pathItem is one path with its parameters and operations.
type pathItem struct {
	path   string
	params []param
	ops    []operation
}

// Definitions every group-version's operations use.
var (
	deleteOptionsType   = reflect.TypeFor[metav1.DeleteOptions]()
	statusType          = reflect.TypeFor[metav1.Status]()
	watchEventType      = reflect.TypeFor[metav1.WatchEvent]()
	patchType           = reflect.TypeFor[metav1.Patch]()
	apiResourceListType = reflect.TypeFor[metav1.APIResourceList]()
	scaleType           = reflect.TypeFor[autoscalingv1.Scale]()
	scaleGVK            = autoscalingv1.SchemeGroupVersion.WithKind("Scale")
)

// groupVersionPrefix is the URL prefix of a group-version: /api/v1 or
// /apis/apps/v1.
func groupVersionPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// gvName is the group-version as it appears in operation ids: CoreV1,
// AppsV1, RbacAuthorizationV1.
func gvName(gv schema.GroupVersion) string {
	group := strings.TrimSuffix(gv.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	var b strings.Builder
	for _, part := range strings.FieldsFunc(group, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(upperFirst(part))
	}
	b.WriteString(upperFirst(gv.Version))
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// gvTag is the tag operations of a group-version carry: core_v1, apps_v1.
func gvTag(gv schema.GroupVersion) string {
	n := gvName(gv)
	n = strings.TrimSuffix(n, upperFirst(gv.Version))
	return strings.ToLower(n[:1]) + n[1:] + "_" + gv.Version
}

// groupVersionRoot is the discovery path of a group-version.
func groupVersionRoot(gv schema.GroupVersion, d *definitions) pathItem {
	return pathItem{
		path: groupVersionPrefix(gv) + "/",
		ops: []operation{{
			method:      "get",
			id:          "get" + gvName(gv) + "APIResources",
			description: "get available resources",
			tag:         gvTag(gv),
			response:    d.ref(apiResourceListType),
		}},
	}
}

// kindPaths returns the REST paths of one kind. item and list are the
// definitions of the kind and of its list (list is "" for a kind without
// a list type, which then has no list, watch or deletecollection).
func kindPaths(k *registry.Kind, item, list string, d *definitions) []pathItem {
	gv := k.GVK.GroupVersion()
	gvk := k.GVK
	kind := gvk.Kind
	tag := gvTag(gv)
	prefix := groupVersionPrefix(gv)
	status := d.ref(statusType)
	deleteOptions := d.ref(deleteOptionsType)
	patchBody := d.ref(patchType)
	watchEvent := d.ref(watchEventType)

	collection := prefix + "/" + k.Resource
	watchCollection := prefix + "/watch/" + k.Resource
	scope := ""
	var scopeParams []param
	if k.Namespaced {
		collection = prefix + "/namespaces/{namespace}/" + k.Resource
		watchCollection = prefix + "/watch/namespaces/{namespace}/" + k.Resource
		scope = "Namespaced"
		scopeParams = []param{pNamespace}
	}
	id := func(verb, suffix string) string { return verb + gvName(gv) + scope + kind + suffix }
	op := func(method, verb, action, suffix, description string) operation {
		return operation{method: method, id: id(verb, suffix), action: action, description: description, tag: tag, gvk: &gvk}
	}
	withName := join([]param{pName(kind)}, scopeParams, []param{pPretty})
	create := op("post", "create", "post", "", "create a "+kind)
	create.params, create.body, create.response = writeParams, item, item
	create.created, create.accepted = true, true

	var paths []pathItem
	if list == "" {
		paths = append(paths, pathItem{path: collection, params: join(scopeParams, []param{pPretty}), ops: []operation{create}})
	} else {
		listOp := op("get", "list", "list", "", "list or watch objects of kind "+kind)
		listOp.params, listOp.response = listParams, list
		deleteAll := op("delete", "delete", "deletecollection", "", "delete collection of "+kind)
		deleteAll.id = "delete" + gvName(gv) + "Collection" + scope + kind
		deleteAll.params, deleteAll.body, deleteAll.response = deleteCollectionParams, deleteOptions, status
		paths = append(paths, pathItem{
			path:   collection,
			params: join(scopeParams, []param{pPretty}),
			ops:    []operation{listOp, create, deleteAll},
		})
		watchDoc := "watch individual changes to a list of " + kind + ". deprecated: use the 'watch' parameter with a list operation instead."
		if k.Namespaced {
			all := operation{method: "get", id: "list" + gvName(gv) + kind + "ForAllNamespaces", action: "list",
				description: "list or watch objects of kind " + kind, tag: tag, gvk: &gvk, response: list}
			watchAll := operation{method: "get", id: "watch" + gvName(gv) + kind + "ListForAllNamespaces", action: "watchlist",
				description: watchDoc, tag: tag, gvk: &gvk, response: watchEvent}
			paths = append(paths,
				pathItem{path: prefix + "/" + k.Resource, params: join(listParams, []param{pPretty}), ops: []operation{all}},
				pathItem{path: prefix + "/watch/" + k.Resource, params: join(listParams, []param{pPretty}), ops: []operation{watchAll}})
		}
		watchList := op("get", "watch", "watchlist", "List", watchDoc)
		watchList.response = watchEvent
		watchOne := op("get", "watch", "watch", "", "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.")
		watchOne.response = watchEvent
		paths = append(paths,
			pathItem{path: watchCollection, params: join(listParams, scopeParams, []param{pPretty}), ops: []operation{watchList}},
			pathItem{path: watchCollection + "/{name}", params: join(listParams, withName), ops: []operation{watchOne}})
	}

	// The object itself and its subresources: read, replace and patch
	// each; the object can be deleted too.
	subresource := func(path, suffix, what, def string, target schema.GroupVersionKind) pathItem {
		of := ""
		if what != "" {
			of = what + " of "
		}
		read := op("get", "read", "get", suffix, "read "+of+"the specified "+kind)
		read.response = def
		replace := op("put", "replace", "put", suffix, "replace "+of+"the specified "+kind)
		replace.params, replace.body, replace.response, replace.created = writeParams, def, def, true
		patch := op("patch", "patch", "patch", suffix, "partially update "+of+"the specified "+kind)
		patch.params, patch.body, patch.patch, patch.response, patch.created = patchParams, patchBody, true, def, true
		ops := []operation{read, replace, patch}
		for i := range ops {
			ops[i].gvk = &target
		}
		return pathItem{path: path, params: withName, ops: ops}
	}
	one := subresource(collection+"/{name}", "", "", item, gvk)
	del := op("delete", "delete", "delete", "", "delete a "+kind)
	del.params, del.body, del.response, del.accepted = deleteParams, deleteOptions, status, true
	one.ops = append(one.ops, del)
	paths = append(paths, one)
	if k.HasStatus {
		paths = append(paths, subresource(collection+"/{name}/status", "Status", "status", item, gvk))
	}
	if k.Scale != nil {
		paths = append(paths, subresource(collection+"/{name}/scale", "Scale", "scale", d.ref(scaleType), scaleGVK))
	}
	return paths
}

// join concatenates parameter lists into a new slice.
func join(lists ...[]param) []param {
	var out []param
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
