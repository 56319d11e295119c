package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	jsoniter "github.com/json-iterator/go"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/bosun-sh/bosun/internal/audit"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	// maxBodyBytes is the largest request body accepted (413 above).
	maxBodyBytes = 3 << 20
)

// fastJSON encodes and decodes stored objects; it honours the API types'
// own marshalers and is several times faster than encoding/json.
var fastJSON = jsoniter.ConfigCompatibleWithStandardLibrary

var protoSerializer = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ    string // "application/json"
	as     string // "Table", "PartialObjectMetadata", ...
	group  string
	vers   string
	stream string
}

func parseAccept(h string) []mediaRange {
	if h == "" {
		return []mediaRange{{typ: "*/*"}}
	}
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		out = append(out, mediaRange{typ: mt, as: params["as"], group: params["g"], vers: params["v"], stream: params["stream"]})
	}
	return out
}

// format is a negotiated response form.
type format struct {
	media string // mediaJSON, mediaYAML or mediaProtobuf
	as    string // "" (the object), "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
	vers  string // version of meta.k8s.io for as
}

// negotiate picks the response format. ok is false when nothing in Accept
// can be served (406).
func negotiate(r *http.Request, allowAs map[string]bool) (format, bool) {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		var f format
		switch m.typ {
		case "application/json", "*/*", "application/*":
			f.media = mediaJSON
		case "application/yaml":
			f.media = mediaYAML
		case mediaProtobuf:
			f.media = mediaProtobuf
		case "application/json;stream=watch":
			f.media = mediaJSON
		default:
			continue
		}
		if m.as != "" {
			if !allowAs[m.as] || m.group != "meta.k8s.io" || (m.vers != "v1" && m.vers != "v1beta1") {
				continue
			}
			f.as, f.vers = m.as, m.vers
		}
		return f, true
	}
	return format{}, false
}

// encode writes obj in the media type. obj must have its TypeMeta set.
func encode(media string, obj runtime.Object) ([]byte, error) {
	switch media {
	case mediaProtobuf:
		var buf bytes.Buffer
		if err := protoSerializer.Encode(obj, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case mediaYAML:
		j, err := fastJSON.Marshal(obj)
		if err != nil {
			return nil, err
		}
		return yaml.JSONToYAML(j)
	}
	return fastJSON.Marshal(obj)
}

// readBody reads a request body of at most maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge()
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, errBadRequest("reading request body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return nil, errTooLarge()
	}
	return data, nil
}

// auditRequest records the request body when the request is audited at
// Request level or above. The log is JSON lines: a YAML or protobuf body
// goes in as decoded, the object it was decoded into (patches, which
// have none, only as JSON).
func auditRequest(r *http.Request, body []byte, decoded runtime.Object) {
	rec, ok := r.Context().Value(auditKey{}).(*audit.Recorder)
	if !ok || rec.Level().Less(audit.LevelRequest) {
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) && decoded != nil {
		js, err := json.Marshal(decoded)
		if err != nil {
			return
		}
		body = js
	}
	rec.SetRequestObject(body)
}

// isJSON reports whether a request's Content-Type is JSON (or absent,
// which is read as JSON).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return contentType == "" || (err == nil && mt == mediaJSON)
}

func errTooLarge() error {
	return newStatus(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("Request entity too large: limit is %d", maxBodyBytes))
}

// toJSON turns a request body in any accepted content type into JSON.
func toJSON(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = mediaJSON, nil
	}
	if err != nil {
		return nil, unsupportedMedia(contentType)
	}
	switch mt {
	case mediaJSON:
		return body, nil
	case mediaYAML, "application/x-yaml", "text/yaml":
		j, err := yaml.YAMLToJSONStrict(body)
		if err != nil {
			return nil, errBadRequest("error converting YAML to JSON: %v", err)
		}
		return j, nil
	}
	return nil, unsupportedMedia(contentType)
}

func unsupportedMedia(ct string) error {
	return newStatus(http.StatusUnsupportedMediaType, metav1StatusReasonUnsupportedMediaType, fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", ct))
}

const metav1StatusReasonUnsupportedMediaType = "UnsupportedMediaType"

// strictness is the fieldValidation directive.
type strictness int

const (
	validateWarn strictness = iota
	validateIgnore
	validateStrict
)

func parseFieldValidation(v string) (strictness, error) {
	switch v {
	case "", "Warn":
		return validateWarn, nil
	case "Ignore":
		return validateIgnore, nil
	case "Strict":
		return validateStrict, nil
	}
	return 0, errBadRequest("fieldValidation must be one of Ignore, Warn, Strict; got %q", v)
}

// decodeInto decodes JSON into obj, case-sensitively. Unknown and
// duplicate fields are returned as warnings, or as a 400 under Strict.
func decodeInto(data []byte, obj any, mode strictness) (warnings []string, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errBadRequest("the request body is empty")
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, errBadRequest("%s", describeJSONError(err))
	}
	if mode == validateIgnore || len(strictErrs) == 0 {
		return nil, nil
	}
	msgs := make([]string, 0, len(strictErrs))
	for _, e := range strictErrs {
		msgs = append(msgs, e.Error())
	}
	if mode == validateStrict {
		return nil, errBadRequest("strict decoding error: %s", strings.Join(msgs, ", "))
	}
	return msgs, nil
}

func describeJSONError(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case asErr(err, &ute):
		f := ute.Field
		if f == "" {
			f = "the object"
		}
		return fmt.Sprintf("json: cannot unmarshal %s into Go struct field %s of type %s", ute.Value, f, ute.Type)
	case asErr(err, &se):
		return fmt.Sprintf("json: syntax error at offset %d: %v", se.Offset, err)
	}
	return "json: " + strings.TrimPrefix(err.Error(), "json: ")
}

// decodeRequest decodes a request body in JSON, YAML or protobuf into obj.
func decodeRequest(contentType string, body []byte, obj runtime.Object, mode strictness) ([]string, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == mediaProtobuf {
		out, gvk, err := protoSerializer.Decode(body, nil, obj)
		if err != nil {
			return nil, errBadRequest("decoding protobuf body: %v", err)
		}
		if out != obj {
			// The serializer decodes another kind into a new object and
			// leaves obj empty.
			return nil, errBadRequest("the kind of the provided object %q does not match the kind of the endpoint", gvk.Kind)
		}
		return nil, nil
	}
	data, err := toJSON(contentType, body)
	if err != nil {
		return nil, err
	}
	return decodeInto(data, obj, mode)
}
