package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// crashLabel marks the ConfigMaps this test writes, so objects the control
// plane creates itself are left out of the checks.
const crashLabel = "e2e-crash"

// acked is one create the server acknowledged.
type acked struct {
	data map[string]string
	rv   int64
}

// TestCrashRestartKeepsAcknowledgedWrites kills the server with SIGKILL in
// the middle of a burst of creates, three times over, and checks after each
// restart that every acknowledged write survived intact, that nothing
// half-written is visible and that resource versions keep growing.
func TestCrashRestartKeepsAcknowledgedWrites(t *testing.T) {
	s := startServer(t, serverOptions{})
	all := map[string]acked{}
	var maxRV int64
	for cycle := range 3 {
		got := burstUntilKilled(t, s, cycle)
		if len(got) == 0 {
			t.Fatalf("cycle %d: no create was acknowledged before the kill", cycle)
		}
		for _, a := range got {
			maxRV = max(maxRV, a.rv)
		}
		maps.Copy(all, got)

		s = startServer(t, serverOptions{dataDir: s.dataDir, port: s.port})
		listRV := verifyAcknowledged(t, s.client, all)
		if listRV < maxRV {
			t.Errorf("cycle %d: list resourceVersion %d after restart is below %d acknowledged before the kill", cycle, listRV, maxRV)
		}

		// A new write after the restart gets a newer resourceVersion than
		// anything handed out before.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cm, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("after-restart-%d", cycle)},
		}, metav1.CreateOptions{})
		cancel()
		if err != nil {
			t.Fatalf("cycle %d: create after restart: %v", cycle, err)
		}
		rv := parseRV(t, cm.ResourceVersion)
		if rv <= maxRV {
			t.Errorf("cycle %d: resourceVersion %d after restart is not above %d seen before", cycle, rv, maxRV)
		}
		maxRV = max(maxRV, rv)
		t.Logf("cycle %d: %d creates acknowledged before SIGKILL, %d in total, all present after restart", cycle, len(got), len(all))
	}
	s.stop(t)
}

// burstUntilKilled runs 8 writers creating ConfigMaps as fast as they can,
// SIGKILLs the server after 1–2 s, and returns the creates it acknowledged.
func burstUntilKilled(t *testing.T, s *bosunProcess, cycle int) map[string]acked {
	t.Helper()
	var mu sync.Mutex
	got := map[string]acked{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("crash-%d-%d-%d", cycle, w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				cm, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{crashLabel: "true"}},
					Data:       crashData(name),
				}, metav1.CreateOptions{})
				cancel()
				if err != nil {
					return // the server is gone
				}
				rv, err := strconv.ParseInt(cm.ResourceVersion, 10, 64)
				if err != nil {
					t.Errorf("create %s: resourceVersion %q is not an integer", name, cm.ResourceVersion)
					return
				}
				mu.Lock()
				got[name] = acked{data: cm.Data, rv: rv}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second + rand.N(time.Second))
	s.kill()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("writers still running 30s after the server was killed")
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// crashData is a ConfigMap's content, derived from its name alone so that
// any object found later, acknowledged or not, can be checked for being
// whole.
func crashData(name string) map[string]string {
	return map[string]string{
		"name":    name,
		"payload": strings.Repeat(name+";", 64),
	}
}

// verifyAcknowledged lists the test's ConfigMaps and requires every
// acknowledged create to be there exactly as acknowledged, and every other
// one to be whole. It returns the list's resourceVersion.
func verifyAcknowledged(t *testing.T, c kubernetes.Interface, want map[string]acked) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The list decodes every stored object; one torn object fails it.
	list, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: crashLabel + "=true"})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	have := map[string]corev1.ConfigMap{}
	for _, cm := range list.Items {
		have[cm.Name] = cm
		if !maps.Equal(cm.Data, crashData(cm.Name)) {
			t.Errorf("%s: data is not what was written (%d keys)", cm.Name, len(cm.Data))
		}
	}
	missing := 0
	for name, a := range want {
		cm, ok := have[name]
		if !ok {
			if missing++; missing <= 10 {
				t.Errorf("acknowledged %s (resourceVersion %d) is gone after the restart", name, a.rv)
			}
			continue
		}
		if !maps.Equal(cm.Data, a.data) {
			t.Errorf("%s: data differs from the acknowledged create", name)
		}
		if cm.ResourceVersion != strconv.FormatInt(a.rv, 10) {
			t.Errorf("%s: resourceVersion %s, acknowledged as %d", name, cm.ResourceVersion, a.rv)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged creates are gone", missing, len(want))
	}
	return parseRV(t, list.ResourceVersion)
}

func parseRV(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not an integer: %v", rv, err)
	}
	return n
}
