package audit

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// record runs fn against a fresh logger and returns the events it wrote.
func record(t *testing.T, fn func(l *Logger)) []Event {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	fn(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return readEvents(t, path)
}

func stagesOf(evs []Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, string(ev.Stage))
	}
	return strings.Join(s, ",")
}

func TestRecorderStages(t *testing.T) {
	cases := []struct {
		name        string
		longRunning bool
		omit        []Stage
		run         func(rec *Recorder, w http.ResponseWriter)
		wantStages  string
		wantCode    int32
		wantMessage string
	}{
		{
			name:       "short request",
			omit:       []Stage{StageRequestReceived},
			run:        func(rec *Recorder, w http.ResponseWriter) { w.WriteHeader(404); rec.End() },
			wantStages: "ResponseComplete", wantCode: 404,
		},
		{
			name:       "all stages",
			run:        func(rec *Recorder, w http.ResponseWriter) { io.WriteString(w, "ok"); rec.End() },
			wantStages: "RequestReceived,ResponseComplete", wantCode: 200,
		},
		{
			name:        "long-running",
			longRunning: true,
			omit:        []Stage{StageRequestReceived},
			run: func(rec *Recorder, w http.ResponseWriter) {
				w.WriteHeader(200)
				io.WriteString(w, "event 1")
				w.(http.Flusher).Flush()
				io.WriteString(w, "event 2")
				rec.End()
			},
			wantStages: "ResponseStarted,ResponseComplete", wantCode: 200,
		},
		{
			name:        "long-running without headers",
			longRunning: true,
			run:         func(rec *Recorder, w http.ResponseWriter) { rec.End() },
			wantStages:  "RequestReceived,ResponseStarted,ResponseComplete", wantCode: 200, wantMessage: "Connection closed early",
		},
		{
			name:        "long-running with ResponseStarted omitted",
			longRunning: true,
			omit:        []Stage{StageRequestReceived, StageResponseStarted},
			run:         func(rec *Recorder, w http.ResponseWriter) { w.WriteHeader(200); rec.End() },
			wantStages:  "ResponseComplete", wantCode: 200,
		},
		{
			name:       "nothing written",
			omit:       []Stage{StageRequestReceived},
			run:        func(rec *Recorder, w http.ResponseWriter) { rec.End() },
			wantStages: "ResponseComplete", wantCode: 200, wantMessage: "Connection closed early",
		},
		{
			name: "panic",
			omit: []Stage{StageRequestReceived},
			run: func(rec *Recorder, w http.ResponseWriter) {
				rec.Panic("boom")
				rec.End() // the recovering middleware may still call End
			},
			wantStages: "Panic", wantCode: 500, wantMessage: "APIServer panic'd: boom",
		},
		{
			name: "informational header is not the status",
			omit: []Stage{StageRequestReceived},
			run: func(rec *Recorder, w http.ResponseWriter) {
				w.WriteHeader(http.StatusContinue)
				w.WriteHeader(http.StatusConflict)
				rec.End()
			},
			wantStages: "ResponseComplete", wantCode: 409,
		},
		{
			name: "failure status body",
			omit: []Stage{StageRequestReceived},
			run: func(rec *Recorder, w http.ResponseWriter) {
				rec.SetResponseObject([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"bob\" cannot list resource \"pods\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}`))
				w.WriteHeader(403)
				rec.End()
			},
			wantStages: "ResponseComplete", wantCode: 403, wantMessage: `pods is forbidden: User "bob" cannot list resource "pods"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs := record(t, func(l *Logger) {
				r := httptest.NewRequest("GET", "/api/v1/pods?watch=true", nil)
				a := Attributes{User: "bob", Verb: "watch", APIVersion: "v1", Resource: "pods", LongRunning: tc.longRunning}
				rec := l.Begin(r, a, Decision{Level: LevelMetadata, OmitStages: tc.omit})
				tc.run(rec, rec.WrapWriter(httptest.NewRecorder()))
			})
			if got := stagesOf(evs); got != tc.wantStages {
				t.Fatalf("stages %s, want %s", got, tc.wantStages)
			}
			last := evs[len(evs)-1]
			if last.ResponseStatus == nil || last.ResponseStatus.Code != tc.wantCode || last.ResponseStatus.Message != tc.wantMessage {
				t.Errorf("responseStatus %+v, want code %d message %q", last.ResponseStatus, tc.wantCode, tc.wantMessage)
			}
			for _, ev := range evs {
				if ev.Stage != StageRequestReceived && ev.ResponseStatus == nil {
					t.Errorf("%s has no responseStatus", ev.Stage)
				}
			}
		})
	}
}

func TestRecorderBodies(t *testing.T) {
	const reqBody = `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"data":{"password":"aHVudGVyMg=="}}`
	const respBody = `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","uid":"1"},"data":{"password":"aHVudGVyMg=="}}`
	cases := []struct {
		name         string
		level        Level
		group        string
		resource     string
		subresource  string
		wantLevel    Level
		wantRequest  bool
		wantResponse bool
	}{
		{"metadata", LevelMetadata, "", "configmaps", "", LevelMetadata, false, false},
		{"request", LevelRequest, "", "configmaps", "", LevelRequest, true, false},
		{"request response", LevelRequestResponse, "", "configmaps", "", LevelRequestResponse, true, true},
		{"secrets never", LevelRequestResponse, "", "secrets", "", LevelMetadata, false, false},
		{"secrets at request", LevelRequest, "", "secrets", "", LevelMetadata, false, false},
		{"token requests never", LevelRequestResponse, "", "serviceaccounts", "token", LevelMetadata, false, false},
		{"token reviews never", LevelRequestResponse, "authentication.k8s.io", "tokenreviews", "", LevelMetadata, false, false},
		{"secrets of another group may", LevelRequestResponse, "example.com", "secrets", "", LevelRequestResponse, true, true},
		{"serviceaccounts themselves may", LevelRequestResponse, "", "serviceaccounts", "", LevelRequestResponse, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs := record(t, func(l *Logger) {
				r := httptest.NewRequest("POST", "/x", nil)
				a := Attributes{Verb: "create", APIGroup: tc.group, Resource: tc.resource, Subresource: tc.subresource, Namespace: "n"}
				rec := l.Begin(r, a, Decision{Level: tc.level})
				if rec.Level() != tc.wantLevel {
					t.Errorf("Recorder.Level = %q, want %q", rec.Level(), tc.wantLevel)
				}
				rec.SetRequestObject([]byte(reqBody))
				w := rec.WrapWriter(httptest.NewRecorder())
				w.WriteHeader(201)
				rec.SetResponseObject([]byte(respBody))
				rec.End()
			})
			if got := stagesOf(evs); got != "RequestReceived,ResponseComplete" {
				t.Fatalf("stages %s", got)
			}
			ev := evs[1]
			if ev.Level != tc.wantLevel {
				t.Errorf("level %q, want %q", ev.Level, tc.wantLevel)
			}
			if got := ev.RequestObject != nil; got != tc.wantRequest {
				t.Errorf("requestObject logged = %v, want %v", got, tc.wantRequest)
			}
			if got := ev.ResponseObject != nil; got != tc.wantResponse {
				t.Errorf("responseObject logged = %v, want %v", got, tc.wantResponse)
			}
			if tc.wantRequest && string(ev.RequestObject) != reqBody {
				t.Errorf("requestObject %s, want %s", ev.RequestObject, reqBody)
			}
			if evs[0].RequestObject != nil {
				// RequestReceived is written before the body has been read.
				t.Error("RequestReceived carries a body")
			}
		})
	}
}

func TestRecorderSecretValuesNeverInLog(t *testing.T) {
	const secret = "c2VjcmV0LXZhbHVlLTQyNDI0Mg=="
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Rules: []PolicyRule{{Level: LevelRequestResponse}}}
	body := []byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"data":{"k":"` + secret + `"}}`)
	token := []byte(`{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","status":{"token":"` + secret + `"}}`)
	for _, a := range []Attributes{
		{Verb: "create", APIVersion: "v1", Resource: "secrets", Namespace: "n", Name: "s"},
		{Verb: "get", APIVersion: "v1", Resource: "secrets", Namespace: "n", Name: "s"},
		{Verb: "list", APIVersion: "v1", Resource: "secrets", Namespace: "n"},
		{Verb: "watch", APIVersion: "v1", Resource: "secrets", LongRunning: true},
		{Verb: "create", APIVersion: "v1", Resource: "serviceaccounts", Subresource: "token", Namespace: "n", Name: "default"},
	} {
		rec := l.Begin(httptest.NewRequest("POST", "/x", nil), a, p.Evaluate(a))
		rec.SetRequestObject(body)
		w := rec.WrapWriter(httptest.NewRecorder())
		w.WriteHeader(200)
		rec.SetResponseObject(body)
		rec.SetResponseObject(token)
		rec.End()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, path)
	if len(evs) != 11 {
		t.Errorf("%d events, want 11", len(evs))
	}
	for _, ev := range evs {
		if ev.Level != LevelMetadata {
			t.Errorf("%s %s at level %s", ev.Verb, ev.ObjectRef.Resource, ev.Level)
		}
	}
	data := readFile(t, path)
	if strings.Contains(data, secret) {
		t.Fatalf("secret value in the audit log:\n%s", data)
	}
}

func TestRecorderOmitManagedFields(t *testing.T) {
	const obj = `{"kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"kubectl"}]},"spec":{}}`
	const list = `{"kind":"PodList","metadata":{},"items":[{"metadata":{"name":"a","managedFields":[{"manager":"x"}]}},{"metadata":{"name":"b"}}]}`
	evs := record(t, func(l *Logger) {
		for _, omit := range []bool{true, false} {
			rec := l.Begin(httptest.NewRequest("POST", "/x", nil), Attributes{Verb: "create", Resource: "pods"},
				Decision{Level: LevelRequestResponse, OmitStages: []Stage{StageRequestReceived}, OmitManagedFields: omit})
			rec.SetRequestObject([]byte(obj))
			rec.SetResponseObject([]byte(list))
			rec.End()
		}
	})
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if s := string(evs[0].RequestObject) + string(evs[0].ResponseObject); strings.Contains(s, "managedFields") {
		t.Errorf("managedFields kept: %s", s)
	}
	if !strings.Contains(string(evs[0].ResponseObject), `"name":"b"`) || !strings.Contains(string(evs[0].RequestObject), `"spec":{}`) {
		t.Errorf("stripping lost more than managedFields: %s %s", evs[0].RequestObject, evs[0].ResponseObject)
	}
	if string(evs[1].RequestObject) != obj || string(evs[1].ResponseObject) != list {
		t.Errorf("without omitManagedFields the bodies changed: %s %s", evs[1].RequestObject, evs[1].ResponseObject)
	}
}

func TestRecorderSkipsNonJSONBodies(t *testing.T) {
	evs := record(t, func(l *Logger) {
		rec := l.Begin(httptest.NewRequest("POST", "/x", nil), Attributes{Verb: "create", Resource: "pods"},
			Decision{Level: LevelRequestResponse, OmitStages: []Stage{StageRequestReceived}})
		rec.SetRequestObject([]byte("\x00k8s protobuf"))
		rec.SetResponseObject([]byte(`{"kind":`))
		rec.End()
	})
	if len(evs) != 1 || evs[0].RequestObject != nil || evs[0].ResponseObject != nil {
		t.Errorf("events %+v, want one without bodies", evs)
	}
}

func TestAuditID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	cases := []struct {
		name, header string
		keep         bool
	}{
		{"none", "", false},
		{"client uuid", "6b1f3d9e-0a4c-4f5e-9b2d-1c3e5a7f9b0d", true},
		{"client token", "req-42", true},
		{"space", "a b", false},
		{"non-ascii", "ünïcode", false},
		{"too long", strings.Repeat("a", 129), false},
		{"longest", strings.Repeat("a", 128), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, level := range []Level{LevelNone, LevelMetadata} {
				r := httptest.NewRequest("GET", "/api", nil)
				if tc.header != "" {
					r.Header.Set(HeaderAuditID, tc.header)
				}
				var got string
				evs := record(t, func(l *Logger) {
					rec := l.Begin(r, Attributes{Verb: "get", Path: "/api"}, Decision{Level: level})
					rw := httptest.NewRecorder()
					rec.WrapWriter(rw).WriteHeader(200)
					rec.End()
					got = rw.Header().Get(HeaderAuditID)
					if rec.AuditID() != got {
						t.Errorf("AuditID() %q, header %q", rec.AuditID(), got)
					}
				})
				if tc.keep && got != tc.header {
					t.Errorf("level %s: Audit-ID %q, want the client's %q", level, got, tc.header)
				}
				if !tc.keep && !uuid.MatchString(got) {
					t.Errorf("level %s: Audit-ID %q is not a new UUID", level, got)
				}
				for _, ev := range evs {
					if ev.AuditID != got {
						t.Errorf("event auditID %q, header %q", ev.AuditID, got)
					}
				}
				if level == LevelNone && len(evs) != 0 {
					t.Errorf("level None wrote %d events", len(evs))
				}
			}
		})
	}
}

