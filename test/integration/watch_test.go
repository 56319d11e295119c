package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func newConfigMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"v": "0"}}
}

func TestWatch(t *testing.T) {
	t.Parallel() // it mostly waits for a bookmark
	s := testserver.Start(t, testserver.Options{})
	newWatch := func(t *testing.T, c typedcorev1.ConfigMapInterface, opts metav1.ListOptions) watch.Interface {
		t.Helper()
		w, err := c.Watch(testContext(t), opts)
		if err != nil {
			t.Fatalf("watch %+v: %v", opts, err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	setup := func(t *testing.T, names ...string) typedcorev1.ConfigMapInterface {
		t.Helper()
		c := s.Client.CoreV1().ConfigMaps(newNamespace(t, s))
		for _, n := range names {
			if _, err := c.Create(testContext(t), newConfigMap(n, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	// live makes one of each change and checks the events.
	live := func(t *testing.T, c typedcorev1.ConfigMapInterface, w watch.Interface, existing string) {
		t.Helper()
		ctx := testContext(t)
		created, err := c.Create(ctx, newConfigMap("live", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ev := expectEvent(t, w, watch.Added, "live")
		if got := ev.Object.(*corev1.ConfigMap).ResourceVersion; got != created.ResourceVersion {
			t.Errorf("ADDED resourceVersion %s, want %s", got, created.ResourceVersion)
		}
		if _, err := c.Patch(ctx, existing, types.MergePatchType, []byte(`{"data":{"v":"1"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		ev = expectEvent(t, w, watch.Modified, existing)
		if ev.Object.(*corev1.ConfigMap).Data["v"] != "1" {
			t.Errorf("MODIFIED object does not carry the change: %v", ev.Object)
		}
		if err := c.Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ev = expectEvent(t, w, watch.Deleted, "live")
		if rv(t, ev.Object.(*corev1.ConfigMap)) <= rv(t, created) {
			t.Errorf("DELETED resourceVersion %s not after the create's %s", ev.Object.(*corev1.ConfigMap).ResourceVersion, created.ResourceVersion)
		}
	}

	for _, from := range []string{"", "0"} {
		t.Run(fmt.Sprintf("from %q", from), func(t *testing.T) {
			c := setup(t, "a", "b")
			w := newWatch(t, c, metav1.ListOptions{ResourceVersion: from})
			// Synthetic ADDED events for what exists, then live events.
			expectEvent(t, w, watch.Added, "a")
			expectEvent(t, w, watch.Added, "b")
			live(t, c, w, "a")
		})
	}

	t.Run("from exact resourceVersion", func(t *testing.T) {
		c := setup(t, "a", "b")
		ctx := testContext(t)
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(ctx, newConfigMap("c", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Patch(ctx, "a", types.MergePatchType, []byte(`{"data":{"v":"9"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w := newWatch(t, c, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		// Only what happened after the list, in order.
		expectEvent(t, w, watch.Added, "c")
		expectEvent(t, w, watch.Modified, "a")
		expectEvent(t, w, watch.Deleted, "b")
		live(t, c, w, "c")
	})

	t.Run("label selector", func(t *testing.T) {
		c := setup(t)
		ctx := testContext(t)
		if _, err := c.Create(ctx, newConfigMap("in", map[string]string{"app": "w"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w := newWatch(t, c, metav1.ListOptions{LabelSelector: "app=w"})
		expectEvent(t, w, watch.Added, "in")
		patch := func(name, body string) {
			t.Helper()
			if _, err := c.Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Create(ctx, newConfigMap("out", map[string]string{"app": "x"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		patch("out", `{"data":{"v":"1"}}`)                 // not selected: no event
		patch("in", `{"metadata":{"labels":{"app":"x"}}}`) // leaves the selector
		ev := expectEvent(t, w, watch.Deleted, "in")
		// As in Kubernetes: the last state that matched, at the revision
		// of the change.
		left, err := c.Get(ctx, "in", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.Object.(*corev1.ConfigMap); got.Labels["app"] != "w" || got.ResourceVersion != left.ResourceVersion {
			t.Errorf("DELETED on leaving the selector: labels %v rv %s, want app=w at rv %s", got.Labels, got.ResourceVersion, left.ResourceVersion)
		}
		patch("out", `{"metadata":{"labels":{"app":"w"}}}`) // enters the selector
		expectEvent(t, w, watch.Added, "out")
		patch("out", `{"data":{"v":"2"}}`)
		expectEvent(t, w, watch.Modified, "out")
		if err := c.Delete(ctx, "in", metav1.DeleteOptions{}); err != nil { // not selected any more
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "out", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w, watch.Deleted, "out")
	})

	t.Run("field selector", func(t *testing.T) {
		c := setup(t, "a", "b")
		w := newWatch(t, c, metav1.ListOptions{FieldSelector: "metadata.name=b"})
		expectEvent(t, w, watch.Added, "b")
		ctx := testContext(t)
		if _, err := c.Patch(ctx, "a", types.MergePatchType, []byte(`{"data":{"v":"1"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Patch(ctx, "b", types.MergePatchType, []byte(`{"data":{"v":"1"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w, watch.Modified, "b")
	})

	t.Run("timeoutSeconds", func(t *testing.T) {
		c := setup(t)
		start := time.Now()
		w := newWatch(t, c, metav1.ListOptions{TimeoutSeconds: ptrTo[int64](1)})
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if ok {
					t.Fatalf("unexpected event %s %s", ev.Type, describe(ev.Object))
				}
				if d := time.Since(start); d < 900*time.Millisecond {
					t.Errorf("watch closed after %v, before its 1s timeout", d)
				}
				return
			case <-deadline:
				t.Fatal("watch with timeoutSeconds=1 still open after 10s")
			}
		}
	})

	t.Run("bookmarks", func(t *testing.T) {
		// etcd only sends progress notifications once the store has
		// reached the watch's start revision, so make sure the server's
		// etcd watch of configmaps began before the last write. Nothing
		// is written once the bookmark watch starts: a quiet cluster
		// still gets bookmarks.
		newWatch(t, s.Client.CoreV1().ConfigMaps(""), metav1.ListOptions{})
		c := setup(t, "a")
		list, err := c.List(testContext(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWatch(t, c, metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
		// The server sends bookmarks on etcd progress notifications,
		// every 5 seconds.
		ev := nextEvent(t, w, 15*time.Second)
		if ev.Type != watch.Bookmark {
			t.Fatalf("got %s %s, want a BOOKMARK", ev.Type, describe(ev.Object))
		}
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok {
			t.Fatalf("bookmark object %T, want *v1.ConfigMap", ev.Object)
		}
		if rv(t, cm) < rv(t, list) {
			t.Errorf("bookmark resourceVersion %s older than the list's %s", cm.ResourceVersion, list.ResourceVersion)
		}
		if cm.Name != "" || len(cm.Data) != 0 {
			t.Errorf("bookmark carries more than a resourceVersion: %+v", cm)
		}
	})

	for _, from := range []string{"", "list"} {
		t.Run("sendInitialEvents from "+from, func(t *testing.T) {
			c := setup(t, "a", "b", "c")
			ctx := testContext(t)
			start := ""
			if from == "list" {
				list, err := c.List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				start = list.ResourceVersion
				// A change after the list shows up in the initial state.
				if err := c.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			last, err := c.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w := newWatch(t, c, metav1.ListOptions{
				ResourceVersion:      start,
				SendInitialEvents:    ptrTo(true),
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
				AllowWatchBookmarks:  true,
			})
			for _, it := range last.Items {
				expectEvent(t, w, watch.Added, it.Name)
			}
			ev := nextEvent(t, w, 10*time.Second)
			if ev.Type != watch.Bookmark {
				t.Fatalf("after the initial events: %s %s, want a BOOKMARK", ev.Type, describe(ev.Object))
			}
			bm := ev.Object.(*corev1.ConfigMap)
			if bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				t.Errorf("bookmark annotations %v, want %s=true", bm.Annotations, metav1.InitialEventsAnnotationKey)
			}
			if rv(t, bm) < rv(t, last) {
				t.Errorf("initial-events-end bookmark at %s, before the list at %s", bm.ResourceVersion, last.ResourceVersion)
			}
			live(t, c, w, "a")
		})
	}

	t.Run("invalid", func(t *testing.T) {
		c := setup(t)
		ctx := testContext(t)
		cases := []metav1.ListOptions{
			// sendInitialEvents needs NotOlderThan and bookmarks.
			{SendInitialEvents: ptrTo(true), AllowWatchBookmarks: true},
			{SendInitialEvents: ptrTo(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
			{LabelSelector: "a in (b"},
			{FieldSelector: "data.v=1"},
		}
		for _, opts := range cases {
			w, err := c.Watch(ctx, opts)
			if err == nil {
				w.Stop()
				t.Errorf("watch %+v: no error", opts)
				continue
			}
			if !apierrors.IsBadRequest(err) && !apierrors.IsInvalid(err) {
				t.Errorf("watch %+v: %v, want 400 or 422", opts, err)
			}
		}
	})
}
