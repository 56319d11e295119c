package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const kubectlPath = "/usr/bin/kubectl"

var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// TestQuickstartContract checks what the quickstart promises: files in the
// data dir, kubectl working at once, authentication, public health
// endpoints, serving-certificate names and key material reused on restart.
func TestQuickstartContract(t *testing.T) {
	dir := t.TempDir()
	extra := filepath.Join(t.TempDir(), "nested", "admin.yaml")
	s := startServer(t, serverOptions{dataDir: dir, args: []string{"--write-kubeconfig", extra}})

	t.Run("files", func(t *testing.T) {
		requireMode(t, filepath.Join(dir, "kubeconfig.yaml"), 0o600)
		requireMode(t, filepath.Join(dir, "token"), 0o600)
		requireMode(t, extra, 0o600)
		if tok := strings.TrimSpace(readFile(t, filepath.Join(dir, "token"))); tok == "" {
			t.Error("token is empty")
		}
		for _, f := range []string{"ca.crt", "ca.key", "serving.crt", "serving.key", "admin.crt", "admin.key"} {
			if st, err := os.Stat(filepath.Join(dir, "tls", f)); err != nil || st.Size() == 0 {
				t.Errorf("tls/%s: missing or empty (%v)", f, err)
			}
		}
		for _, key := range []string{"ca.key", "serving.key", "admin.key"} {
			requireMode(t, filepath.Join(dir, "tls", key), 0o600)
		}
		// The copy is a working kubeconfig in its own right.
		listNamespaces(t, clientFromKubeconfig(t, extra))
	})

	t.Run("kubectl", func(t *testing.T) {
		out := kubectl(t, s.kubeconfig, "get", "ns")
		for _, ns := range systemNamespaces {
			if !hasLineStartingWith(out, ns+" ") {
				t.Errorf("kubectl get ns: no row for %s:\n%s", ns, out)
			}
		}
	})

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(dir, "tls", "ca.crt")))) {
		t.Fatal("tls/ca.crt holds no certificate")
	}
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer anon.CloseIdleConnections()

	t.Run("unauthenticated", func(t *testing.T) {
		code, body, err := get(anon, s.url+"/api/v1/namespaces")
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/namespaces without a client certificate: %d %s, want 401", code, body)
		}
		var st metav1.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("401 body is not an Unauthorized Status (%v): %s", err, body)
		}
		for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
			code, body, err := get(anon, s.url+path)
			if err != nil {
				t.Errorf("GET %s: %v", path, err)
			} else if code != http.StatusOK {
				t.Errorf("GET %s without a client certificate: %d %s, want 200", path, code, body)
			}
		}
	})

	t.Run("serving certificate", func(t *testing.T) {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS handshake verifying 127.0.0.1 against tls/ca.crt: %v", err)
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		for _, name := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
			if err := leaf.VerifyHostname(name); err != nil {
				t.Errorf("serving certificate does not cover %s: %v (DNS %v, IPs %v)", name, err, leaf.DNSNames, leaf.IPAddresses)
			}
		}
	})

	// Restart on the same directory: same CA, same token, and a client
	// holding the old kubeconfig keeps working.
	caBefore := readFile(t, filepath.Join(dir, "tls", "ca.crt"))
	tokenBefore := readFile(t, filepath.Join(dir, "token"))
	oldKubeconfig := filepath.Join(t.TempDir(), "old-kubeconfig.yaml")
	if err := os.WriteFile(oldKubeconfig, []byte(readFile(t, s.kubeconfig)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.stop(t)

	s2 := startServer(t, serverOptions{dataDir: dir, port: s.port})
	if got := readFile(t, filepath.Join(dir, "tls", "ca.crt")); got != caBefore {
		t.Error("tls/ca.crt changed on restart")
	}
	if got := readFile(t, filepath.Join(dir, "token")); got != tokenBefore {
		t.Error("token changed on restart")
	}
	listNamespaces(t, clientFromKubeconfig(t, oldKubeconfig))
	t.Run("old kubeconfig with kubectl", func(t *testing.T) {
		kubectl(t, oldKubeconfig, "get", "ns", "default")
	})
	s2.stop(t)
}

// listNamespaces requires the system namespaces to be listed.
func listNamespaces(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	have := map[string]bool{}
	for _, ns := range list.Items {
		have[ns.Name] = true
	}
	for _, ns := range systemNamespaces {
		if !have[ns] {
			t.Errorf("namespace %s missing; have %v", ns, have)
		}
	}
}

func clientFromKubeconfig(t *testing.T, path string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

// kubectl runs the real client with its cache in a temporary directory
// and returns its stdout; a failure ends the test.
func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("%s not installed", kubectlPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append([]string{"--kubeconfig", kubeconfig, "--cache-dir", t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, kubectlPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasLineStartingWith(out, prefix string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}
