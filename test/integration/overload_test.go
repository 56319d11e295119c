package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestOverload floods the server with requests from a user outside
// system:masters, over many connections, and checks that the server
// sheds what exceeds its in-flight bound with 429 and Retry-After while
// /readyz and an administrator's kubectl keep answering within 2 s.
func TestOverload(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Configure: func(c *server.Config) {
		c.MaxRequestsInflight = 20
		c.MaxMutatingRequestsInflight = 10
	}})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	// Lists of these make each flooding request take a while.
	for i := range 200 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"k": string(make([]byte, 2000))}}
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// A user of the cluster CA outside system:masters, allowed to read
	// the namespace's config maps.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}
	if _, err := s.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "flood-reads"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "flood"}}}
	if _, err := s.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bundle, err := pki.Ensure(filepath.Join(s.DataDir, "tls"), pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := bundle.IssueClient("flood", []string{"team"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "flood.crt"), filepath.Join(dir, "flood.key"), filepath.Join(dir, "ca.crt")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, caFile: bundle.CAPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CAPEM)
	url := s.Config.Host + "/api/v1/namespaces/" + ns + "/configmaps"

	// The flood comes from another process, as it would in life: in this
	// one its goroutines would queue in front of the server's own.
	floodCtx, stopFlood := context.WithTimeout(ctx, time.Minute)
	defer stopFlood()
	flood := exec.CommandContext(floodCtx, os.Args[0], "-test.run=^TestFloodProcess$")
	flood.Env = append(os.Environ(), "BOSUN_FLOOD_URL="+url, "BOSUN_FLOOD_CERT="+certFile, "BOSUN_FLOOD_KEY="+keyFile, "BOSUN_FLOOD_CA="+caFile)
	floodOut := &syncBuffer{}
	flood.Stdout, flood.Stderr = floodOut, floodOut
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "the flood to start", func() (bool, error) {
		return strings.Contains(floodOut.String(), "flooding"), nil
	})

	// While it floods: health and the administrator answer promptly.
	admin := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer admin.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	for i := range 3 {
		start := time.Now()
		resp, err := admin.Get(s.Config.Host + "/readyz")
		if err != nil {
			t.Errorf("/readyz during the flood (%d): %v", i, err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/readyz during the flood: %d", resp.StatusCode)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("/readyz took %s during the flood", d)
		}
		start = time.Now()
		r := k.runWith(t, "", nil, "get", "ns", "--request-timeout=2s")
		if r.code != 0 {
			t.Errorf("kubectl get ns during the flood: exit %d: %s", r.code, r.stderr)
		}
		if d := time.Since(start); d > 4*time.Second { // 2 s for the request, the rest kubectl's own start
			t.Errorf("kubectl get ns took %s during the flood", d)
		}
	}
	if err := flood.Wait(); err != nil {
		t.Fatalf("flood process: %v\n%s", err, floodOut.String())
	}
	var ok200, shed, other int64
	var retryAfter string
	if _, err := fmt.Sscanf(lastLine(floodOut.String(), "flood:"), "flood: %d answered, %d shed, %d other, retry-after %q", &ok200, &shed, &other, &retryAfter); err != nil {
		t.Fatalf("flood process output: %v\n%s", err, floodOut.String())
	}
	t.Logf("flood: %d answered, %d shed with 429, %d other", ok200, shed, other)
	if shed == 0 {
		t.Errorf("no request was shed with 429 (answered %d)", ok200)
	}
	if ok200 == 0 {
		t.Errorf("the flood got no answer at all (%d shed)", shed)
	}
	if other > 0 {
		t.Errorf("%d flooding requests failed otherwise than with 429", other)
	}
	if retryAfter != "1" {
		t.Errorf("429 carried Retry-After %q, want 1", retryAfter)
	}

	// Afterwards the same user is served normally.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx2, http.MethodGet, url+"?limit=1", nil)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the flood: %d", resp.StatusCode)
	}
}

// TestFloodProcess is TestOverload's flood, run in a child process: 300
// workers over their own connections, 3,000 requests at most.
func TestFloodProcess(t *testing.T) {
	url := os.Getenv("BOSUN_FLOOD_URL")
	if url == "" {
		t.Skip("only run by TestOverload")
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("BOSUN_FLOOD_CERT"), os.Getenv("BOSUN_FLOOD_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(os.Getenv("BOSUN_FLOOD_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	flood := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		// HTTP/1.1 and a connection per request in flight: the flood is
		// not throttled by HTTP/2's stream limit on one connection.
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 500,
	}}
	defer flood.CloseIdleConnections()
	fmt.Println("flooding")
	const workers, perWorker = 300, 10
	var ok200, shed, other atomic.Int64
	var retryAfter atomic.Value
	retryAfter.Store("")
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				resp, err := flood.Get(url)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok200.Add(1)
				case http.StatusTooManyRequests:
					shed.Add(1)
					retryAfter.Store(resp.Header.Get("Retry-After"))
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("flood: %d answered, %d shed, %d other, retry-after %q\n", ok200.Load(), shed.Load(), other.Load(), retryAfter.Load().(string))
}

// lastLine returns the last line of out starting with prefix.
func lastLine(out, prefix string) string {
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			last = l
		}
	}
	return last
}
