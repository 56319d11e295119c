package audit

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeaderAuditID carries a request's audit ID, from the client if it sent a valid one,
// and back to it in the response, so both sides can find the request in the log.
const HeaderAuditID = "Audit-ID"

// Recorder follows one request through the handler chain and emits its Events. It is
// created by Logger.Begin and ended by End or Panic; its methods may be called from the
// goroutines serving a hijacked or streamed response.
type Recorder struct {
	l        *Logger
	off      bool // LevelNone, or no logger: only the Audit-ID header is kept
	auditID  string
	omit     stageSet
	omitMF   bool
	longRun  bool
	bodyFree bool // the request may carry secret values: never record bodies

	mu      sync.Mutex
	ev      Event // the fields every stage shares
	started bool  // ResponseStarted emitted
	ended   bool
}

type stageSet uint8

func (s stageSet) has(st Stage) bool {
	switch st {
	case StageRequestReceived:
		return s&1 != 0
	case StageResponseStarted:
		return s&2 != 0
	case StageResponseComplete:
		return s&4 != 0
	case StagePanic:
		return s&8 != 0
	}
	return false
}

func newStageSet(stages []Stage) stageSet {
	var s stageSet
	for _, st := range stages {
		switch st {
		case StageRequestReceived:
			s |= 1
		case StageResponseStarted:
			s |= 2
		case StageResponseComplete:
			s |= 4
		case StagePanic:
			s |= 8
		}
	}
	return s
}

// Begin starts recording r as the policy decided for a, and emits RequestReceived
// unless that stage is omitted. Whatever the decision, requests for Secrets, issued
// service account tokens and token reviews are recorded at Metadata at most, because
// their bodies hold credentials. The slices and maps in a are kept, not copied, and
// must not change afterwards. Begin on a nil Logger returns a Recorder that only sets
// the Audit-ID header.
func (l *Logger) Begin(r *http.Request, a Attributes, d Decision) *Recorder {
	rec := &Recorder{l: l, auditID: auditIDFrom(r.Header.Get(HeaderAuditID))}
	if l == nil || d.Level == LevelNone || !d.Level.valid() {
		rec.off = true
		return rec
	}
	rec.omit = newStageSet(d.OmitStages)
	rec.omitMF = d.OmitManagedFields
	rec.longRun = a.LongRunning
	level := d.Level
	if carriesCredentials(&a) {
		rec.bodyFree = true
		if LevelMetadata.Less(level) {
			level = LevelMetadata
		}
	}
	now := metav1.NewMicroTime(time.Now())
	rec.ev = Event{
		Kind:       "Event",
		APIVersion: "audit.k8s.io/v1",
		Level:      level,
		AuditID:    rec.auditID,
		RequestURI: r.URL.RequestURI(),
		Verb:       a.Verb,
		User: UserInfo{
			Username: a.User,
			UID:      a.UID,
			Groups:   a.Groups,
			Extra:    a.Extra,
		},
		ImpersonatedUser:         a.Impersonated,
		SourceIPs:                SourceIPs(r),
		UserAgent:                r.UserAgent(),
		RequestReceivedTimestamp: now,
	}
	if a.Resource != "" {
		rec.ev.ObjectRef = &ObjectReference{
			Resource:    a.Resource,
			Subresource: a.Subresource,
			Namespace:   a.Namespace,
			Name:        a.Name,
			APIGroup:    a.APIGroup,
			APIVersion:  a.APIVersion,
		}
	}
	if !rec.omit.has(StageRequestReceived) {
		ev := rec.ev
		ev.Stage = StageRequestReceived
		ev.StageTimestamp = now
		l.send(&ev)
	}
	return rec
}

func carriesCredentials(a *Attributes) bool {
	switch {
	case a.APIGroup == "" && a.Resource == "secrets":
		return true
	case a.APIGroup == "" && a.Resource == "serviceaccounts" && a.Subresource == "token":
		return true
	case a.APIGroup == "authentication.k8s.io" && a.Resource == "tokenreviews":
		return true
	}
	return false
}

// AuditID is the request's audit ID, as sent in the Audit-ID response header.
func (rec *Recorder) AuditID() string { return rec.auditID }

// Level is the level the request is recorded at, after any downgrade for credentials.
func (rec *Recorder) Level() Level {
	if rec.off {
		return LevelNone
	}
	return rec.ev.Level
}

