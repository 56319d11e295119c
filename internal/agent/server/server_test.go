package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/pki"
)

// testPods is a node with one pod, default/web, whose container app
// writes to logPath.
type testPods struct {
	logPath string
	running bool
}

func (p *testPods) Container(ctx context.Context, ns, pod, container string, previous bool) (ContainerRef, error) {
	if ns != "default" || pod != "web" {
		return ContainerRef{}, apierrors.NewNotFound(podsResource, pod)
	}
	if container != "app" {
		return ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod))
	}
	return ContainerRef{ID: "c1", LogPath: p.logPath, Running: p.running && !previous}, nil
}

func (p *testPods) Sandbox(ctx context.Context, ns, pod string) (string, error) {
	if ns != "default" || pod != "web" {
		return "", apierrors.NewNotFound(podsResource, pod)
	}
	return "s1", nil
}

var podsResource = schema.GroupResource{Resource: "pods"}

// testRuntime answers the streaming calls with URLs on a test server that
// stands in for the runtime's streaming server. Other calls are not used
// and would panic on the nil embedded client.
type testRuntime struct {
	runtimeapi.RuntimeServiceClient
	streamURL string
	calls     []string
}

func (t *testRuntime) Exec(ctx context.Context, in *runtimeapi.ExecRequest, _ ...grpc.CallOption) (*runtimeapi.ExecResponse, error) {
	t.calls = append(t.calls, fmt.Sprintf("exec %s %v tty=%v stdin=%v stderr=%v", in.ContainerId, in.Cmd, in.Tty, in.Stdin, in.Stderr))
	return &runtimeapi.ExecResponse{Url: t.streamURL + "/exec/token"}, nil
}

func (t *testRuntime) Attach(ctx context.Context, in *runtimeapi.AttachRequest, _ ...grpc.CallOption) (*runtimeapi.AttachResponse, error) {
	t.calls = append(t.calls, fmt.Sprintf("attach %s", in.ContainerId))
	return &runtimeapi.AttachResponse{Url: t.streamURL + "/attach/token"}, nil
}

func (t *testRuntime) PortForward(ctx context.Context, in *runtimeapi.PortForwardRequest, _ ...grpc.CallOption) (*runtimeapi.PortForwardResponse, error) {
	t.calls = append(t.calls, fmt.Sprintf("portforward %s %v", in.PodSandboxId, in.Port))
	return &runtimeapi.PortForwardResponse{Url: t.streamURL + "/portforward/token"}, nil
}

func (t *testRuntime) ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{State: runtimeapi.ContainerState_CONTAINER_EXITED}}, nil
}

// echoUpgrade switches to the protocol asked for and echoes every byte,
// as a stand-in for a SPDY session.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\nX-Path: %s\r\n\r\n", r.Header.Get("Upgrade"), r.URL.Path)
	rw.Flush()
	io.Copy(conn, rw)
}

type fixture struct {
	addr    string
	rt      *testRuntime
	masters *tls.Config
	other   *tls.Config
}

func start(t *testing.T, logContent string) *fixture {
	t.Helper()
	bundle, err := pki.Ensure(t.TempDir(), pki.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	// The API server's serving certificate covers 127.0.0.1 too; any
	// certificate from the cluster CA serves for the test.
	serving := bundle.Serving
	client := func(groups ...string) *tls.Config {
		certPEM, keyPEM, err := bundle.IssueClient("someone", groups)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{RootCAs: bundle.CAPool(), Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1"}
	}
	logPath := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(logPath, []byte(logContent), 0o644); err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(echoUpgrade))
	t.Cleanup(backend.Close)
	rt := &testRuntime{streamURL: backend.URL}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, New(&testPods{logPath: logPath, running: true}, rt, nil), serving, bundle.CAPool())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{addr: ln.Addr().String(), rt: rt, masters: client("system:masters"), other: client("system:nodes")}
}

func (f *fixture) get(t *testing.T, cfg *tls.Config, method, path string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+f.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func statusMessage(t *testing.T, body string) string {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" {
		t.Fatalf("not a Status: %q", body)
	}
	return st.Message
}

