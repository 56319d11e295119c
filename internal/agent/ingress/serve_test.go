package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// echoReply is what the test backends answer: who they are and what
// request reached them.
type echoReply struct {
	Backend string
	Host    string
	Path    string
	Body    string
	Header  http.Header
}

func echoBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	upgrader := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, append([]byte(name+": "), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "slow answer from %s", name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(echoReply{Backend: name, Host: r.Host, Path: r.URL.Path, Body: string(body), Header: r.Header})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// sliceFor makes an EndpointSlice of service svc pointing at a test
// server's address.
func sliceFor(t *testing.T, svc, url string) *discoveryv1.EndpointSlice {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return testSlice(svc, p, host)
}

// testCert makes a CA and a certificate it signed for names, returning
// the CA pool and a kubernetes.io/tls Secret holding the pair.
func testCert(t *testing.T, secretName string, names ...string) (*x509.CertPool, *corev1.Secret) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: secretName},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
}

// refusedAddr is an address where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type running struct {
	client    *fake.Clientset
	httpURL   string
	httpsAddr string
	stop      func() error
}

// start runs the controller on 127.0.0.1 ports against a fake clientset
// holding objs, and waits until its watches are established.
func start(t *testing.T, cfg Config, objs ...runtime.Object) *running {
	t.Helper()
	client := fake.NewClientset(objs...)
	started := make(chan string, 16)
	client.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		started <- a.GetResource().Resource
		return false, nil, nil
	})
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, client, cfg, httpLn, httpsLn) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				result = errors.New("serve did not return after its context ended")
			}
		})
		return result
	}
	t.Cleanup(func() { stop() })
	want := map[string]bool{"ingresses": true, "ingressclasses": true, "services": true, "endpointslices": true, "secrets": true}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case r := <-started:
			delete(want, r)
		case <-timeout:
			t.Fatalf("watches not started: %v", want)
		}
	}
	return &running{client: client, httpURL: "http://" + httpLn.Addr().String(), httpsAddr: httpsLn.Addr().String(), stop: stop}
}

