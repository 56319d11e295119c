package apiserver

import (
	"net/http"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default bounds on requests served at once, as kube-apiserver's
// --max-requests-inflight and --max-mutating-requests-inflight.
const (
	DefaultMaxRequestsInflight         = 400
	DefaultMaxMutatingRequestsInflight = 200
)

// privilegedGroup is exempt from the in-flight bounds: an administrator
// must be able to act while the server is flooded.
const privilegedGroup = "system:masters"

// inflight bounds the requests served at once, read-only and mutating
// apart, so that a flood slows clients down (429 with Retry-After, which
// client-go honours by waiting and retrying) instead of taking the server
// over. Long-running requests — watches, logs that follow, exec, attach,
// port-forward, proxies — hold a connection, not the server's attention,
// and are not counted. A nil channel means no bound.
type inflight struct {
	readOnly, mutating chan struct{}
}

func newInflight(readOnly, mutating int) *inflight {
	l := &inflight{}
	if readOnly > 0 {
		l.readOnly = make(chan struct{}, readOnly)
	}
	if mutating > 0 {
		l.mutating = make(chan struct{}, mutating)
	}
	return l
}

// serve runs next within the bound that applies to r, or answers 429.
func (l *inflight) serve(w http.ResponseWriter, r *http.Request, groups []string, longRunning bool, next http.Handler) {
	slots := l.readOnly
	if isMutating(r.Method) {
		slots = l.mutating
	}
	if slots == nil || slices.Contains(groups, privilegedGroup) || longRunning {
		next.ServeHTTP(w, r)
		return
	}
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	default:
		st := newStatus(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "Too many requests, please try again later.").s
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
		writeStatus(w, r, st)
	}
}

func isMutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// longRunning tells the requests that may legitimately stay open for
// minutes: watches (by query or by the legacy /watch/ path), following
// logs, the streaming subresources and proxies.
func (a *requestAttributes) longRunning(r *http.Request) bool {
	if a.verb == "watch" {
		return true
	}
	if !a.resourceRequest || a.apiGroup != "" {
		return false
	}
	switch a.resource {
	case "nodes", "services":
		return a.subresource == "proxy"
	case "pods":
		switch a.subresource {
		case "exec", "attach", "portforward", "proxy":
			return true
		case "log":
			v := r.URL.Query().Get("follow")
			return v == "true" || v == "1"
		}
	}
	return false
}