// AddAnnotation attaches key=value to the events not yet emitted, as authorization and
// admission do to say why a request was allowed or refused.
func (rec *Recorder) AddAnnotation(key, value string) {
	if rec.off {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ev.Annotations == nil {
		rec.ev.Annotations = make(map[string]string, 2)
	}
	rec.ev.Annotations[key] = value
}

// SetObjectRef fills in what only storage knows about the object (its UID and
// resourceVersion) once the handler has them.
func (rec *Recorder) SetObjectRef(uid, resourceVersion string) {
	if rec.off || rec.ev.ObjectRef == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	ref := *rec.ev.ObjectRef // earlier events share the old one
	ref.UID, ref.ResourceVersion = uid, resourceVersion
	rec.ev.ObjectRef = &ref
}

// SetRequestObject records the JSON request body at level Request and above. The bytes
// are copied; a body that is not JSON is left out rather than break the log line.
func (rec *Recorder) SetRequestObject(raw []byte) {
	if rec.off || rec.bodyFree || rec.ev.Level.Less(LevelRequest) {
		return
	}
	obj := rec.object(raw)
	rec.mu.Lock()
	rec.ev.RequestObject = obj
	rec.mu.Unlock()
}

// SetResponseObject records the JSON response body at level RequestResponse. At every
// level, a metav1.Status body also sets the event's responseStatus, so a refused
// request says why.
func (rec *Recorder) SetResponseObject(raw []byte) {
	if rec.off {
		return
	}
	status := statusOf(raw)
	var obj json.RawMessage
	if !rec.bodyFree && !rec.ev.Level.Less(LevelRequestResponse) {
		obj = rec.object(raw)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if status != nil {
		rec.ev.ResponseStatus = status
	}
	if obj != nil {
		rec.ev.ResponseObject = obj
	}
}

func (rec *Recorder) object(raw []byte) json.RawMessage {
	if !json.Valid(raw) {
		return nil
	}
	if rec.omitMF {
		if stripped, ok := stripManagedFields(raw); ok {
			return stripped
		}
	}
	return bytes.Clone(raw)
}

// statusOf returns the bounded fields of raw if it is a metav1.Status, else nil.
func statusOf(raw []byte) *ResponseStatus {
	if !bytes.Contains(raw, []byte(`"Status"`)) {
		return nil
	}
	var s struct {
		Kind    string `json:"kind"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Code    int32  `json:"code"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Kind != "Status" {
		return nil
	}
	return &ResponseStatus{Status: s.Status, Message: s.Message, Reason: s.Reason, Code: s.Code}
}

// stripManagedFields removes metadata.managedFields from an object, or from each item
// of a list: they are large and say nothing about who did what.
func stripManagedFields(raw []byte) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil, false
	}
	changed := stripMetadata(obj)
	if items, ok := obj["items"]; ok {
		var list []map[string]json.RawMessage
		if json.Unmarshal(items, &list) == nil {
			itemsChanged := false
			for _, it := range list {
				if stripMetadata(it) {
					itemsChanged = true
				}
			}
			if itemsChanged {
				b, err := json.Marshal(list)
				if err != nil {
					return nil, false
				}
				obj["items"], changed = b, true
			}
		}
	}
	if !changed {
		return bytes.Clone(raw), true
	}
	b, err := json.Marshal(obj)
	return b, err == nil
}

func stripMetadata(obj map[string]json.RawMessage) bool {
	m, ok := obj["metadata"]
	if !ok {
		return false
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(m, &meta) != nil {
		return false
	}
	if _, ok := meta["managedFields"]; !ok {
		return false
	}
	delete(meta, "managedFields")
	b, err := json.Marshal(meta)
	if err != nil {
		return false
	}
	obj["metadata"] = b
	return true
}

// status records the response code the first time headers go out, and emits
// ResponseStarted then for a long-running request.
func (rec *Recorder) status(code int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ended {
		return
	}
	if rec.ev.ResponseStatus == nil {
		rec.ev.ResponseStatus = &ResponseStatus{}
	}
	if rec.ev.ResponseStatus.Code == 0 {
		rs := *rec.ev.ResponseStatus
		rs.Code = int32(code)
		rec.ev.ResponseStatus = &rs
	}
	if rec.longRun && !rec.started {
		rec.started = true
		rec.emitLocked(StageResponseStarted)
	}
}

// End emits ResponseComplete (after a ResponseStarted for a long-running request that
// never sent headers). Calls after the first, or after Panic, do nothing.
func (rec *Recorder) End() {
	if rec.off {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ended {
		return
	}
	rec.ended = true
	if rec.ev.ResponseStatus == nil {
		// Nothing was written: the client went away or the handler returned silently.
		rec.ev.ResponseStatus = &ResponseStatus{Status: metav1.StatusSuccess, Message: "Connection closed early", Code: http.StatusOK}
	}
	if rec.longRun && !rec.started {
		rec.started = true
		rec.emitLocked(StageResponseStarted)
	}
	rec.emitLocked(StageResponseComplete)
}

// Panic emits the Panic stage for a handler that panicked with v, in place of
// ResponseComplete. The caller recovers and decides what to do with the panic.
func (rec *Recorder) Panic(v any) {
	if rec.off {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ended {
		return
	}
	rec.ended = true
	rec.ev.ResponseStatus = &ResponseStatus{
		Status:  metav1.StatusFailure,
		Reason:  string(metav1.StatusReasonInternalError),
		Message: fmt.Sprintf("APIServer panic'd: %v", v),
		Code:    http.StatusInternalServerError,
	}
	rec.emitLocked(StagePanic)
}

func (rec *Recorder) emitLocked(stage Stage) {
	if rec.omit.has(stage) {
		return
	}
	ev := rec.ev
	ev.Stage = stage
	ev.StageTimestamp = metav1.NewMicroTime(time.Now())
	if stage == StageResponseStarted {
		// The body is not complete yet; ResponseComplete carries it.
		ev.ResponseObject = nil
	}
	if ev.Annotations != nil {
		// Later AddAnnotation calls must not change an event already queued.
		ann := make(map[string]string, len(ev.Annotations))
		for k, v := range ev.Annotations {
			ann[k] = v
		}
		ev.Annotations = ann
	}
	rec.l.send(&ev)
}

// WrapWriter sets the Audit-ID header on w and returns a writer that records the
// response code. The result implements http.Flusher and http.Hijacker exactly when w
// does, and unwraps for http.ResponseController.
func (rec *Recorder) WrapWriter(w http.ResponseWriter) http.ResponseWriter {
	w.Header().Set(HeaderAuditID, rec.auditID)
	if rec.off {
		return w
	}
	base := &responseWriter{ResponseWriter: w, rec: rec}
	_, canFlush := w.(http.Flusher)
	_, canHijack := w.(http.Hijacker)
	switch {
	case canFlush && canHijack:
		return &flushHijackWriter{base}
	case canFlush:
		return &flushWriter{base}
	case canHijack:
		return &hijackWriter{base}
	}
	return base
}

type responseWriter struct {
	http.ResponseWriter
	rec         *Recorder
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx are informational; the real status is still to come.
	if !w.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.wroteHeader = true
		w.rec.status(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.rec.status(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) flush() {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.rec.status(http.StatusOK)
	}
	w.ResponseWriter.(http.Flusher).Flush()
}

func (w *responseWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil && !w.wroteHeader {
		// The connection now speaks another protocol (exec, port-forward): for the
		// log that is a switch of protocols, whatever the handler writes next.
		w.wroteHeader = true
		w.rec.status(http.StatusSwitchingProtocols)
	}
	return conn, rw, err
}

type flushWriter struct{ *responseWriter }

func (w *flushWriter) Flush() { w.flush() }

type hijackWriter struct{ *responseWriter }

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.hijack() }

type flushHijackWriter struct{ *responseWriter }

func (w *flushHijackWriter) Flush() { w.flush() }

func (w *flushHijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.hijack() }

// auditIDFrom keeps a client's Audit-ID when it is short printable ASCII, which is
// all a log reader needs, and otherwise makes a new random UUID.
func auditIDFrom(h string) string {
	if h != "" && len(h) <= 128 && strings.IndexFunc(h, func(r rune) bool { return r <= ' ' || r > '~' }) < 0 {
		return h
	}
	return newUUID()
}

func newUUID() string {
	var u [16]byte
	// crypto/rand.Read never fails on Linux (Go 1.24+ crashes the program instead).
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// SourceIPs lists the addresses a request came through, as Kubernetes records them:
// the X-Forwarded-For chain, then X-Real-Ip if it is not already there, then the
// connection's remote address unless it repeats the last one. Headers can be forged by
// clients; only the remote address is certain.
func SourceIPs(r *http.Request) []string {
	var ips []netip.Addr
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		for part := range strings.SplitSeq(xff, ",") {
			if ip, ok := parseIP(strings.TrimSpace(part)); ok {
				ips = append(ips, ip)
			}
		}
	}
	if ip, ok := parseIP(strings.TrimSpace(r.Header.Get("X-Real-Ip"))); ok && !containsAddr(ips, ip) {
		ips = append(ips, ip)
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		host = h
	}
	if ip, ok := parseIP(host); ok && (len(ips) == 0 || ips[len(ips)-1] != ip) {
		ips = append(ips, ip)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// parseIP accepts IPv4, IPv6 and IPv4-mapped IPv6, comparing the last as IPv4 the way
// net.IP.Equal does; zones are not addresses a client can be traced to.
func parseIP(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, v := range list {
		if v == ip {
			return true
		}
	}
	return false
}
