package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	agentserver "github.com/bosun-sh/bosun/internal/agent/server"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// proxyPods is the agent's view of the test's pods: every pod has a
// container "app" logging to logPath, and "sidecar" still waiting.
type proxyPods struct {
	logPath string
}

func (p *proxyPods) Container(ctx context.Context, ns, pod, container string, previous bool) (agentserver.ContainerRef, error) {
	switch {
	case container == "sidecar":
		return agentserver.ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod))
	case previous:
		return agentserver.ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod))
	}
	return agentserver.ContainerRef{ID: "c-" + pod, LogPath: p.logPath, Running: true}, nil
}

func (p *proxyPods) Sandbox(ctx context.Context, ns, pod string) (string, error) {
	return "s-" + pod, nil
}

// proxyRuntime stands in for the runtime's CRI streaming calls: its URLs
// lead to a server that accepts any upgrade and echoes bytes.
type proxyRuntime struct {
	runtimeapi.RuntimeServiceClient
	streamURL string
	running   atomic.Bool
}

func (r *proxyRuntime) Exec(ctx context.Context, in *runtimeapi.ExecRequest, _ ...grpc.CallOption) (*runtimeapi.ExecResponse, error) {
	return &runtimeapi.ExecResponse{Url: r.streamURL + "/exec/" + strings.Join(in.Cmd, "_")}, nil
}

func (r *proxyRuntime) Attach(ctx context.Context, in *runtimeapi.AttachRequest, _ ...grpc.CallOption) (*runtimeapi.AttachResponse, error) {
	return &runtimeapi.AttachResponse{Url: r.streamURL + "/attach/" + in.ContainerId}, nil
}

func (r *proxyRuntime) PortForward(ctx context.Context, in *runtimeapi.PortForwardRequest, _ ...grpc.CallOption) (*runtimeapi.PortForwardResponse, error) {
	return &runtimeapi.PortForwardResponse{Url: r.streamURL + "/portforward/" + in.PodSandboxId}, nil
}

func (r *proxyRuntime) ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	state := runtimeapi.ContainerState_CONTAINER_EXITED
	if r.running.Load() {
		state = runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{State: state}}, nil
}

type proxyFixture struct {
	s       *testserver.Server
	ns      string
	logPath string
	rt      *proxyRuntime
}

// startPodProxy starts the API server and an agent on loopback for a node
// "proxy-node", and pods "one" (container app), "two" (app and sidecar)
// and "pending" (no node) in a fresh namespace.
func startPodProxy(t *testing.T) *proxyFixture {
	t.Helper()
	ctx := testContext(t)
	s := testserver.Start(t, testserver.Options{})
	bundle, err := pki.Ensure(filepath.Join(s.DataDir, "tls"), pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(logPath, []byte("2024-05-01T10:00:00Z stdout F hello\n2024-05-01T10:00:01Z stderr F from stderr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	echo := httptest.NewServer(http.HandlerFunc(echoUpgrade))
	t.Cleanup(echo.Close)
	rt := &proxyRuntime{streamURL: echo.URL}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agentserver.Serve(agentCtx, ln, agentserver.New(&proxyPods{logPath: logPath}, rt, nil), bundle.Serving, bundle.CAPool())
	}()
	t.Cleanup(func() { stop(); <-done })

	node, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "proxy-node"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Client.CoreV1().Nodes().Delete(context.Background(), "proxy-node", metav1.DeleteOptions{}) })
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "localhost"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	if _, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, s)
	for _, p := range []struct {
		name, node string
		containers []string
	}{{"one", "proxy-node", []string{"app"}}, {"two", "proxy-node", []string{"app", "sidecar"}}, {"pending", "", []string{"app"}}, {"lost", "gone-node", []string{"app"}}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: corev1.PodSpec{NodeName: p.node}}
		for _, c := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
		}
		if p.name == "two" {
			pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
		}
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The API server reaches agents only once its wiring gives it a
	// client certificate for them.
	_, err = s.Client.CoreV1().Pods(ns).GetLogs("one", &corev1.PodLogOptions{}).DoRaw(ctx)
	if apierrors.IsServiceUnavailable(err) && strings.Contains(err.Error(), "node streaming is not configured") {
		t.Skip("the server does not configure node streaming (apiserver.Config.NodeTLS)")
	}
	return &proxyFixture{s: s, ns: ns, logPath: logPath, rt: rt}
}

