package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestCompaction runs a server that compacts etcd every second, to the
// revision it saw one interval earlier.
func TestCompaction(t *testing.T) {
	t.Parallel() // it mostly waits for compactions
	s := testserver.Start(t, testserver.Options{CompactionInterval: time.Second})

	t.Run("expired", func(t *testing.T) {
		// NetworkPolicies, because nothing else watches them on this server: the
		// first watch of a resource starts at its own revision.
		ctx := testContext(t)
		ns := newNamespace(t, s)
		c := s.Client.NetworkingV1().NetworkPolicies(ns)
		old, err := c.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		oldRV := old.ResourceVersion
		if _, err := c.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "old2"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		page, err := c.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil || page.Continue == "" {
			t.Fatalf("first page: %v, continue %q", err, page.Continue)
		}
		// Keep writing until history up to and just after oldRV is gone.
		next := fmt.Sprint(rv(t, old) + 1)
		i := 0
		pollUntil(t, 20*time.Second, "revision "+next+" compacted", func() (bool, error) {
			i++
			if _, err := c.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%d", i)}}, metav1.CreateOptions{}); err != nil {
				return false, err
			}
			_, err := c.List(ctx, metav1.ListOptions{ResourceVersion: next, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				return true, nil
			}
			return false, err
		})
		_, err = c.List(ctx, metav1.ListOptions{ResourceVersion: oldRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Errorf("list at compacted revision %s: %v, want 410", oldRV, err)
		}
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			if code := err.(apierrors.APIStatus).Status().Code; code != http.StatusGone {
				t.Errorf("list at compacted revision: code %d, want 410", code)
			}
		}
		// So is a continue token from before the compaction.
		if _, err := c.List(ctx, metav1.ListOptions{Limit: 1, Continue: page.Continue}); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Errorf("list with a compacted continue token: %v, want 410", err)
		}

		w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
		if err != nil {
			t.Fatalf("watch from %s: %v (want the error as an event)", oldRV, err)
		}
		defer w.Stop()
		ev := nextEvent(t, w, 10*time.Second)
		if ev.Type != watch.Error {
			t.Fatalf("watch from compacted %s: %s %s, want ERROR", oldRV, ev.Type, describe(ev.Object))
		}
		st, ok := ev.Object.(*metav1.Status)
		if !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("watch ERROR object %s, want a 410 Expired Status", describe(ev.Object))
		}
		if err := apierrors.FromObject(ev.Object); !apierrors.IsResourceExpired(err) {
			t.Errorf("ERROR event as error: %v, want IsResourceExpired", err)
		}
		select {
		case _, open := <-w.ResultChan():
			if open {
				t.Error("watch went on after the ERROR event")
			}
		case <-time.After(5 * time.Second):
			t.Error("watch not closed after the ERROR event")
		}
		// A watch from the current revision still works.
		cur, err := c.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w2, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: cur.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Stop()
		if _, err := c.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w2, watch.Added, "new")
	})

	t.Run("informer", func(t *testing.T) {
		testInformerConverges(t, s)
	})
}

