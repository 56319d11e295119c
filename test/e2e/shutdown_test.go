package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

const (
	bulkNamespace = "bulk"
	bulkCount     = 2000
	bulkSize      = 10 << 10
)

// TestGracefulShutdown sends SIGTERM while a watch is open and a large LIST
// is being transferred: the list completes, the watch ends cleanly and the
// process exits with code 0 within 30 s.
func TestGracefulShutdown(t *testing.T) {
	s := startServer(t, serverOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bulkNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	createBulk(t, s)
	t.Logf("created %d ConfigMaps of %d KiB in %v", bulkCount, bulkSize>>10, time.Since(began).Round(time.Millisecond))

	// Open a watch and prove it is established before shutting down.
	w, err := s.client.CoreV1().ConfigMaps(bulkNamespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	probe, err := s.client.CoreV1().ConfigMaps(bulkNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, w.ResultChan(), watch.Added, probe.Name, 30*time.Second)

	// Start the LIST and signal once its first bytes have arrived: the
	// server has accepted it and is still sending ~20 MiB when SIGTERM lands.
	hc, err := rest.HTTPClientFor(s.config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.config.Host+"/api/v1/namespaces/"+bulkNamespace+"/configmaps", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: status %d", resp.StatusCode)
	}
	body := bufio.NewReaderSize(resp.Body, 4<<10)
	if _, err := body.Peek(1); err != nil {
		t.Fatalf("list: first byte: %v", err)
	}
	signalled := time.Now()
	if err := s.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		checkBulkList(t, body)
	}()
	go func() {
		defer wg.Done()
		awaitClose(t, w.ResultChan(), 30*time.Second)
	}()
	if err := s.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
	wg.Wait()
	t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
}

// createBulk creates bulkCount ConfigMaps of bulkSize bytes with 8 writers.
func createBulk(t *testing.T, s *bosunProcess) {
	t.Helper()
	blob := strings.Repeat("x", bulkSize)
	names := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := s.client.CoreV1().ConfigMaps(bulkNamespace).Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bulk-%04d", i)},
					Data:       map[string]string{"blob": blob},
				}, metav1.CreateOptions{})
				cancel()
				if err != nil {
					t.Errorf("create bulk-%04d: %v", i, err)
				}
			}
		}()
	}
	for i := range bulkCount {
		names <- i
	}
	close(names)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// checkBulkList reads the rest of the LIST response and requires all of it.
func checkBulkList(t *testing.T, body io.Reader) {
	data, err := io.ReadAll(body)
	if err != nil {
		t.Errorf("list interrupted by shutdown after %d bytes: %v", len(data), err)
		return
	}
	var list corev1.ConfigMapList
	if err := json.Unmarshal(data, &list); err != nil {
		t.Errorf("list body (%d bytes) does not decode: %v", len(data), err)
		return
	}
	n := 0
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "bulk-") {
			n++
			if len(cm.Data["blob"]) != bulkSize {
				t.Errorf("%s: blob of %d bytes, want %d", cm.Name, len(cm.Data["blob"]), bulkSize)
			}
		}
	}
	if n != bulkCount {
		t.Errorf("list during shutdown returned %d bulk ConfigMaps, want %d", n, bulkCount)
	}
}

// awaitEvent waits for an event of type typ about the named object.
func awaitEvent(t *testing.T, ch <-chan watch.Event, typ watch.EventType, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed while waiting for %s %s", typ, name)
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch error while waiting for %s %s: %v", typ, name, ev.Object)
			}
			if m, err := meta.Accessor(ev.Object); err == nil && ev.Type == typ && m.GetName() == name {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within %v", typ, name, timeout)
		}
	}
}

// awaitClose requires the watch to end without an error event.
func awaitClose(t *testing.T, ch <-chan watch.Event, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				t.Errorf("watch ended with an error event: %v", ev.Object)
			}
		case <-deadline:
			t.Errorf("watch still open %v after SIGTERM", timeout)
			return
		}
	}
}
