package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func splitHostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), port
}

func probeMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "secret details", http.StatusInternalServerError)
	})
	mux.HandleFunc("/notfound", http.NotFound)
	mux.HandleFunc("/redirect-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-other", func(w http.ResponseWriter, r *http.Request) {
		// localhost is another host name than the 127.0.0.1 the probe used.
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://localhost:"+port+"/fail", http.StatusFound)
	})
	mux.HandleFunc("/redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusFound)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ua=%s accept=%q host=%s x=%s", r.UserAgent(), r.Header.Values("Accept"), r.Host, r.Header.Get("X-Probe"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("a", 3*maxOutput))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	return mux
}

func TestRunHTTP(t *testing.T) {
	srv := httptest.NewServer(probeMux())
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(probeMux())
	defer tlsSrv.Close()
	host, port := splitHostPort(t, srv.URL)
	_, tlsPort := splitHostPort(t, tlsSrv.URL)

	container := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	target := Target{Container: container, PodIP: host}
	cases := []struct {
		name    string
		action  corev1.HTTPGetAction
		timeout time.Duration
		want    Result
		output  string
	}{
		{name: "200", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, want: Success, output: "ok"},
		{name: "named port", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("http")}, want: Success, output: "ok"},
		{name: "numeric string port", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString(strconv.Itoa(port))}, want: Success, output: "ok"},
		{name: "unknown port name", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("metrics")}, want: Unknown, output: `port "metrics" not found in the container's ports`},
		{name: "500 hides the body", action: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, want: Failure, output: "HTTP probe failed with statuscode: 500"},
		{name: "404", action: corev1.HTTPGetAction{Path: "/notfound", Port: intstr.FromInt32(int32(port))}, want: Failure, output: "HTTP probe failed with statuscode: 404"},
		{name: "redirect on the same host is followed", action: corev1.HTTPGetAction{Path: "/redirect-same", Port: intstr.FromInt32(int32(port))}, want: Success, output: "ok"},
		{name: "redirect to another host is not", action: corev1.HTTPGetAction{Path: "/redirect-other", Port: intstr.FromInt32(int32(port))}, want: Warning, output: "Probe terminated redirects, Response body: <a href=\"http://localhost:" + strconv.Itoa(port) + "/fail\">Found</a>.\n\n"},
		{name: "redirect loop", action: corev1.HTTPGetAction{Path: "/redirect-loop", Port: intstr.FromInt32(int32(port))}, want: Failure, output: `Get "/redirect-loop": stopped after 10 redirects`},
		{name: "default headers", action: corev1.HTTPGetAction{Path: "/headers", Port: intstr.FromInt32(int32(port))}, want: Success,
			output: fmt.Sprintf(`ua=kube-probe/1.37 accept=["*/*"] host=%s x=`, net.JoinHostPort(host, strconv.Itoa(port)))},
		{name: "user headers", action: corev1.HTTPGetAction{Path: "/headers", Port: intstr.FromInt32(int32(port)), HTTPHeaders: []corev1.HTTPHeader{
			{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: ""}, {Name: "Host", Value: "example.com"}, {Name: "X-Probe", Value: "1"}}},
			want: Success, output: `ua=mine accept=[] host=example.com x=1`},
		{name: "body truncated", action: corev1.HTTPGetAction{Path: "/big", Port: intstr.FromInt32(int32(port))}, want: Success, output: strings.Repeat("a", maxOutput)},
		{name: "https without verification", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS}, want: Success, output: "ok"},
		{name: "explicit host", action: corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/ok", Port: intstr.FromInt32(int32(port))}, want: Success, output: "ok"},
		{name: "unsupported scheme", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port)), Scheme: "ftp"}, want: Unknown, output: `unsupported scheme "ftp"`},
		{name: "host with URL syntax", action: corev1.HTTPGetAction{Host: "user@127.0.0.1", Port: intstr.FromInt32(int32(port))}, want: Unknown, output: "http probe request: parse "},
		{name: "timeout", action: corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, timeout: 100 * time.Millisecond, want: Failure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			res, out := Run(context.Background(), corev1.ProbeHandler{HTTPGet: &tc.action}, timeout, target, nil)
			if res != tc.want {
				t.Fatalf("result %v (%q), want %v", res, out, tc.want)
			}
			if tc.name == "redirect loop" {
				if !strings.HasSuffix(out, "stopped after 10 redirects") {
					t.Fatalf("output %q", out)
				}
				return
			}
			if tc.name == "host with URL syntax" {
				if !strings.HasPrefix(out, tc.output) {
					t.Fatalf("output %q, want prefix %q", out, tc.output)
				}
				return
			}
			if tc.name == "timeout" {
				if !strings.Contains(out, "Client.Timeout exceeded") {
					t.Fatalf("output %q", out)
				}
				return
			}
			if out != tc.output {
				t.Fatalf("output %q, want %q", out, tc.output)
			}
		})
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestRunTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	container := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: int32(open)}}}
	cases := []struct {
		name   string
		action corev1.TCPSocketAction
		want   Result
		output string
	}{
		{name: "open", action: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}, want: Success},
		{name: "named", action: corev1.TCPSocketAction{Port: intstr.FromString("db")}, want: Success},
		{name: "explicit host", action: corev1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt32(int32(open))}, want: Success},
		{name: "refused", action: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closed))}, want: Failure,
			output: fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)},
		{name: "port out of range", action: corev1.TCPSocketAction{Port: intstr.FromInt32(70000)}, want: Unknown, output: "invalid port number: 70000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, out := Run(context.Background(), corev1.ProbeHandler{TCPSocket: &tc.action}, time.Second, Target{Container: container, PodIP: "127.0.0.1"}, nil)
			if res != tc.want || out != tc.output {
				t.Fatalf("got %v %q, want %v %q", res, out, tc.want, tc.output)
			}
		})
	}
}

