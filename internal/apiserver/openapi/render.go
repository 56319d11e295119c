package openapi

import "strconv"

// The JSON shapes of the two documents. Only what Kubernetes clients read
// is modelled.

// patchContentTypes are the request bodies a PATCH accepts. kubectl apply
// computes a strategic merge patch only when the first is listed.
var patchContentTypes = []string{
	"application/strategic-merge-patch+json",
	"application/merge-patch+json",
	"application/json-patch+json",
	"application/apply-patch+yaml",
}

var responseContentTypes = []string{"application/json", "application/yaml"}

// swagger 2.0

type docV2 struct {
	Swagger     string                 `json:"swagger"`
	Info        info                   `json:"info"`
	Paths       map[string]*pathV2     `json:"paths"`
	Definitions map[string]*jsonSchema `json:"definitions"`
}

type pathV2 struct {
	Get        *opV2     `json:"get,omitempty"`
	Put        *opV2     `json:"put,omitempty"`
	Post       *opV2     `json:"post,omitempty"`
	Delete     *opV2     `json:"delete,omitempty"`
	Patch      *opV2     `json:"patch,omitempty"`
	Parameters []paramV2 `json:"parameters,omitempty"`
}

type opV2 struct {
	Description string                `json:"description,omitempty"`
	Consumes    []string              `json:"consumes,omitempty"`
	Produces    []string              `json:"produces,omitempty"`
	Schemes     []string              `json:"schemes,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
	OperationID string                `json:"operationId"`
	Parameters  []paramV2             `json:"parameters,omitempty"`
	Responses   map[string]responseV2 `json:"responses"`
	Action      string                `json:"x-kubernetes-action,omitempty"`
	GVK         *gvkExt               `json:"x-kubernetes-group-version-kind,omitempty"`
}

type paramV2 struct {
	Name        string      `json:"name"`
	In          string      `json:"in"`
	Description string      `json:"description,omitempty"`
	Required    bool        `json:"required,omitempty"`
	Type        string      `json:"type,omitempty"`
	UniqueItems bool        `json:"uniqueItems,omitempty"`
	Schema      *jsonSchema `json:"schema,omitempty"`
}

type responseV2 struct {
	Description string      `json:"description"`
	Schema      *jsonSchema `json:"schema,omitempty"`
}

func renderPathV2(p pathItem) *pathV2 {
	out := &pathV2{Parameters: paramsV2(p.params)}
	for _, op := range p.ops {
		o := &opV2{
			Description: op.description,
			Consumes:    []string{"*/*"},
			Produces:    responseContentTypes,
			Schemes:     []string{"https"},
			Tags:        []string{op.tag},
			OperationID: op.id,
			Parameters:  paramsV2(op.params),
			Responses:   map[string]responseV2{},
			Action:      op.action,
		}
		if op.gvk != nil {
			e := toGVKExt(*op.gvk)
			o.GVK = &e
		}
		if op.patch {
			o.Consumes = patchContentTypes
		}
		if op.body != "" {
			o.Parameters = append([]paramV2{{Name: "body", In: "body", Required: op.patch || op.method != "delete",
				Schema: &jsonSchema{Ref: "#/definitions/" + op.body}}}, o.Parameters...)
		}
		for _, code := range responseCodes(op) {
			o.Responses[strconv.Itoa(code)] = responseV2{Description: statusText(code), Schema: &jsonSchema{Ref: "#/definitions/" + op.response}}
		}
		o.Responses["401"] = responseV2{Description: "Unauthorized"}
		setMethod(op.method, o, &out.Get, &out.Put, &out.Post, &out.Delete, &out.Patch)
	}
	return out
}

func paramsV2(ps []param) []paramV2 {
	out := make([]paramV2, 0, len(ps))
	for _, p := range ps {
		out = append(out, paramV2{Name: p.name, In: p.in, Description: p.description, Required: p.required, Type: p.typ, UniqueItems: true})
	}
	return out
}

// OpenAPI 3.0

type docV3 struct {
	OpenAPI    string             `json:"openapi"`
	Info       info               `json:"info"`
	Paths      map[string]*pathV3 `json:"paths"`
	Components componentsV3       `json:"components"`
}

type componentsV3 struct {
	Schemas map[string]*jsonSchema `json:"schemas"`
}

type pathV3 struct {
	Get        *opV3     `json:"get,omitempty"`
	Put        *opV3     `json:"put,omitempty"`
	Post       *opV3     `json:"post,omitempty"`
	Delete     *opV3     `json:"delete,omitempty"`
	Patch      *opV3     `json:"patch,omitempty"`
	Parameters []paramV3 `json:"parameters,omitempty"`
}

type opV3 struct {
	Description string                `json:"description,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
	OperationID string                `json:"operationId"`
	Parameters  []paramV3             `json:"parameters,omitempty"`
	RequestBody *bodyV3               `json:"requestBody,omitempty"`
	Responses   map[string]responseV3 `json:"responses"`
	Action      string                `json:"x-kubernetes-action,omitempty"`
	GVK         *gvkExt               `json:"x-kubernetes-group-version-kind,omitempty"`
}

