package apiserver

import (
	"encoding/json"
	"net/http"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-sh/bosun/internal/registry"

	"github.com/bosun-sh/bosun/internal/audit"
)

// table renders objects as the Table kubectl get prints.
func (h *handler) table(items []runtime.Object, lm metav1.ListMeta, includeObject, vers string, withColumns bool) *metav1.Table {
	cols, row := h.columns()
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + vers}, ListMeta: lm}
	if withColumns {
		t.ColumnDefinitions = cols
	}
	t.Rows = make([]metav1.TableRow, 0, len(items))
	for _, obj := range items {
		tr := metav1.TableRow{Cells: row(obj)}
		switch includeObject {
		case "None":
		case "Object":
			tr.Object = runtime.RawExtension{Object: obj}
		default:
			tr.Object = runtime.RawExtension{Object: partialMetadata(obj, "v1")}
		}
		t.Rows = append(t.Rows, tr)
	}
	return t
}

// columns returns the table form of what the request addresses: the
// status subresource shares the object's, the scale subresource has the
// columns upstream gives Scale (kubectl get --subresource).
func (h *handler) columns() ([]metav1.TableColumnDefinition, func(runtime.Object) []any) {
	if h.t.subresource == "scale" {
		return scaleColumns, scaleRow
	}
	k := h.rs.served
	if k.Columns == nil || k.Row == nil {
		return registry.DefaultColumns, registry.DefaultRow
	}
	return k.Columns, k.Row
}

var scaleColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
	{Name: "Desired", Type: "integer", Description: "replicas is the desired number of instances for the scaled object."},
	{Name: "Available", Type: "integer", Description: "replicas is the actual number of observed instances of the scaled object."},
	{Name: "Age", Type: "string", Description: "Time since the object was created."},
}

func scaleRow(obj runtime.Object) []any {
	s, _ := obj.(*autoscalingv1.Scale)
	if s == nil {
		s = &autoscalingv1.Scale{}
	}
	age := "<unknown>"
	if !s.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(time.Since(s.CreationTimestamp.Time))
	}
	return []any{s.Name, int64(s.Spec.Replicas), int64(s.Status.Replicas), age}
}

// respond writes a single object in the negotiated form.
func (h *handler) respond(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	f, ok := negotiate(r, map[string]bool{"Table": true, "PartialObjectMetadata": true})
	if !ok {
		writeStatus(w, r, newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf").s)
		return
	}
	_, isStatus := obj.(*metav1.Status)
	if (h.t.subresource == "" || h.t.subresource == "status" || h.t.subresource == "scale") && !isStatus {
		switch f.as {
		case "Table":
			m := accessor(obj)
			obj = h.table([]runtime.Object{obj}, metav1.ListMeta{ResourceVersion: m.GetResourceVersion()}, r.URL.Query().Get("includeObject"), f.vers, true)
		case "PartialObjectMetadata":
			obj = partialMetadata(obj, f.vers)
		}
	}
	auditResponse(r, obj)
	writeObject(w, code, f.media, obj)
}

// auditResponse records obj as the response body when the request is
// audited at RequestResponse level.
func auditResponse(r *http.Request, obj runtime.Object) {
	rec, ok := r.Context().Value(auditKey{}).(*audit.Recorder)
	if !ok || rec.Level().Less(audit.LevelRequestResponse) {
		return
	}
	if b, err := json.Marshal(obj); err == nil {
		rec.SetResponseObject(b)
	}
}