func TestRunGRPC(t *testing.T) {
	serve := func(withHealth bool) (int, func()) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		if withHealth {
			hs := health.NewServer()
			hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
			healthpb.RegisterHealthServer(s, hs)
		}
		go s.Serve(l)
		return l.Addr().(*net.TCPAddr).Port, s.Stop
	}
	port, stop := serve(true)
	defer stop()
	bare, stopBare := serve(false)
	defer stopBare()
	closed := closedPort(t)
	str := func(s string) *string { return &s }

	cases := []struct {
		name   string
		action corev1.GRPCAction
		want   Result
		output string
	}{
		{name: "serving", action: corev1.GRPCAction{Port: int32(port)}, want: Success, output: "service healthy"},
		{name: "empty service name", action: corev1.GRPCAction{Port: int32(port), Service: str("")}, want: Success, output: "service healthy"},
		{name: "not serving", action: corev1.GRPCAction{Port: int32(port), Service: str("db")}, want: Failure, output: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", action: corev1.GRPCAction{Port: int32(port), Service: str("nope")}, want: Failure, output: "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{name: "no health service", action: corev1.GRPCAction{Port: int32(bare)}, want: Failure, output: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{name: "nothing listening", action: corev1.GRPCAction{Port: int32(closed)}, want: Failure, output: "error: health rpc probe failed: rpc error: code = Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, out := Run(context.Background(), corev1.ProbeHandler{GRPC: &tc.action}, 5*time.Second, Target{PodIP: "127.0.0.1"}, nil)
			if res != tc.want || !strings.HasPrefix(out, tc.output) {
				t.Fatalf("got %v %q, want %v %q", res, out, tc.want, tc.output)
			}
		})
	}
}

func TestRunExec(t *testing.T) {
	container := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "WORD", Value: "hello"},
		{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	}}
	cases := []struct {
		name    string
		cmd     []string
		timeout time.Duration
		ex      Execer
		want    Result
		output  string
	}{
		{name: "exit 0", cmd: []string{"sh", "-c", "echo ok"}, want: Success, output: "ok\n"},
		{name: "exit 1 with stdout and stderr", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 1"}, want: Failure, output: "out\nerr\n"},
		{name: "silent failure", cmd: []string{"false"}, want: Failure, output: ""},
		{name: "timeout", cmd: []string{"sleep", "10"}, timeout: 50 * time.Millisecond, want: Failure, output: `command "sleep 10" timed out`},
		{name: "env expansion", cmd: []string{"echo", "$(WORD)", "$(FROM_SECRET)", "$$(WORD)"}, want: Success, output: "hello $(FROM_SECRET) $(WORD)\n"},
		{name: "output truncated", cmd: []string{"sh", "-c", "head -c 30000 /dev/zero | tr '\\0' x"}, want: Success, output: strings.Repeat("x", maxOutput)},
		{name: "command not found", cmd: []string{"/nonexistent"}, want: Unknown, output: `exec [/nonexistent]: fork/exec /nonexistent: no such file or directory`},
		{name: "no execer", cmd: []string{"true"}, ex: Execer(nil), want: Unknown, output: "no command runner for exec probes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := Execer(hostExecer{})
			if tc.name == "no execer" {
				ex = nil
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			res, out := Run(context.Background(), corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: tc.cmd}}, timeout, Target{Container: container}, ex)
			if res != tc.want || out != tc.output {
				t.Fatalf("got %v %q, want %v %q", res, out, tc.want, tc.output)
			}
		})
	}
}

