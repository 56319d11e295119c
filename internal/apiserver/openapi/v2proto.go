package openapi

import (
	"encoding/json"
	"slices"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
)

// The v2 document in gnostic's protobuf form. client-go fetches
// /openapi/v2 only as protobuf and decodes the answer as protobuf whatever
// its content type, so kubectl's v2 users (explain
// --output=plaintext-openapiv2, client-side validation, the fallback of
// apply's patch computation) need these bytes. The messages are built
// directly: parsing the JSON with gnostic takes ten times as long as
// building everything else.

func docProto(paths map[string]*pathV2, defs map[string]*jsonSchema) *openapi_v2.Document {
	doc := &openapi_v2.Document{
		Swagger:     "2.0",
		Info:        &openapi_v2.Info{Title: "Kubernetes", Version: "unversioned"},
		Paths:       &openapi_v2.Paths{},
		Definitions: &openapi_v2.Definitions{},
	}
	for _, name := range sortedKeys(paths) {
		doc.Paths.Path = append(doc.Paths.Path, &openapi_v2.NamedPathItem{Name: name, Value: pathProto(paths[name])})
	}
	for _, name := range sortedKeys(defs) {
		doc.Definitions.AdditionalProperties = append(doc.Definitions.AdditionalProperties,
			&openapi_v2.NamedSchema{Name: name, Value: schemaProto(defs[name])})
	}
	return doc
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func pathProto(p *pathV2) *openapi_v2.PathItem {
	return &openapi_v2.PathItem{
		Get:        opProto(p.Get),
		Put:        opProto(p.Put),
		Post:       opProto(p.Post),
		Delete:     opProto(p.Delete),
		Patch:      opProto(p.Patch),
		Parameters: paramsProto(p.Parameters),
	}
}

func opProto(o *opV2) *openapi_v2.Operation {
	if o == nil {
		return nil
	}
	out := &openapi_v2.Operation{
		Tags:        o.Tags,
		Description: o.Description,
		OperationId: o.OperationID,
		Produces:    o.Produces,
		Consumes:    o.Consumes,
		Parameters:  paramsProto(o.Parameters),
		Responses:   &openapi_v2.Responses{},
		Schemes:     o.Schemes,
	}
	for _, code := range sortedKeys(o.Responses) {
		r := o.Responses[code]
		resp := &openapi_v2.Response{Description: r.Description}
		if r.Schema != nil {
			resp.Schema = &openapi_v2.SchemaItem{Oneof: &openapi_v2.SchemaItem_Schema{Schema: schemaProto(r.Schema)}}
		}
		out.Responses.ResponseCode = append(out.Responses.ResponseCode, &openapi_v2.NamedResponseValue{
			Name:  code,
			Value: &openapi_v2.ResponseValue{Oneof: &openapi_v2.ResponseValue_Response{Response: resp}},
		})
	}
	if o.Action != "" {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-action", o.Action))
	}
	if o.GVK != nil {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-group-version-kind", o.GVK))
	}
	return out
}

func paramsProto(ps []paramV2) []*openapi_v2.ParametersItem {
	var out []*openapi_v2.ParametersItem
	for _, p := range ps {
		var param *openapi_v2.Parameter
		switch p.In {
		case "body":
			param = &openapi_v2.Parameter{Oneof: &openapi_v2.Parameter_BodyParameter{BodyParameter: &openapi_v2.BodyParameter{
				Name: p.Name, In: p.In, Description: p.Description, Required: p.Required, Schema: schemaProto(p.Schema),
			}}}
		case "path":
			param = &openapi_v2.Parameter{Oneof: &openapi_v2.Parameter_NonBodyParameter{NonBodyParameter: &openapi_v2.NonBodyParameter{
				Oneof: &openapi_v2.NonBodyParameter_PathParameterSubSchema{PathParameterSubSchema: &openapi_v2.PathParameterSubSchema{
					Name: p.Name, In: p.In, Description: p.Description, Required: p.Required, Type: p.Type, UniqueItems: p.UniqueItems,
				}},
			}}}
		default:
			param = &openapi_v2.Parameter{Oneof: &openapi_v2.Parameter_NonBodyParameter{NonBodyParameter: &openapi_v2.NonBodyParameter{
				Oneof: &openapi_v2.NonBodyParameter_QueryParameterSubSchema{QueryParameterSubSchema: &openapi_v2.QueryParameterSubSchema{
					Name: p.Name, In: p.In, Description: p.Description, Required: p.Required, Type: p.Type, UniqueItems: p.UniqueItems,
				}},
			}}}
		}
		out = append(out, &openapi_v2.ParametersItem{Oneof: &openapi_v2.ParametersItem_Parameter{Parameter: param}})
	}
	return out
}

func schemaProto(s *jsonSchema) *openapi_v2.Schema {
	if s == nil {
		return nil
	}
	out := &openapi_v2.Schema{XRef: s.Ref, Description: s.Description, Format: s.Format, Required: s.Required}
	if s.Type != "" {
		out.Type = &openapi_v2.TypeItem{Value: []string{s.Type}}
	}
	if s.Items != nil {
		out.Items = &openapi_v2.ItemsItem{Schema: []*openapi_v2.Schema{schemaProto(s.Items)}}
	}
	if s.AdditionalProperties != nil {
		out.AdditionalProperties = &openapi_v2.AdditionalPropertiesItem{
			Oneof: &openapi_v2.AdditionalPropertiesItem_Schema{Schema: schemaProto(s.AdditionalProperties)},
		}
	}
	if len(s.Properties) > 0 {
		out.Properties = &openapi_v2.Properties{}
		for _, name := range sortedKeys(s.Properties) {
			out.Properties.AdditionalProperties = append(out.Properties.AdditionalProperties,
				&openapi_v2.NamedSchema{Name: name, Value: schemaProto(s.Properties[name])})
		}
	}
	if len(s.GVK) > 0 {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-group-version-kind", s.GVK))
	}
	if s.PatchMergeKey != "" {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-patch-merge-key", s.PatchMergeKey))
	}
	if s.PatchStrategy != "" {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-patch-strategy", s.PatchStrategy))
	}
	if s.ListType != "" {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-list-type", s.ListType))
	}
	if len(s.ListMapKeys) > 0 {
		out.VendorExtension = append(out.VendorExtension, extension("x-kubernetes-list-map-keys", s.ListMapKeys))
	}
	return out
}

// extension holds a vendor extension's value as YAML, which is where
// kubectl reads it; JSON is YAML.
func extension(name string, v any) *openapi_v2.NamedAny {
	// Only strings, string slices and gvkExt values come here, which
	// always marshal.
	b, _ := json.Marshal(v)
	return &openapi_v2.NamedAny{Name: name, Value: &openapi_v2.Any{Yaml: string(b)}}
}