// echoUpgrade switches to whatever protocol is asked for, says which path
// it was reached on, and echoes every byte.
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

func TestPodLogsThroughAgent(t *testing.T) {
	f := startPodProxy(t)
	ctx := testContext(t)
	pods := f.s.Client.CoreV1().Pods(f.ns)
	cases := []struct {
		name string
		pod  string
		opts corev1.PodLogOptions
		want string
	}{
		{name: "default container", pod: "one", want: "hello\nfrom stderr\n"},
		{name: "named container", pod: "two", opts: corev1.PodLogOptions{Container: "app", TailLines: ptrTo[int64](1)}, want: "from stderr\n"},
		{name: "timestamps", pod: "one", opts: corev1.PodLogOptions{Timestamps: true, LimitBytes: ptrTo[int64](26)}, want: "2024-05-01T10:00:00Z hello"},
		{name: "unscheduled pod has no logs", pod: "pending", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pods.GetLogs(tc.pod, &tc.opts).DoRaw(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPodLogsFollow(t *testing.T) {
	f := startPodProxy(t)
	ctx := testContext(t)
	f.rt.running.Store(true)
	stream, err := f.s.Client.CoreV1().Pods(f.ns).GetLogs("one", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("line %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no line %q", want)
		}
	}
	expect("hello")
	expect("from stderr")
	// A line appended later arrives while the stream is open.
	lf, err := os.OpenFile(f.logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	fmt.Fprintln(lf, "2024-05-01T10:00:02Z stdout F later")
	expect("later")
	// The stream ends once the container stops.
	f.rt.running.Store(false)
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("unexpected line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the log stream did not end after the container stopped")
	}
}

func TestPodStreamErrors(t *testing.T) {
	f := startPodProxy(t)
	ctx := testContext(t)
	pods := f.s.Client.CoreV1().Pods(f.ns)
	cases := []struct {
		name     string
		req      func() rest.Result
		wantCode int32
		wantMsg  string
	}{
		{name: "missing pod", req: func() rest.Result { return pods.GetLogs("nope", &corev1.PodLogOptions{}).Do(ctx) },
			wantCode: 404, wantMsg: `pods "nope" not found`},
		{name: "container name needed", req: func() rest.Result { return pods.GetLogs("two", &corev1.PodLogOptions{}).Do(ctx) },
			wantCode: 400, wantMsg: "a container name must be specified for pod two, choose one of: [app sidecar] or one of the init containers: [setup]"},
		{name: "unknown container", req: func() rest.Result { return pods.GetLogs("two", &corev1.PodLogOptions{Container: "db"}).Do(ctx) },
			wantCode: 400, wantMsg: "container db is not valid for pod two"},
		{name: "the agent's error passes through", req: func() rest.Result {
			return pods.GetLogs("two", &corev1.PodLogOptions{Container: "sidecar"}).Do(ctx)
		}, wantCode: 400, wantMsg: `container "sidecar" in pod "two" is waiting to start: ContainerCreating`},
		{name: "previous", req: func() rest.Result { return pods.GetLogs("one", &corev1.PodLogOptions{Previous: true}).Do(ctx) },
			wantCode: 400, wantMsg: `previous terminated container "app" in pod "one" not found`},
		{name: "node gone", req: func() rest.Result { return pods.GetLogs("lost", &corev1.PodLogOptions{}).Do(ctx) },
			wantCode: 404, wantMsg: `nodes "gone-node" not found`},
		{name: "exec on an unscheduled pod", req: func() rest.Result {
			return f.s.Client.CoreV1().RESTClient().Post().Namespace(f.ns).Resource("pods").Name("pending").SubResource("exec").
				Param("command", "ls").Param("stdout", "true").Do(ctx)
		}, wantCode: 400, wantMsg: "pod pending does not have a host assigned"},
		{name: "exec without upgrade", req: func() rest.Result {
			return f.s.Client.CoreV1().RESTClient().Post().Namespace(f.ns).Resource("pods").Name("one").SubResource("exec").
				Param("command", "ls").Param("stdout", "true").Do(ctx)
		}, wantCode: 400, wantMsg: "Upgrade request required"},
		{name: "logs by POST", req: func() rest.Result {
			return f.s.Client.CoreV1().RESTClient().Post().Namespace(f.ns).Resource("pods").Name("one").SubResource("log").Do(ctx)
		}, wantCode: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req().Error()
			var se apierrors.APIStatus
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a Status", err)
			}
			st := se.Status()
			if st.Code != tc.wantCode || (tc.wantMsg != "" && st.Message != tc.wantMsg) {
				t.Fatalf("got %d %q, want %d %q", st.Code, st.Message, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestPodStreamUpgrades sends exec, attach and port-forward upgrades
// through the API server and the agent to the runtime's streaming server.
func TestPodStreamUpgrades(t *testing.T) {
	f := startPodProxy(t)
	tlsConfig, err := rest.TLSConfigFor(f.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig.NextProtos = []string{"http/1.1"}
	host := strings.TrimPrefix(f.s.Config.Host, "https://")
	cases := []struct {
		name, path, wantPath string
	}{
		{name: "exec", path: "/exec?command=sh&command=-c&stdin=true&stdout=true&tty=true", wantPath: "/exec/sh_-c"},
		{name: "attach", path: "/attach?container=app&stdin=true&stdout=true", wantPath: "/attach/c-one"},
		{name: "portforward", path: "/portforward", wantPath: "/portforward/s-one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", host, tlsConfig)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			req, _ := http.NewRequest("POST", f.s.Config.Host+"/api/v1/namespaces/"+f.ns+"/pods/one"+tc.path, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "SPDY/3.1")
			req.Header.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
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
				t.Fatalf("runtime reached at %q, want %q", got, tc.wantPath)
			}
			for _, msg := range []string{"ping\n", "pong\n"} {
				io.WriteString(conn, msg)
				if got, err := br.ReadString('\n'); err != nil || got != msg {
					t.Fatalf("echo %q, %v", got, err)
				}
			}
		})
	}
}

// TestWebSocketOffersFallBack checks that current kubectl's first
// attempts, a WebSocket upgrade offering only v5.channel.k8s.io (exec,
// attach) or a SPDY tunnel (port-forward), get a non-101 answer: client-go
// takes any such answer as an upgrade failure and retries over SPDY.
func TestWebSocketOffersFallBack(t *testing.T) {
	f := startPodProxy(t)
	ctx := testContext(t)
	tlsConfig, err := rest.TLSConfigFor(f.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig.NextProtos = []string{"http/1.1"}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 20 * time.Second}
	cases := []struct{ name, path, protocol string }{
		{name: "exec v5", path: "/exec?command=ls&stdout=true", protocol: "v5.channel.k8s.io"},
		{name: "attach v5", path: "/attach?stdout=true", protocol: "v5.channel.k8s.io"},
		{name: "port-forward tunnel", path: "/portforward", protocol: "SPDY/3.1+portforward.k8s.io"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, "GET", f.s.Config.Host+"/api/v1/namespaces/"+f.ns+"/pods/one"+tc.path, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			req.Header.Set("Sec-WebSocket-Protocol", tc.protocol)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.protocol) {
				t.Fatalf("status %d %s, want 400 naming %s", resp.StatusCode, body, tc.protocol)
			}
		})
	}
}

func TestPodStreamDiscovery(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	list, err := s.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range list.APIResources {
		got[r.Name] = fmt.Sprintf("%s %v", r.Kind, r.Verbs)
	}
	want := map[string]string{
		"pods/log":         "Pod [get]",
		"pods/exec":        "PodExecOptions [create get]",
		"pods/attach":      "PodAttachOptions [create get]",
		"pods/portforward": "PodPortForwardOptions [create get]",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
}