// plainWriter is a ResponseWriter with neither Flush nor Hijack.
type plainWriter struct{ http.ResponseWriter }

// hijackOnly is a ResponseWriter with Hijack but not Flush.
type hijackOnly struct {
	http.ResponseWriter
	http.Hijacker
}

func TestWrapWriterKeepsInterfaces(t *testing.T) {
	l, err := New(filepath.Join(t.TempDir(), "audit.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	begin := func() *Recorder {
		return l.Begin(httptest.NewRequest("GET", "/x", nil), Attributes{Verb: "get", Resource: "pods"}, Decision{Level: LevelMetadata})
	}
	full := httptest.NewRecorder() // a Flusher, not a Hijacker
	cases := []struct {
		name                 string
		w                    http.ResponseWriter
		wantFlush, wantHijak bool
	}{
		{"plain", plainWriter{full}, false, false},
		{"flusher", full, true, false},
		{"hijacker", hijackOnly{plainWriter{full}, nil}, false, true},
		{"both", struct {
			http.ResponseWriter
			http.Flusher
			http.Hijacker
		}{full, full, nil}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := begin().WrapWriter(tc.w)
			if _, ok := w.(http.Flusher); ok != tc.wantFlush {
				t.Errorf("Flusher = %v, want %v", ok, tc.wantFlush)
			}
			if _, ok := w.(http.Hijacker); ok != tc.wantHijak {
				t.Errorf("Hijacker = %v, want %v", ok, tc.wantHijak)
			}
			if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != tc.w {
				t.Error("does not unwrap to the original writer")
			}
		})
	}
}