// testInformerConverges runs a ConfigMap informer while objects change and
// compaction runs, then cuts its connection until the revision it last saw
// is compacted, and checks it catches up each time.
func testInformerConverges(t *testing.T, s *testserver.Server) {
	ctx := testContext(t)
	ns := newNamespace(t, s)
	busy := newNamespace(t, s)
	c := s.Client.CoreV1().ConfigMaps(ns)

	dialer := newSwitchableDialer()
	spy := &watchSpy{}
	cfg := rest.CopyConfig(s.Config)
	cfg.Dial = dialer.dial
	cfg.Wrap(spy.wrap)
	client := kubernetes.NewForConfigOrDie(cfg)

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	stop := make(chan struct{})
	factory.Start(stop)
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync in 30s")
	}

	converged := func(what string) {
		t.Helper()
		pollUntil(t, 30*time.Second, what+": informer store equals the server's list", func() (bool, error) {
			list, err := c.List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			want := map[string]string{}
			for _, it := range list.Items {
				want[it.Name] = it.ResourceVersion
			}
			got := map[string]string{}
			for _, o := range inf.GetStore().List() {
				cm := o.(*corev1.ConfigMap)
				got[cm.Name] = cm.ResourceVersion
			}
			if !maps.Equal(got, want) {
				return false, fmt.Errorf("store %v, server %v", got, want)
			}
			return true, nil
		})
	}

	// Phase 1: concurrent writers for a few compaction intervals.
	var wg sync.WaitGroup
	var writes atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("w%d-%d", g, i%7)
				var err error
				switch i % 3 {
				case 0:
					_, err = c.Create(ctx, newConfigMap(name, nil), metav1.CreateOptions{})
				case 1:
					_, err = c.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.UpdateOptions{})
				case 2:
					if i%2 == 0 {
						err = c.Delete(ctx, name, metav1.DeleteOptions{})
					}
				}
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsAlreadyExists(err) {
					t.Errorf("writer %d: %v", g, err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	wg.Wait()
	if writes.Load() < 30 {
		t.Fatalf("only %d writes in 3s", writes.Load())
	}
	converged("after concurrent writes")
	if spy.watchLists.Load() == 0 {
		t.Errorf("the informer never opened a watch-list stream (sendInitialEvents=true); requests: %v", spy.seen())
	}

	// Phase 2: cut the informer off, change what it watches, and move
	// both etcd's compaction and the server's shared watch history past
	// the revision the informer last saw.
	dialer.cut()
	if _, err := c.Create(ctx, newConfigMap("while-cut", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "w0-0", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps(busy).Create(ctx, newConfigMap("churn", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// More changes than the server keeps in its shared watch history
	// (1024 events per resource), so the re-watch must go to etcd.
	churn(t, s.Client.CoreV1().ConfigMaps(busy), 1100)
	// Whatever the informer read before the cut is processed by now.
	seenRV := inf.LastSyncResourceVersion()
	next := fmt.Sprint(mustParseRV(t, seenRV) + 1)
	pollUntil(t, 20*time.Second, "revision "+next+" compacted", func() (bool, error) {
		_, err := s.Client.CoreV1().ConfigMaps(busy).Patch(ctx, "churn", types.MergePatchType, []byte(`{"data":{"tick":"`+time.Now().String()+`"}}`), metav1.PatchOptions{})
		if err != nil {
			return false, err
		}
		_, err = c.List(ctx, metav1.ListOptions{ResourceVersion: next, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), nil
	})
	if inf.LastSyncResourceVersion() != seenRV {
		t.Fatalf("informer moved from %s to %s while cut off", seenRV, inf.LastSyncResourceVersion())
	}
	if _, ok, _ := inf.GetStore().GetByKey(ns + "/while-cut"); ok {
		t.Fatal("informer saw a change made while it was cut off")
	}
	dialer.restore()
	converged("after reconnecting past a compaction")
	if spy.expired.Load() == 0 {
		t.Errorf("the informer's re-watch from %s never got a 410 Expired; requests: %v", seenRV, spy.seen())
	}

	// Phase 3: it keeps following live changes.
	if _, err := c.Create(ctx, newConfigMap("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	converged("after a live change")
}

// churn creates n objects from 8 goroutines.
func churn(t *testing.T, c typedcorev1.ConfigMapInterface, n int) {
	t.Helper()
	ctx := testContext(t)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if _, err := c.Create(ctx, newConfigMap(fmt.Sprintf("churn-%04d", i), nil), metav1.CreateOptions{}); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("churn: %v", err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
}

func mustParseRV(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		t.Fatalf("resourceVersion %q", s)
	}
	return n
}

// switchableDialer dials TCP until cut: then it closes every connection
// it made and holds new dials until restored, so the client reconnects at
// once, without a growing back-off.
type switchableDialer struct {
	mu    sync.Mutex
	up    chan struct{} // closed while connections are allowed
	conns []net.Conn
}

func newSwitchableDialer() *switchableDialer {
	up := make(chan struct{})
	close(up)
	return &switchableDialer{up: up}
}

func (d *switchableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	up := d.up
	d.mu.Unlock()
	select {
	case <-up:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, conn)
	return conn, nil
}

func (d *switchableDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.up = make(chan struct{})
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func (d *switchableDialer) restore() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.up)
}

// watchSpy records the watch requests a client makes and whether a watch
// stream carried a 410 Expired.
type watchSpy struct {
	watchLists atomic.Int64
	expired    atomic.Int64
	mu         sync.Mutex
	requests   []string
}

func (s *watchSpy) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *watchSpy) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		q := req.URL.Query()
		status := "error"
		if err == nil {
			status = resp.Status
		}
		s.mu.Lock()
		if len(s.requests) < 200 {
			s.requests = append(s.requests, req.Method+" "+req.URL.RequestURI()+" -> "+status)
		}
		s.mu.Unlock()
		if err != nil || q.Get("watch") != "true" {
			return resp, err
		}
		if q.Get("sendInitialEvents") == "true" && resp.StatusCode == http.StatusOK {
			s.watchLists.Add(1)
		}
		resp.Body = &expiredScanner{ReadCloser: resp.Body, found: &s.expired}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// expiredScanner counts 410 Expired errors in a watch stream, JSON or
// protobuf, by the message every such Status carries.
type expiredScanner struct {
	io.ReadCloser
	tail  []byte
	found *atomic.Int64
}

var expiredMarker = []byte("too old resource version")

func (e *expiredScanner) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	buf := append(e.tail, p[:n]...)
	if bytes.Contains(buf, expiredMarker) {
		e.found.Add(1)
		buf = nil
	}
	if len(buf) > len(expiredMarker) {
		buf = buf[len(buf)-len(expiredMarker):]
	}
	e.tail = append([]byte(nil), buf...)
	return n, err
}
