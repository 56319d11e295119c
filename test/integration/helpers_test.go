// Package integration runs client-go and raw HTTP clients against a real
// in-process bosun server (embedded etcd, TLS) to check that it behaves
// like a Kubernetes API server.
package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// testContext returns a context that ends with the test, bounded so a hung
// server fails the test instead of the whole package run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var namespaceSeq atomic.Int64

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T, s *testserver.Server) string {
	t.Helper()
	name := fmt.Sprintf("it-%d-%d", time.Now().UnixNano()%1e6, namespaceSeq.Add(1))
	_, err := s.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// pollUntil polls cond every 50ms until it reports done, fails, or the
// timeout passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		done, err := cond()
		if done && err == nil {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v (last error: %v)", what, timeout, last)
		}
		<-tick.C
	}
}

// rv parses a resourceVersion.
func rv(t *testing.T, obj interface{ GetResourceVersion() string }) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("resourceVersion %q is not a positive integer", obj.GetResourceVersion())
	}
	return n
}

// nextEvent returns the next watch event, failing the test when none
// arrives in time or the channel closes.
func nextEvent(t *testing.T, w watch.Interface, timeout time.Duration) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed while waiting for an event")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no watch event within %v", timeout)
	}
	return watch.Event{}
}

// nextNonBookmark skips bookmarks.
func nextNonBookmark(t *testing.T, w watch.Interface, timeout time.Duration) watch.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1000; i++ {
		ev := nextEvent(t, w, time.Until(deadline))
		if ev.Type != watch.Bookmark {
			return ev
		}
	}
	t.Fatal("only bookmarks on the watch")
	return watch.Event{}
}

// expectEvent reads the next non-bookmark event and checks its type and
// object name.
func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) watch.Event {
	t.Helper()
	ev := nextNonBookmark(t, w, 10*time.Second)
	m, ok := ev.Object.(metav1.Object)
	if ev.Type != typ || !ok || m.GetName() != name {
		t.Fatalf("watch event: got %s %s, want %s %s", ev.Type, describe(ev.Object), typ, name)
	}
	return ev
}

// expectNoEvent checks that nothing but bookmarks arrives for d.
func expectNoEvent(t *testing.T, w watch.Interface, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			if ev.Type != watch.Bookmark {
				t.Fatalf("unexpected watch event %s %s", ev.Type, describe(ev.Object))
			}
		case <-timer.C:
			return
		}
	}
}

func describe(obj any) string {
	switch o := obj.(type) {
	case *metav1.Status:
		return fmt.Sprintf("Status(%d %s: %s)", o.Code, o.Reason, o.Message)
	case metav1.Object:
		return fmt.Sprintf("%T %s/%s rv=%s", obj, o.GetNamespace(), o.GetName(), o.GetResourceVersion())
	}
	return fmt.Sprintf("%T", obj)
}

func ptrTo[T any](v T) *T { return &v }