// TestWrapWriterHijackOverHTTP upgrades a real connection through the wrapped writer,
// as exec and port-forward do, and checks the event records the protocol switch.
func TestWrapWriterHijackOverHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		rec := l.Begin(r, Attributes{Verb: "create", Resource: "pods", Subresource: "exec", LongRunning: true},
			Decision{Level: LevelMetadata, OmitStages: []Stage{StageRequestReceived}})
		defer rec.End()
		w = rec.WrapWriter(w)
		if _, ok := w.(http.Flusher); !ok {
			t.Error("wrapped server writer lost http.Flusher")
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("wrapped server writer lost http.Hijacker")
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\nAudit-Id: %s\r\n\r\nhello", rec.AuditID())
		buf.Flush()
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("status %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("body %q", body)
	}
	<-ended // a hijacked connection is not the server's any more: Close would not wait
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, path)
	if got := stagesOf(evs); got != "ResponseStarted,ResponseComplete" {
		t.Fatalf("stages %s", got)
	}
	for _, ev := range evs {
		if ev.ResponseStatus.Code != http.StatusSwitchingProtocols {
			t.Errorf("%s code %d, want 101", ev.Stage, ev.ResponseStatus.Code)
		}
		if ev.AuditID != resp.Header.Get(HeaderAuditID) {
			t.Errorf("auditID %q, header %q", ev.AuditID, resp.Header.Get(HeaderAuditID))
		}
	}
}

