package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/registry"
)

// table renders objects as the Table kubectl get prints.
func (h *handler) table(items []runtime.Object, lm metav1.ListMeta, includeObject, vers string, withColumns bool) *metav1.Table {
	k := h.rs.served
	cols, row := k.Columns, k.Row
	if cols == nil || row == nil {
		cols, row = registry.DefaultColumns, registry.DefaultRow
	}
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

// respond writes a single object in the negotiated form.
func (h *handler) respond(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	f, ok := negotiate(r, map[string]bool{"Table": true, "PartialObjectMetadata": true})
	if !ok {
		writeStatus(w, r, newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf").s)
		return
	}
	_, isStatus := obj.(*metav1.Status)
	if h.t.subresource == "" && !isStatus {
		switch f.as {
		case "Table":
			m := accessor(obj)
			obj = h.table([]runtime.Object{obj}, metav1.ListMeta{ResourceVersion: m.GetResourceVersion()}, r.URL.Query().Get("includeObject"), f.vers, true)
		case "PartialObjectMetadata":
			obj = partialMetadata(obj, f.vers)
		}
	}
	writeObject(w, code, f.media, obj)
}
