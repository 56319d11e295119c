package audit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// BenchmarkEvaluateBeginEnd is the audit cost of one ordinary request under the
// default policy: evaluate, begin, wrap the writer, write a status, end. The
// background writer's encoding and disk time are included when the queue fills.
func BenchmarkEvaluateBeginEnd(b *testing.B) {
	l, err := New(filepath.Join(b.TempDir(), "audit.log"), 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := DefaultPolicy()
	r := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/web", nil)
	r.Header.Set("User-Agent", "kubectl/v1.33")
	a := Attributes{User: "admin", Groups: []string{"system:masters", "system:authenticated"}, Verb: "get",
		APIVersion: "v1", Resource: "pods", Namespace: "default", Name: "web"}
	w := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rec := l.Begin(r, a, p.Evaluate(a))
		rec.WrapWriter(w).WriteHeader(http.StatusOK)
		rec.End()
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l.Dropped() != 0 {
		b.Logf("%d events dropped", l.Dropped())
	}
}

// BenchmarkEvaluateBeginEndRequestPath is the same request with events discarded as
// soon as they are queued: what the request itself pays, without the writer's work.
func BenchmarkEvaluateBeginEndRequestPath(b *testing.B) {
	l := &Logger{queue: make(chan *Event, queueSize), done: make(chan struct{}), timeout: sendTimeout}
	go func() {
		defer close(l.done)
		for range l.queue {
		}
	}()
	defer func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		<-l.done
	}()
	p := DefaultPolicy()
	r := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/web", nil)
	a := Attributes{User: "admin", Groups: []string{"system:masters", "system:authenticated"}, Verb: "get",
		APIVersion: "v1", Resource: "pods", Namespace: "default", Name: "web"}
	w := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rec := l.Begin(r, a, p.Evaluate(a))
		rec.WrapWriter(w).WriteHeader(http.StatusOK)
		rec.End()
	}
}

// BenchmarkEncodeEvent is the writer's cost per Metadata event, before the disk.
func BenchmarkEncodeEvent(b *testing.B) {
	// No writer goroutine: the one event is taken from the queue and encoded here.
	l := &Logger{queue: make(chan *Event, 1), timeout: sendTimeout}
	rec := l.Begin(httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/web", nil),
		Attributes{User: "admin", Groups: []string{"system:masters"}, Verb: "get", APIVersion: "v1", Resource: "pods", Namespace: "default", Name: "web"},
		Decision{Level: LevelMetadata, OmitStages: []Stage{StageRequestReceived}})
	rec.WrapWriter(discardWriter{h: http.Header{}}).WriteHeader(200)
	rec.End()
	ev := <-l.queue
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := enc.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/event")
}

func BenchmarkEvaluate(b *testing.B) {
	p := DefaultPolicy()
	a := Attributes{User: "admin", Verb: "get", Resource: "pods", Namespace: "default", Name: "web"}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(a)
	}
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header       { return w.h }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
