package apiserver

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bosun-sh/bosun/internal/registry"
)

func TestIsLongRunning(t *testing.T) {
	cases := []struct {
		method, url string
		want        bool
	}{
		{"GET", "/api/v1/pods", false},
		{"GET", "/api/v1/pods?watch=true", true},
		{"GET", "/api/v1/namespaces/a/pods?watch=1&resourceVersion=5", true},
		{"GET", "/apis/apps/v1/watch/namespaces/a/deployments", true},
		{"GET", "/api/v1/watch/pods", true},
		{"GET", "/api/v1/namespaces/a/pods/web/log", false},
		{"GET", "/api/v1/namespaces/a/pods/web/log?follow=true", true},
		{"POST", "/api/v1/namespaces/a/pods/web/exec?command=ls", true},
		{"GET", "/api/v1/namespaces/a/pods/web/attach", true},
		{"POST", "/api/v1/namespaces/a/pods/web/portforward", true},
		{"GET", "/api/v1/nodes/n1/proxy/stats/summary", true},
		{"GET", "/api/v1/nodes/proxy", false}, // a node named proxy
		{"GET", "/apis/apps/v1/namespaces/a/deployments/exec", false},
		{"GET", "/api/v1/namespaces/a/pods/proxy", false},
		{"GET", "/api/v1/namespaces/a/services/web/proxy/x", true},
		{"GET", "/api/v1/namespaces/a/pods/web/proxy", true},
		{"GET", "/apis/apps/v1/namespaces/a/deployments/web/status", false},
		{"GET", "/version", false},
		{"GET", "/", false},
	}
	s := New(Config{Kinds: registry.Kinds()})
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.url, nil)
		a := s.attributesOf(r)
		if got := a.longRunning(r); got != c.want {
			t.Errorf("longRunning(%s %s) = %v, want %v", c.method, c.url, got, c.want)
		}
	}
}

func TestInflightBounds(t *testing.T) {
	l := newInflight(2, 1)
	release := make(chan struct{})
	var started sync.WaitGroup
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		<-release
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

	// Fill both read-only slots and the mutating one.
	var done sync.WaitGroup
	for _, m := range []string{"GET", "GET", "POST"} {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			l.serve(httptest.NewRecorder(), httptest.NewRequest(m, "/api/v1/pods", nil), nil, false, blocking)
		}()
	}
	started.Wait()

	s := New(Config{Kinds: registry.Kinds()})
	serve := func(method, url string, groups []string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, url, nil)
		a := s.attributesOf(r)
		l.serve(w, r, groups, a.longRunning(r), ok)
		return w
	}
	for _, c := range []struct {
		method, url string
		groups      []string
		want        int
	}{
		{"GET", "/api/v1/pods", nil, http.StatusTooManyRequests},
		{"DELETE", "/api/v1/namespaces/a/pods/x", []string{"system:nodes"}, http.StatusTooManyRequests},
		{"GET", "/api/v1/pods", []string{"system:masters"}, http.StatusOK},
		{"POST", "/api/v1/namespaces/a/configmaps", []string{"team", "system:masters"}, http.StatusOK},
		{"GET", "/api/v1/pods?watch=true", nil, http.StatusOK},
		{"POST", "/api/v1/namespaces/a/pods/web/exec", nil, http.StatusOK},
	} {
		w := serve(c.method, c.url, c.groups)
		if w.Code != c.want {
			t.Errorf("%s %s as %v: %d, want %d", c.method, c.url, c.groups, w.Code, c.want)
		}
		if c.want == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "1" {
			t.Errorf("%s %s: 429 without Retry-After: 1 (headers %v)", c.method, c.url, w.Header())
		}
	}
	close(release)
	done.Wait()
	if w := serve("GET", "/api/v1/pods", nil); w.Code != http.StatusOK {
		t.Errorf("after the slots were released: %d, want 200", w.Code)
	}

	unbounded := newInflight(-1, -1)
	w := httptest.NewRecorder()
	unbounded.serve(w, httptest.NewRequest("GET", "/api/v1/pods", nil), nil, false, ok)
	if w.Code != http.StatusOK {
		t.Errorf("without bounds: %d", w.Code)
	}
}