func TestRunNoHandler(t *testing.T) {
	if res, out := Run(context.Background(), corev1.ProbeHandler{}, time.Second, Target{}, nil); res != Unknown || out != "missing probe handler" {
		t.Fatalf("got %v %q", res, out)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two", "EMPTY": ""}
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(B)z", "x1ytwoz"},
		{"$(EMPTY)", ""},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$A", "$A"},
		{"$(A)$(B", "1$(B"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := expand(tc.in, vars); got != tc.want {
				t.Fatalf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$(A)", "$$(A)", "$(", "a$b$(", "$(A)$(B)$$"} {
		f.Add(s)
	}
	vars := map[string]string{"A": "1", "B": "$(A)"}
	f.Fuzz(func(t *testing.T, s string) {
		got := expand(s, vars)
		if !strings.Contains(s, "$") && got != s {
			t.Fatalf("expand(%q) = %q changed a string without $", s, got)
		}
		if !strings.Contains(s, "$(") && !strings.Contains(s, "$$") && got != s {
			t.Fatalf("expand(%q) = %q changed a string without references", s, got)
		}
	})
}

// FuzzHTTPURL builds httpGet requests from arbitrary paths, hosts and port
// names: a request is built or an error returned, never a panic, and a built
// request goes to the resolved port.
func FuzzHTTPURL(f *testing.F) {
	f.Add("/healthz", "", "http", "HTTP")
	f.Add("healthz?x=1#frag", "10.0.0.1", "8080", "https")
	f.Add("%zz", "::1", "web", "")
	f.Add("http://other/", "h", "0", "ftp")
	f.Add("//evil.example/x", "", "65536", "HTTPS")
	container := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "web", ContainerPort: 8443}}}
	f.Fuzz(func(t *testing.T, path, host, port, scheme string) {
		a := &corev1.HTTPGetAction{Path: path, Host: host, Port: intstr.FromString(port), Scheme: corev1.URIScheme(scheme)}
		req, err := newHTTPRequest(context.Background(), a, Target{Container: container, PodIP: "10.1.2.3"}, "probe")
		if err != nil {
			return
		}
		want, err := resolvePort(a.Port, container)
		if err != nil {
			t.Fatalf("request built for port %q that does not resolve: %v", port, err)
		}
		if h := a.Host; h == "" && req.URL.Hostname() != "10.1.2.3" || h != "" && req.URL.Hostname() != h {
			t.Fatalf("request for %q goes to host %q, want %q", req.URL, req.URL.Hostname(), h)
		}
		if req.URL.Port() != strconv.Itoa(want) {
			t.Fatalf("request for %q goes to port %q, want %d", req.URL, req.URL.Port(), want)
		}
		if req.Header.Get("User-Agent") != "kube-probe/"+kubeVersion {
			t.Fatalf("User-Agent %q", req.Header.Get("User-Agent"))
		}
	})
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "80", ContainerPort: 9090}}}
	cases := []struct {
		name string
		port intstr.IntOrString
		want int
		err  bool
	}{
		{"int", intstr.FromInt32(81), 81, false},
		{"name", intstr.FromString("http"), 8080, false},
		{"name before number", intstr.FromString("80"), 9090, false},
		{"number as string", intstr.FromString("443"), 443, false},
		{"unknown name", intstr.FromString("grpc"), 0, true},
		{"zero", intstr.FromInt32(0), 0, true},
		{"negative", intstr.FromInt32(-1), 0, true},
		{"too big", intstr.FromString("65536"), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolvePort(tc.port, c)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("got %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