func TestSourceIPs(t *testing.T) {
	cases := []struct {
		name, xff, realIP, remote string
		want                      string
	}{
		{"remote only", "", "", "10.0.0.1:3456", "10.0.0.1"},
		{"remote without port", "", "", "10.0.0.1", "10.0.0.1"},
		{"ipv6 remote", "", "", "[fd00::1]:443", "fd00::1"},
		{"forwarded chain", "1.1.1.1, 2.2.2.2", "", "10.0.0.1:1", "1.1.1.1,2.2.2.2,10.0.0.1"},
		{"remote repeats last hop", "1.1.1.1, 10.0.0.1", "", "10.0.0.1:1", "1.1.1.1,10.0.0.1"},
		{"garbage entries skipped", "nope, 1.1.1.1,, ::zz", "", "10.0.0.1:1", "1.1.1.1,10.0.0.1"},
		{"real ip added", "", "3.3.3.3", "10.0.0.1:1", "3.3.3.3,10.0.0.1"},
		{"real ip already in chain", "3.3.3.3", "3.3.3.3", "10.0.0.1:1", "3.3.3.3,10.0.0.1"},
		{"mapped ipv4", "::ffff:1.2.3.4", "", "[::ffff:1.2.3.4]:1", "1.2.3.4"},
		{"unparsable remote", "", "", "pipe", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-Ip", tc.realIP)
			}
			if got := strings.Join(SourceIPs(r), ","); got != tc.want {
				t.Errorf("SourceIPs = %s, want %s", got, tc.want)
			}
		})
	}
}

func FuzzSourceIPs(f *testing.F) {
	f.Add("1.1.1.1, 2.2.2.2", "3.3.3.3", "10.0.0.1:80")
	f.Add("::ffff:1.2.3.4,fe80::1%eth0", "", "[fd00::1]:443")
	f.Fuzz(func(t *testing.T, xff, realIP, remote string) {
		r := &http.Request{Header: http.Header{"X-Forwarded-For": {xff}, "X-Real-Ip": {realIP}}, RemoteAddr: remote}
		for _, ip := range SourceIPs(r) {
			if _, ok := parseIP(ip); !ok {
				t.Fatalf("SourceIPs returned %q, not an address", ip)
			}
		}
	})
}

func FuzzAuditID(f *testing.F) {
	f.Add("6b1f3d9e-0a4c-4f5e-9b2d-1c3e5a7f9b0d")
	f.Add("a b\n")
	f.Fuzz(func(t *testing.T, h string) {
		id := auditIDFrom(h)
		if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			t.Fatalf("auditIDFrom(%q) = %q", h, id)
		}
	})
}