type paramV3 struct {
	Name        string      `json:"name"`
	In          string      `json:"in"`
	Description string      `json:"description,omitempty"`
	Required    bool        `json:"required,omitempty"`
	Schema      *jsonSchema `json:"schema"`
}

type bodyV3 struct {
	Content  map[string]mediaV3 `json:"content"`
	Required bool               `json:"required,omitempty"`
}

type mediaV3 struct {
	Schema *jsonSchema `json:"schema"`
}

type responseV3 struct {
	Description string             `json:"description"`
	Content     map[string]mediaV3 `json:"content,omitempty"`
}

func renderPathV3(p pathItem) *pathV3 {
	out := &pathV3{Parameters: paramsV3(p.params)}
	for _, op := range p.ops {
		o := &opV3{
			Description: op.description,
			Tags:        []string{op.tag},
			OperationID: op.id,
			Parameters:  paramsV3(op.params),
			Responses:   map[string]responseV3{},
			Action:      op.action,
		}
		if op.gvk != nil {
			e := toGVKExt(*op.gvk)
			o.GVK = &e
		}
		if op.body != "" {
			types := []string{"*/*"}
			if op.patch {
				types = patchContentTypes
			}
			o.RequestBody = &bodyV3{Content: content(types, op.body), Required: op.patch || op.method != "delete"}
		}
		for _, code := range responseCodes(op) {
			o.Responses[strconv.Itoa(code)] = responseV3{Description: statusText(code), Content: content(responseContentTypes, op.response)}
		}
		o.Responses["401"] = responseV3{Description: "Unauthorized"}
		setMethod(op.method, o, &out.Get, &out.Put, &out.Post, &out.Delete, &out.Patch)
	}
	return out
}

func content(types []string, def string) map[string]mediaV3 {
	m := make(map[string]mediaV3, len(types))
	s := &jsonSchema{Ref: "#/components/schemas/" + def}
	for _, t := range types {
		m[t] = mediaV3{Schema: s}
	}
	return m
}

func paramsV3(ps []param) []paramV3 {
	out := make([]paramV3, 0, len(ps))
	for _, p := range ps {
		out = append(out, paramV3{Name: p.name, In: p.in, Description: p.description, Required: p.required, Schema: &jsonSchema{Type: p.typ}})
	}
	return out
}

// Shared by both versions.

func responseCodes(op operation) []int {
	codes := []int{200}
	if op.created {
		codes = append(codes, 201)
	}
	if op.accepted {
		codes = append(codes, 202)
	}
	return codes
}

func statusText(code int) string {
	switch code {
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	}
	return "OK"
}

// setMethod stores o in the slot of its HTTP method.
func setMethod[T any](method string, o *T, get, put, post, del, patch **T) {
	switch method {
	case "get":
		*get = o
	case "put":
		*put = o
	case "post":
		*post = o
	case "delete":
		*del = o
	case "patch":
		*patch = o
	}
}
