package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readEvents decodes every line of the file at path strictly into Events.
func readEvents(t *testing.T, path string) []Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeEvents(t, data)
}

func decodeEvents(t *testing.T, data []byte) []Event {
	t.Helper()
	var evs []Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
			t.Fatalf("line %q: kind %q apiVersion %q", sc.Text(), ev.Kind, ev.APIVersion)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// logRequest records one complete get of pods/NAME.
func logRequest(l *Logger, name string) {
	r := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/"+name, nil)
	a := Attributes{User: "admin", Groups: []string{"system:masters"}, Verb: "get", APIVersion: "v1", Resource: "pods", Namespace: "default", Name: name}
	rec := l.Begin(r, a, Decision{Level: LevelMetadata, OmitStages: []Stage{StageRequestReceived}})
	w := rec.WrapWriter(httptest.NewRecorder())
	w.WriteHeader(200)
	rec.End()
}

func TestLoggerWritesJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.log")
	l, err := New(path, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/api/v1/namespaces/team/configmaps?fieldManager=kubectl", nil)
	r.Header.Set("User-Agent", "kubectl/v1.33")
	r.RemoteAddr = "10.0.0.7:5555"
	a := Attributes{User: "alice", UID: "u1", Groups: []string{"dev", "system:authenticated"}, Extra: map[string][]string{"scopes": {"a"}},
		Verb: "create", APIVersion: "v1", Resource: "configmaps", Namespace: "team", Name: "cfg"}
	rec := l.Begin(r, a, Decision{Level: LevelMetadata})
	rec.AddAnnotation("authorization.k8s.io/decision", "allow")
	rec.SetObjectRef("uid-1", "42")
	w := rec.WrapWriter(httptest.NewRecorder())
	w.WriteHeader(201)
	rec.End()
	rec.End() // a second End changes nothing
	logRequest(l, "web")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}

	evs := readEvents(t, path)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	got := []Stage{evs[0].Stage, evs[1].Stage, evs[2].Stage}
	want := []Stage{StageRequestReceived, StageResponseComplete, StageResponseComplete}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", got, want)
	}
	ev := evs[1]
	if ev.AuditID != evs[0].AuditID || ev.AuditID == evs[2].AuditID {
		t.Errorf("audit IDs %q %q %q: want one per request", evs[0].AuditID, ev.AuditID, evs[2].AuditID)
	}
	checks := []struct{ name, got, want string }{
		{"level", string(ev.Level), "Metadata"},
		{"requestURI", ev.RequestURI, "/api/v1/namespaces/team/configmaps?fieldManager=kubectl"},
		{"verb", ev.Verb, "create"},
		{"user", fmt.Sprint(ev.User), fmt.Sprint(UserInfo{Username: "alice", UID: "u1", Groups: []string{"dev", "system:authenticated"}, Extra: map[string][]string{"scopes": {"a"}}})},
		{"sourceIPs", fmt.Sprint(ev.SourceIPs), "[10.0.0.7]"},
		{"userAgent", ev.UserAgent, "kubectl/v1.33"},
		{"objectRef", fmt.Sprint(*ev.ObjectRef), fmt.Sprint(ObjectReference{Resource: "configmaps", Namespace: "team", Name: "cfg", UID: "uid-1", APIVersion: "v1", ResourceVersion: "42"})},
		{"first objectRef", fmt.Sprint(evs[0].ObjectRef.UID), ""},
		{"code", fmt.Sprint(ev.ResponseStatus.Code), "201"},
		{"annotation", ev.Annotations["authorization.k8s.io/decision"], "allow"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ev.RequestReceivedTimestamp.IsZero() || ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
		t.Errorf("timestamps received %v stage %v", ev.RequestReceivedTimestamp, ev.StageTimestamp)
	}
	if ev.RequestObject != nil || ev.ResponseObject != nil {
		t.Error("Metadata level logged a body")
	}
}

func TestLoggerAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for range 2 {
		l, err := New(path, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		logRequest(l, "a")
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(readEvents(t, path)); n != 2 {
		t.Errorf("%d events after two runs, want 2", n)
	}
}

func TestLoggerRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	const maxBytes = 4096
	l, err := newLogger(path, maxBytes, 2, 16, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100 // roughly 30 KiB of events: several rotations
	for i := range n {
		logRequest(l, fmt.Sprintf("pod-%03d", i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third backup exists (err %v); maxBackups is 2", err)
	}
	var names []string
	for _, p := range []string{path + ".2", path + ".1", path} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxBytes {
			t.Errorf("%s is %d bytes, over %d", p, st.Size(), maxBytes)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, st.Mode().Perm())
		}
		for _, ev := range readEvents(t, p) {
			names = append(names, ev.ObjectRef.Name)
		}
	}
	// The files, oldest first, hold the most recent events in order, ending with the last.
	if len(names) == 0 || len(names) >= n {
		t.Fatalf("%d events kept of %d", len(names), n)
	}
	t.Logf("%d of %d events kept in three files", len(names), n)
	first := n - len(names)
	for i, name := range names {
		if want := fmt.Sprintf("pod-%03d", first+i); name != want {
			t.Fatalf("event %d is %s, want %s", i, name, want)
		}
	}
	if l.Dropped() != 0 {
		t.Errorf("dropped %d", l.Dropped())
	}
}

func TestLoggerCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		logRequest(l, fmt.Sprint(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(readEvents(t, path)); got != n {
		t.Errorf("%d events written before Close returned, want %d", got, n)
	}
	logRequest(l, "late")
	if l.Dropped() != 1 {
		t.Errorf("Dropped = %d after one event past Close, want 1", l.Dropped())
	}
}

func TestNilLogger(t *testing.T) {
	var l *Logger
	r := httptest.NewRequest("GET", "/api", nil)
	rec := l.Begin(r, Attributes{Verb: "get", Path: "/api"}, Decision{Level: LevelRequestResponse})
	rw := httptest.NewRecorder()
	w := rec.WrapWriter(rw)
	w.WriteHeader(200)
	rec.SetRequestObject([]byte(`{}`))
	rec.SetResponseObject([]byte(`{}`))
	rec.AddAnnotation("k", "v")
	rec.End()
	rec.Panic("x")
	if rw.Header().Get(HeaderAuditID) == "" {
		t.Error("no Audit-ID header without a logger")
	}
	if l.Dropped() != 0 || l.Close() != nil {
		t.Error("nil Logger is not inert")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
