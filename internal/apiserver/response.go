package apiserver

import (
	"encoding/json"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/audit"
)

// writeStatus writes a Status in the format the client accepts.
func writeStatus(w http.ResponseWriter, r *http.Request, st metav1.Status) {
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	// As in Kubernetes, only a suggested delay sets Retry-After: client-go
	// retries such responses itself, so a 429 without one (an eviction the
	// disruption budget refuses) must reach the caller at once.
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	if rec, ok := r.Context().Value(auditKey{}).(*audit.Recorder); ok {
		if b, err := json.Marshal(st); err == nil {
			rec.SetResponseObject(b)
		}
	}
	media := mediaJSON
	if f, ok := negotiate(r, nil); ok {
		media = f.media
	}
	writeObject(w, int(st.Code), media, &st)
}

// writeObject writes obj with the status code; obj's TypeMeta must be set.
func writeObject(w http.ResponseWriter, code int, media string, obj runtime.Object) {
	data, err := encode(media, obj)
	if err != nil {
		media = mediaJSON
		st := newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "encoding response: "+err.Error()).s
		data, _ = encode(media, &st)
		code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", media)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(code)
	w.Write(data)
}

// writeRaw writes already-encoded JSON.
func writeRaw(w http.ResponseWriter, code int, data []byte) {
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(code)
	w.Write(data)
}