func TestRequests(t *testing.T) {
	f := start(t, "2024-01-01T00:00:00Z stdout F hello\n2024-01-01T00:00:01Z stderr F world\n")
	ws := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	v5 := ws.Clone()
	v5.Set("Sec-Websocket-Protocol", "v5.channel.k8s.io")
	tunnel := ws.Clone()
	tunnel.Set("Sec-Websocket-Protocol", "SPDY/3.1+portforward.k8s.io")
	cases := []struct {
		name     string
		cfg      *tls.Config
		method   string
		path     string
		header   http.Header
		wantCode int
		wantBody string // the body, or the Status message for errors
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "logs", method: "GET", path: "/containerLogs/default/web/app", wantCode: 200, wantBody: "hello\nworld\n"},
		{name: "logs follow of a stopped container ends", method: "GET", path: "/containerLogs/default/web/app?follow=true&timestamps=true&tailLines=1", wantCode: 200, wantBody: "2024-01-01T00:00:01Z world\n"},
		{name: "logs limit", method: "GET", path: "/containerLogs/default/web/app?limitBytes=3", wantCode: 200, wantBody: "hel"},
		{name: "logs bad tail", method: "GET", path: "/containerLogs/default/web/app?tailLines=-1", wantCode: 400, wantBody: "tailLines: must be greater than or equal to 0"},
		{name: "logs bad since", method: "GET", path: "/containerLogs/default/web/app?sinceTime=yesterday", wantCode: 400},
		{name: "logs of a missing pod", method: "GET", path: "/containerLogs/default/nope/app", wantCode: 404, wantBody: `pods "nope" not found`},
		{name: "logs of a waiting container", method: "GET", path: "/containerLogs/default/web/init", wantCode: 400, wantBody: `container "init" in pod "web" is waiting to start: ContainerCreating`},
		{name: "logs by POST", method: "POST", path: "/containerLogs/default/web/app", wantCode: 405},
		{name: "profiler", method: "GET", path: "/debug/pprof/cmdline", wantCode: 200},
		{name: "profiler not in system:masters", cfg: f.other, method: "GET", path: "/debug/pprof/cmdline", wantCode: 403},
		{name: "not in system:masters", cfg: f.other, method: "GET", path: "/containerLogs/default/web/app", wantCode: 403, wantBody: "Forbidden (user=someone, verb=get, resource=nodes, subresource=proxy)"},
		{name: "exec without upgrade", method: "POST", path: "/exec/default/web/app?command=ls&stdout=1", wantCode: 400, wantBody: "Upgrade request required"},
		{name: "exec without command", method: "POST", path: "/exec/default/web/app?stdout=1", wantCode: 400, wantBody: "you must specify at least one command for the container"},
		{name: "exec without streams", method: "POST", path: "/exec/default/web/app?command=ls", wantCode: 400, wantBody: "you must specify at least 1 of stdin, stdout, stderr"},
		{name: "exec over websocket v5 falls back", method: "GET", path: "/exec/default/web/app?command=ls&stdout=true", header: v5, wantCode: 400,
			wantBody: `the container runtime's streaming server supports none of the WebSocket subprotocols ["v5.channel.k8s.io"]; use SPDY`},
		{name: "port-forward tunnel falls back", method: "GET", path: "/portForward/default/web", header: tunnel, wantCode: 400},
		{name: "port-forward bad port", method: "GET", path: "/portForward/default/web?port=http", wantCode: 400, wantBody: `invalid port "http"`},
		{name: "port-forward to a missing pod", method: "POST", path: "/portForward/default/nope", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"}}, wantCode: 404},
		{name: "unknown path", method: "GET", path: "/pods", wantCode: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = f.masters
			}
			code, body := f.get(t, cfg, tc.method, tc.path, tc.header)
			if code != tc.wantCode {
				t.Fatalf("code %d, want %d; body %q", code, tc.wantCode, body)
			}
			if tc.wantBody == "" {
				return
			}
			if code >= 300 {
				body = statusMessage(t, body)
			}
			if body != tc.wantBody {
				t.Fatalf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

func TestClientCertificateRequired(t *testing.T) {
	f := start(t, "")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.masters.RootCAs, ServerName: "127.0.0.1"}}}
	if resp, err := c.Get("https://" + f.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
}

// TestStreamsProxied upgrades through the agent to the runtime's
// streaming server and sends bytes both ways.
func TestStreamsProxied(t *testing.T) {
	f := start(t, "")
	cases := []struct {
		name, path, upgrade, protocol, wantPath, wantCall string
	}{
		{name: "exec spdy", path: "/exec/default/web/app?command=sh&command=-c&command=id&stdin=true&stdout=true&stderr=true&tty=true", upgrade: "SPDY/3.1",
			wantPath: "/exec/token", wantCall: "exec c1 [sh -c id] tty=true stdin=true stderr=false"},
		{name: "exec websocket v4", path: "/exec/default/web/app?command=ls&stdout=1&stderr=1", upgrade: "websocket", protocol: "v5.channel.k8s.io, v4.channel.k8s.io",
			wantPath: "/exec/token", wantCall: "exec c1 [ls] tty=false stdin=false stderr=true"},
		{name: "attach", path: "/attach/default/web/app?stdin=1&stdout=1", upgrade: "SPDY/3.1", wantPath: "/attach/token", wantCall: "attach c1"},
		{name: "port-forward", path: "/portForward/default/web?port=8080", upgrade: "SPDY/3.1", wantPath: "/portforward/token", wantCall: "portforward s1 [8080]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.rt.calls = nil
			conn, err := tls.Dial("tcp", f.addr, f.masters)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			req, _ := http.NewRequest("POST", "https://"+f.addr+tc.path, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tc.upgrade)
			if tc.protocol != "" {
				req.Header.Set("Sec-WebSocket-Protocol", tc.protocol)
			}
			if err := req.Write(conn); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Path"); got != tc.wantPath {
				t.Fatalf("runtime saw path %q, want %q", got, tc.wantPath)
			}
			if len(f.rt.calls) != 1 || f.rt.calls[0] != tc.wantCall {
				t.Fatalf("runtime calls %q, want %q", f.rt.calls, tc.wantCall)
			}
			fmt.Fprint(conn, "ping\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Fatalf("echo %q, %v", line, err)
			}
		})
	}
}

func TestQueryBool(t *testing.T) {
	cases := []struct {
		query string
		want  bool
	}{
		{"", false}, {"follow=false", false}, {"follow=0", false}, {"follow=FALSE", false},
		{"follow=true", true}, {"follow=1", true}, {"follow=", true}, {"follow=yes", true},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		if got := queryBool(q, "follow"); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.query, got, tc.want)
		}
	}
}

func FuzzLogOptions(f *testing.F) {
	f.Add("follow=true&tailLines=10&limitBytes=5&sinceSeconds=3&timestamps=1")
	f.Add("sinceTime=2024-01-01T00:00:00Z&previous=true")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		opts, err := logOptions(q)
		if err != nil {
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("error %v is not a BadRequest", err)
			}
			return
		}
		if opts.TailLines != nil && *opts.TailLines < 0 || opts.LimitBytes != nil && *opts.LimitBytes < 1 {
			t.Fatalf("invalid options accepted: %+v", opts)
		}
	})
}
