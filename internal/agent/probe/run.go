package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-sh/bosun/internal/agent/volume"
)

// Run runs one probe action once and returns its result and output: the
// response body or command output on success, the reason on failure, the
// error on Unknown. The output is what follows "Liveness probe failed: " in
// the kubelet's events.
func Run(ctx context.Context, h corev1.ProbeHandler, timeout time.Duration, t Target, ex Execer) (Result, string) {
	switch {
	case h.Exec != nil:
		return runExec(ctx, h.Exec, timeout, t, ex)
	case h.HTTPGet != nil:
		return runHTTP(ctx, h.HTTPGet, timeout, t)
	case h.TCPSocket != nil:
		return runTCP(ctx, h.TCPSocket, timeout, t)
	case h.GRPC != nil:
		return runGRPC(ctx, h.GRPC, timeout, t)
	}
	return Unknown, "missing probe handler"
}

func runExec(ctx context.Context, a *corev1.ExecAction, timeout time.Duration, t Target, ex Execer) (Result, string) {
	if ex == nil {
		return Unknown, "no command runner for exec probes"
	}
	cmd := a.Command
	if t.Container != nil {
		cmd = expandCommand(a.Command, t.Container.Env)
	}
	stdout, stderr, code, err := ex.ExecSync(ctx, t.ContainerID, cmd, timeout)
	if err != nil {
		if isTimeout(err) {
			return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))
		}
		return Unknown, err.Error()
	}
	out := truncate(append(stdout, stderr...))
	if code != 0 {
		return Failure, string(out)
	}
	return Success, string(out)
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}

func truncate(b []byte) []byte {
	if len(b) > maxOutput {
		return b[:maxOutput]
	}
	return b
}

// expandCommand replaces $(VAR) in cmd with the values of the container's
// literal env vars, as the kubelet does for exec probes: vars from
// valueFrom are not known here and stay unexpanded, and $$ escapes a $.
func expandCommand(cmd []string, env []corev1.EnvVar) []string {
	if len(env) == 0 {
		return cmd
	}
	vars := make(map[string]string, len(env))
	for _, e := range env {
		if e.ValueFrom == nil {
			vars[e.Name] = e.Value
		}
	}
	out := make([]string, len(cmd))
	for i, arg := range cmd {
		out[i] = expand(arg, vars)
	}
	return out
}

// expand is volume.Expand over a map of values.
func expand(s string, vars map[string]string) string {
	return volume.Expand(s, func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// resolvePort turns a probe or hook port (a number, a numeric string or the
// name of one of the container's ports) into a port number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch p.Type {
	case intstr.Int:
		port = int(p.IntVal)
	case intstr.String:
		found := false
		if c != nil {
			for _, cp := range c.Ports {
				if cp.Name == p.StrVal {
					port, found = int(cp.ContainerPort), true
					break
				}
			}
		}
		if !found {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, fmt.Errorf("port %q not found in the container's ports", p.StrVal)
			}
			port = n
		}
	default:
		return 0, fmt.Errorf("port %v has no type", p)
	}
	if port <= 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port number: %d", port)
	}
	return port, nil
}

// httpURL builds the URL an httpGet action asks for. A path that does not
// parse is kept verbatim as the URL's path: rejecting it this late would
// only turn a user's typo into an agent error.
func httpURL(scheme, host string, port int, path string) *url.URL {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u
}

// newHTTPRequest builds the GET request of an httpGet action; purpose is
// "probe" or "lifecycle", the word in the User-Agent.
func newHTTPRequest(ctx context.Context, a *corev1.HTTPGetAction, t Target, purpose string) (*http.Request, error) {
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return nil, err
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("unsupported scheme %q", a.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL(scheme, host, port, a.Path).String(), nil)
	if err != nil {
		return nil, fmt.Errorf("http %s request: %w", purpose, err)
	}
	// The URL is built as text and parsed back; a host with URL syntax in
	// it ("a/b", "user@h") would silently send the request elsewhere.
	if req.URL.Hostname() != host || req.URL.Port() != strconv.Itoa(port) {
		return nil, fmt.Errorf("host %q does not make a valid URL", host)
	}
	headers := make(http.Header, len(a.HTTPHeaders)+2)
	for _, h := range a.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", "kube-"+purpose+"/"+kubeVersion)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		// An explicitly empty Accept means "send none".
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// httpTransport is shared by every probe and hook: it holds no idle
// connections (keep-alives are off), so sharing it only saves allocations.
// Probes target containers whose certificates no one can verify, hence
// InsecureSkipVerify; proxies from the agent's environment must not apply to
// pod IPs.
var httpTransport = &http.Transport{
	TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives:   true,
	DisableCompression:  true,
	Proxy:               nil,
	DialContext:         probeDialer().DialContext,
	TLSHandshakeTimeout: 10 * time.Second,
}

// sameHostRedirects follows redirects only while they stay on the probed
// host; a redirect elsewhere ends the probe with the redirect response,
// which counts as a success with a warning.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func runHTTP(ctx context.Context, a *corev1.HTTPGetAction, timeout time.Duration, t Target) (Result, string) {
	req, err := newHTTPRequest(ctx, a, t, "probe")
	if err != nil {
		return Unknown, err.Error()
	}
	client := &http.Client{Timeout: timeout, Transport: httpTransport, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return Failure, err.Error()
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return Warning, fmt.Sprintf("Probe terminated redirects, Response body: %s", body)
		}
		return Success, string(body)
	}
	// The body stays out of the message: it would land in an event that any
	// reader of the namespace sees.
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode)
}

func runTCP(ctx context.Context, a *corev1.TCPSocketAction, timeout time.Duration, t Target) (Result, string) {
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return Unknown, err.Error()
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := probeDialer().DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	if err := conn.Close(); err != nil {
		return Failure, err.Error()
	}
	return Success, ""
}

func runGRPC(ctx context.Context, a *corev1.GRPCAction, timeout time.Duration, t Target) (Result, string) {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(a.Port)))
	// passthrough: the address is an IP and must not go through DNS.
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("kube-probe/"+kubeVersion),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return probeDialer().DialContext(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return Failure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch st, _ := status.FromError(err); st.Code() {
		case codes.Unimplemented:
			return Failure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())
		case codes.DeadlineExceeded:
			return Failure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout)
		}
		return Failure, fmt.Sprintf("error: health rpc probe failed: %+v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return Success, "service healthy"
}
