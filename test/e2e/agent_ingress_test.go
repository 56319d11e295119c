package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ingressManifest: two Deployments behind Services, a Service with no
// pod, and Ingresses of the default class routing hosts and paths to them,
// one over TLS.
const ingressManifest = `
apiVersion: v1
kind: Namespace
metadata: {name: ing}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ing}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: server
        image: bosun.test/testserver:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ing}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: ing}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: bosun.test/testserver:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: ing}
spec:
  selector: {app: api}
  ports: [{name: web, port: 8000, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: ing}
spec:
  selector: {app: nothing}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: ing}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 8000}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: api, port: {name: web}}}}
  - host: "*.apps.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 8000}}}}
  - host: down.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: ing}
spec:
  ingressClassName: bosun
  tls: [{hosts: [secure.example.com], secretName: secure-tls}]
  rules:
  - host: secure.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: elsewhere, namespace: ing}
spec:
  ingressClassName: other
  rules:
  - host: other.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// TestAgentIngress: the node's Ingress controller routes hosts and paths
// of default-class Ingresses to ready pods over HTTP, HTTPS with SNI and
// HTTP/2, and WebSockets; answers 404 for unknown hosts and 503 when a
// backend has no ready pod; publishes the node's address in the Ingress
// status; and a rolling update behind it under a steady request loop
// loses no request.
func TestAgentIngress(t *testing.T) {
	ports := freePorts(t, 2)
	httpPort, httpsPort := ports[0], ports[1]
	n := startNode(t, nodeOptions{args: []string{
		"--ingress-http-port", strconv.Itoa(httpPort), "--ingress-https-port", strconv.Itoa(httpsPort),
	}})
	client := n.server.client
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	caPool, certPEM, keyPEM := ingressTestCert(t, "secure.example.com")
	n.apply(t, ingressManifest)
	if _, err := client.CoreV1().Secrets("ing").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-tls", Namespace: "ing"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	webPods := readyPodNames(t, n, "ing", "app=web", 2)
	apiPods := readyPodNames(t, n, "ing", "app=api", 1)

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	fetch := func(host, path string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), err
	}

	// Routes by host and path, to every ready replica.
	seen := map[string]bool{}
	if err := eventually(time.Minute, 100*time.Millisecond, func() error {
		code, body, err := fetch("shop.example.com", "/hostname")
		if err != nil || code != 200 {
			return fmt.Errorf("shop.example.com/hostname: %d %q %v", code, body, err)
		}
		seen[body] = true
		if len(seen) < 2 {
			return fmt.Errorf("answered by %v so far", seen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range webPods {
		if !seen[p] {
			t.Errorf("web replica %s never answered through the Ingress (answers %v)", p, seen)
		}
	}
	cases := []struct {
		host, path string
		code       int
		from       []string // pods one of which must answer; nil: any body
	}{
		{"shop.example.com", "/api/hostname", 200, apiPods},
		{"SHOP.example.com:80", "/api/hostname", 200, apiPods},
		{"shop.example.com", "/apis/hostname", 200, webPods}, // prefixes match whole path elements
		{"shop.example.com", "/exact", 200, nil},
		{"x.apps.example.com", "/hostname", 200, apiPods},
		{"a.b.apps.example.com", "/hostname", 404, nil}, // a wildcard covers one label
		{"unknown.example.com", "/", 404, nil},
		{"other.example.com", "/", 404, nil}, // another IngressClass
		{"down.example.com", "/", 503, nil},
	}
	for _, c := range cases {
		code, body, err := fetch(c.host, c.path)
		if err != nil {
			t.Errorf("GET %s%s: %v", c.host, c.path, err)
			continue
		}
		if code != c.code {
			t.Errorf("GET %s%s: %d %q, want %d", c.host, c.path, code, body, c.code)
			continue
		}
		if c.from != nil && !slices.Contains(c.from, answeredBy(body)) {
			t.Errorf("GET %s%s answered by %q, want one of %v", c.host, c.path, body, c.from)
		}
	}

	// The kubectl shortcuts: expose a Deployment, route a host to it.
	n.k(t, "-n", "ing", "expose", "deployment/api", "--name", "api-exposed", "--port", "9000", "--target-port", "8080")
	n.k(t, "-n", "ing", "create", "ingress", "quick", "--rule", "quick.example.com/*=api-exposed:9000")
	if err := eventually(30*time.Second, 200*time.Millisecond, func() error {
		code, body, err := fetch("quick.example.com", "/hostname")
		if err != nil || code != 200 || !slices.Contains(apiPods, body) {
			return fmt.Errorf("quick.example.com/hostname: %d %q %v, want one of %v", code, body, err, apiPods)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// What the backend sees: the original Host and the client in the
	// X-Forwarded headers.
	_, echo, err := fetch("shop.example.com", "/echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"host: shop.example.com", "header: X-Forwarded-For: 127.0.0.1", "header: X-Forwarded-Proto: http", "header: X-Forwarded-Host: shop.example.com"} {
		if !hasLine(echo, want) {
			t.Errorf("the backend did not see %q:\n%s", want, echo)
		}
	}

	// TLS by SNI with the Secret's certificate, over HTTP/2.
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: caPool, ServerName: "secure.example.com"},
		ForceAttemptHTTP2: true,
	}}
	defer tlsClient.CloseIdleConnections()
	if err := eventually(30*time.Second, 200*time.Millisecond, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/echo", httpsPort), nil)
		if err != nil {
			return err
		}
		req.Host = "secure.example.com"
		resp, err := tlsClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			return fmt.Errorf("https secure.example.com: %s %s %q", resp.Proto, resp.Status, b)
		}
		if !hasLine(string(b), "header: X-Forwarded-Proto: https") {
			return fmt.Errorf("the backend did not see X-Forwarded-Proto https:\n%s", b)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// WebSockets pass through.
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := dialer.DialContext(ctx, fmt.Sprintf("ws://127.0.0.1:%d/ws", httpPort), http.Header{"Host": {"shop.example.com"}})
	if err != nil {
		t.Errorf("WebSocket through the Ingress: %v (%v)", err, resp)
	} else {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
			t.Error(err)
		}
		_, msg, err := ws.ReadMessage()
		if err != nil || !strings.HasSuffix(string(msg), ": hello") || !slices.Contains(webPods, strings.TrimSuffix(string(msg), ": hello")) {
			t.Errorf("WebSocket echo: %q %v, want one of %v then \": hello\"", msg, err, webPods)
		}
		ws.Close()
	}

	// The Ingress shows the node's address, as kubectl prints it.
	if err := eventually(30*time.Second, 500*time.Millisecond, func() error {
		out := n.k(t, "-n", "ing", "get", "ingress", "shop", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		if net.ParseIP(strings.Fields(out + " x")[0]) == nil {
			return fmt.Errorf("ingress status addresses %q", out)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// A rolling update under a steady request loop: every request is
	// answered 200. The loop is bounded in time and count.
	var (
		sent, failed atomic.Int64
		failures     []string
		mu           sync.Mutex
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Load() < 20000 {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				sent.Add(1)
				code, body, err := fetch("shop.example.com", "/hostname")
				if err != nil || code != 200 {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	n.k(t, "-n", "ing", "set", "env", "deployment/web", "ROLLOUT=2")
	n.k(t, "-n", "ing", "rollout", "status", "deployment/web", "--timeout=3m")
	// Let the old pods finish terminating under load.
	n.waitPodsGone(t, "ing", "app=web", webPods, 2*time.Minute)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("rolling update behind the Ingress: %d requests, %d failed", sent.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the rolling update: %v", failed.Load(), sent.Load(), failures)
	}
	if sent.Load() < 100 {
		t.Errorf("only %d requests were sent during the rollout", sent.Load())
	}
}

// answeredBy is the pod that answered a test-server request: the body of
// /hostname, or the hostname line of an echo (any other path).
func answeredBy(body string) string {
	for _, l := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(l, "hostname: "); ok {
			return name
		}
	}
	return body
}

// readyPodNames waits for count ready pods matching selector and returns
// their names.
func readyPodNames(t *testing.T, n *node, ns, selector string, count int) []string {
	t.Helper()
	var names []string
	if err := eventually(2*time.Minute, 500*time.Millisecond, func() error {
		l, err := n.server.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		names = names[:0]
		for _, p := range l.Items {
			if err := podReady(&p); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			names = append(names, p.Name)
		}
		if len(names) != count {
			return fmt.Errorf("%d ready pods for %s, want %d", len(names), selector, count)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// waitPodsGone waits until none of the named pods matching selector exist.
func (n *node) waitPodsGone(t *testing.T, ns, selector string, names []string, timeout time.Duration) {
	t.Helper()
	if err := eventually(timeout, 500*time.Millisecond, func() error {
		l, err := n.server.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if slices.Contains(names, p.Name) {
				return fmt.Errorf("pod %s still there", p.Name)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// ingressTestCert returns a pool trusting a new self-signed certificate for
// host, and the certificate and its key in PEM.
func ingressTestCert(t *testing.T, host string) (*x509.CertPool, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
