package audit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/bosun-sh/bosun/internal/audit"
)

// withAudit shows where the audit step sits in a handler chain: after authentication
// (it needs the user) and around everything that writes the response.
func withAudit(l *audit.Logger, p *audit.Policy, attrs func(*http.Request) audit.Attributes, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := attrs(r)
		rec := l.Begin(r, a, p.Evaluate(a))
		defer func() {
			if v := recover(); v != nil {
				rec.Panic(v)
				panic(v)
			}
			rec.End()
		}()
		next.ServeHTTP(rec.WrapWriter(w), r)
	})
}

func Example() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.log")
	l, err := audit.New(path, 100, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	attrs := func(r *http.Request) audit.Attributes {
		return audit.Attributes{User: "alice", Verb: "get", APIVersion: "v1", Resource: "pods", Namespace: "team", Name: "web"}
	}
	h := withAudit(l, audit.DefaultPolicy(), attrs, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"kind":"Pod"}`)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/namespaces/team/pods/web", nil))
	l.Close()

	data, _ := os.ReadFile(path)
	fmt.Println(len(data) > 0)
	// Output: true
}