// get sends a request with Host host through the controller's HTTP port.
func (r *running) get(t *testing.T, method, host, path, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.httpURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually retries check until it passes or 5 s are up, for changes
// that reach the table through watches and the settle delay.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	web := echoBackend(t, "web")
	api := echoBackend(t, "api")
	other := echoBackend(t, "other")
	pool, secureSecret := testCert(t, "secure-tls", "secure.test")
	wildPool, wildSecret := testCert(t, "wild-tls", "*.wild.test")
	badSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("not a cert"), corev1.TLSPrivateKeyKey: []byte("nor a key")},
	}
	bosun := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{
		Name: "bosun", Annotations: map[string]string{defaultClassAnnotation: "true"},
	}}
	main := testIngress("main", 0,
		path{host: "web.test", path: "/", typ: &prefix, svc: "web"},
		path{host: "web.test", path: "/api", typ: &prefix, svc: "api"},
		path{host: "down.test", path: "/", typ: &prefix, svc: "down"},
		path{host: "gone.test", path: "/", typ: &prefix, svc: "missing"},
		path{host: "retry.test", path: "/", typ: &prefix, svc: "flaky"},
		path{host: "secure.test", path: "/", typ: &prefix, svc: "web"},
		path{host: "*.wild.test", path: "/", typ: &prefix, svc: "api"},
	)
	main.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"secure.test"}, SecretName: "secure-tls"},
		{Hosts: []string{"*.wild.test"}, SecretName: "wild-tls"},
		{Hosts: []string{"bad.test"}, SecretName: "bad-tls"},
	}
	main.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.20"}}
	otherClass := testIngress("foreign", 0, path{host: "foreign.test", path: "/", typ: &prefix, svc: "other"})
	nginx := "nginx"
	otherClass.Spec.IngressClassName = &nginx

	flakySlice := sliceFor(t, "flaky", "http://"+refusedAddr(t))
	flakySlice2 := sliceFor(t, "flaky", other.URL)
	objs := []runtime.Object{
		bosun, main, otherClass,
		testService("web"), testService("api"), testService("down"), testService("flaky"), testService("other"),
		sliceFor(t, "web", web.URL), sliceFor(t, "api", api.URL), sliceFor(t, "other", other.URL),
		flakySlice, flakySlice2,
		secureSecret, wildSecret, badSecret,
	}
	r := start(t, Config{Class: "bosun", StatusAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}, objs...)

	eventually(t, "first table", func() error {
		if code, body := r.get(t, "GET", "web.test", "/", "", nil); code != 200 {
			return fmt.Errorf("got %d %s", code, body)
		}
		return nil
	})

	t.Run("routing", func(t *testing.T) {
		cases := []struct {
			method, host, path string
			code               int
			want               string
		}{
			{"GET", "web.test", "/", 200, `"Backend":"web"`},
			{"GET", "WEB.test:8080", "/api/v1", 200, `"Backend":"api"`},
			{"GET", "web.test", "/apix", 200, `"Backend":"web"`},
			{"GET", "x.wild.test", "/", 200, `"Backend":"api"`},
			{"POST", "web.test", "/post", 200, `"Body":"payload"`},
			{"GET", "unknown.test", "/", 404, "no Ingress rule"},
			{"GET", "foreign.test", "/", 404, "no Ingress rule"},
			{"GET", "down.test", "/", 503, "default/down:80"},
			{"GET", "gone.test", "/", 503, "default/missing:80: service not found"},
		}
		for _, tc := range cases {
			t.Run(tc.host+tc.path, func(t *testing.T) {
				code, body := r.get(t, tc.method, tc.host, tc.path, "payload", nil)
				if code != tc.code || !strings.Contains(body, tc.want) {
					t.Errorf("%s %s%s = %d %q, want %d containing %q", tc.method, tc.host, tc.path, code, body, tc.code, tc.want)
				}
			})
		}
	})

	t.Run("forwarded headers", func(t *testing.T) {
		_, body := r.get(t, "GET", "web.test", "/", "", http.Header{"X-Forwarded-For": {"203.0.113.7"}})
		var got echoReply
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		want := map[string]string{
			"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-Host":  "web.test",
			"X-Real-Ip":         "127.0.0.1",
		}
		for k, v := range want {
			if g := got.Header.Get(k); g != v {
				t.Errorf("%s = %q, want %q", k, g, v)
			}
		}
		if got.Host != "web.test" {
			t.Errorf("backend saw Host %q, want web.test", got.Host)
		}
	})

	t.Run("retry on refused endpoint", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			method, body := "GET", ""
			if i%2 == 1 {
				method, body = "POST", "payload"
			}
			code, got := r.get(t, method, "retry.test", "/", body, nil)
			if code != 200 || !strings.Contains(got, `"Backend":"other"`) || !strings.Contains(got, `"Body":"`+body+`"`) {
				t.Fatalf("request %d: %d %s", i, code, got)
			}
		}
	})

	tlsGet := func(t *testing.T, serverName string, roots *x509.CertPool, h2 bool) (*http.Response, string) {
		t.Helper()
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{ServerName: serverName, RootCAs: roots},
			ForceAttemptHTTP2: h2,
		}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+r.httpsAddr+"/", nil)
		req.Host = serverName
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	t.Run("tls by sni", func(t *testing.T) {
		cases := []struct {
			name     string
			roots    *x509.CertPool
			wantHost string // the name the served certificate must verify for, "" for the fallback
		}{
			{"secure.test", pool, "secure.test"},
			{"a.wild.test", wildPool, "a.wild.test"},
			{"bad.test", nil, ""},
			{"nothing.test", nil, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				conn, err := tls.Dial("tcp", r.httpsAddr, &tls.Config{ServerName: tc.name, InsecureSkipVerify: true})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				leaf := conn.ConnectionState().PeerCertificates[0]
				if tc.wantHost == "" {
					if leaf.Subject.CommonName != "bosun ingress default certificate" {
						t.Errorf("served %q, want the default certificate", leaf.Subject.CommonName)
					}
					return
				}
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.wantHost, Roots: tc.roots}); err != nil {
					t.Errorf("served certificate does not verify for %s: %v", tc.wantHost, err)
				}
			})
		}
	})

	t.Run("https and http2", func(t *testing.T) {
		for _, h2 := range []bool{false, true} {
			resp, body := tlsGet(t, "secure.test", pool, h2)
			wantMajor := 1
			if h2 {
				wantMajor = 2
			}
			if resp.StatusCode != 200 || resp.ProtoMajor != wantMajor {
				t.Fatalf("h2=%v: %d over %s: %s", h2, resp.StatusCode, resp.Proto, body)
			}
			var got echoReply
			json.Unmarshal([]byte(body), &got)
			if p := got.Header.Get("X-Forwarded-Proto"); got.Backend != "web" || p != "https" {
				t.Errorf("h2=%v: backend %q, X-Forwarded-Proto %q; want web, https", h2, got.Backend, p)
			}
		}
	})

	t.Run("websocket", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial(strings.Replace(r.httpURL, "http", "ws", 1)+"/ws", http.Header{"Host": {"web.test"}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		defer c.Close()
		for _, msg := range []string{"hello", "again"} {
			if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "web: "+msg {
				t.Errorf("echo = %q, want %q", got, "web: "+msg)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		eventually(t, "status written", func() error {
			ing, err := r.client.NetworkingV1().Ingresses("default").Get(context.Background(), "main", metav1.GetOptions{})
			if err != nil {
				return err
			}
			got := ing.Status.LoadBalancer.Ingress
			if len(got) != 2 || got[0].IP != "192.0.2.10" || got[1].IP != "192.0.2.20" {
				return fmt.Errorf("status %+v, want 192.0.2.10 and 192.0.2.20", got)
			}
			return nil
		})
		foreign, _ := r.client.NetworkingV1().Ingresses("default").Get(context.Background(), "foreign", metav1.GetOptions{})
		if len(foreign.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("an Ingress of another class got status %+v", foreign.Status.LoadBalancer.Ingress)
		}
	})

	t.Run("reload keeps in-flight requests", func(t *testing.T) {
		type result struct {
			code int
			body string
		}
		slow := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest("GET", r.httpURL+"/slow", nil)
			req.Host = "web.test"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				slow <- result{body: err.Error()}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			slow <- result{resp.StatusCode, string(b)}
		}()
		time.Sleep(200 * time.Millisecond) // the slow request is at the backend now
		ing, err := r.client.NetworkingV1().Ingresses("default").Get(context.Background(), "main", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ing.Spec.Rules[0].HTTP.Paths[0].Backend = svcBackend("other", 80)
		if _, err := r.client.NetworkingV1().Ingresses("default").Update(context.Background(), ing, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "new rule served", func() error {
			if _, body := r.get(t, "GET", "web.test", "/", "", nil); !strings.Contains(body, `"Backend":"other"`) {
				return fmt.Errorf("still %s", body)
			}
			return nil
		})
		got := <-slow
		if got.code != 200 || got.body != "slow answer from web" {
			t.Errorf("in-flight request across a reload: %d %q", got.code, got.body)
		}
	})

	t.Run("endpoints go away", func(t *testing.T) {
		if err := r.client.DiscoveryV1().EndpointSlices("default").Delete(context.Background(), "api-"+strings.Split(api.URL, ":")[2], metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "503 once api has no endpoints", func() error {
			if code, body := r.get(t, "GET", "web.test", "/api", "", nil); code != 503 {
				return fmt.Errorf("got %d %s", code, body)
			}
			return nil
		})
	})

	t.Run("shutdown lets in-flight requests finish", func(t *testing.T) {
		slow := make(chan string, 1)
		go func() {
			req, _ := http.NewRequest("GET", r.httpURL+"/slow", nil)
			req.Host = "web.test"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				slow <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			slow <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
		ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(r.httpURL, "http", "ws", 1)+"/ws", http.Header{"Host": {"web.test"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		time.Sleep(200 * time.Millisecond)
		if err := r.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("serve returned %v after its context ended, want context.Canceled", err)
		}
		if got := <-slow; got != "200 slow answer from other" {
			t.Errorf("request in flight at shutdown: %q", got)
		}
		if _, err := http.Get(r.httpURL); err == nil {
			t.Error("listener still accepts after shutdown")
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a WebSocket outlived the shutdown: read gave %v", err)
		}
	})
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = Run(ctx, fake.NewClientset(), Config{HTTPAddr: "127.0.0.1:0", HTTPSAddr: ln.Addr().String()})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run on a port in use = %v, want an error at once", err)
	}
}
