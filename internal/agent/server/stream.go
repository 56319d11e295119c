package server

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/httpstream"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime streaming servers built on the kubelet's old streaming library
// (containerd 1.6 among them) speak SPDY, and WebSocket with these
// subprotocols only: the v4 channel protocols and their predecessors, none
// meaning channel.k8s.io. Current clients offer WebSocket first with
// v5.channel.k8s.io (exec, attach) or SPDY/3.1+portforward.k8s.io (a SPDY
// tunnel over WebSocket, port-forward) and fall back to SPDY when the
// WebSocket upgrade fails with a non-101 answer. Refusing those offers here,
// before asking the runtime for a one-time URL, makes that fallback
// immediate and its reason readable with kubectl -v=4.
var runtimeWebSocketProtocols = []string{"", "channel.k8s.io", "base64.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"}

// streamOptions are the exec and attach query parameters.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(q url.Values) (streamOptions, error) {
	o := streamOptions{
		stdin: queryBool(q, "stdin"), stdout: queryBool(q, "stdout"),
		stderr: queryBool(q, "stderr"), tty: queryBool(q, "tty"),
	}
	// With a terminal, the container's stderr goes to the terminal too.
	if o.tty {
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// checkUpgrade answers requests the runtime's streaming server cannot take
// and reports whether it did.
func checkUpgrade(w http.ResponseWriter, r *http.Request) bool {
	if !httpstream.IsUpgradeRequest(r) {
		writeStatus(w, apierrors.NewBadRequest("Upgrade request required"))
		return true
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	offered := []string{""}
	if v := r.Header.Values("Sec-WebSocket-Protocol"); len(v) > 0 {
		offered = nil
		for _, line := range v {
			for p := range strings.SplitSeq(line, ",") {
				offered = append(offered, strings.TrimSpace(p))
			}
		}
	}
	for _, p := range offered {
		if slices.Contains(runtimeWebSocketProtocols, p) {
			return false
		}
	}
	writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("the container runtime's streaming server supports none of the WebSocket subprotocols %q; use SPDY", offered)))
	return true
}

// serveExec serves /exec/{ns}/{pod}/{container}?command=…&stdin=&stdout=&stderr=&tty=.
func (h *handler) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 {
		writeStatus(w, apierrors.NewBadRequest("you must specify at least one command for the container"))
		return
	}
	o, err := parseStreamOptions(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if checkUpgrade(w, r) {
		return
	}
	ref, err := h.runningContainer(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	resp, err := h.rt.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: ref.ID, Cmd: cmd, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr,
	})
	if err != nil {
		writeStatus(w, fmt.Errorf("exec in container %s: %w", ref.ID, err))
		return
	}
	h.proxy(w, r, resp.GetUrl())
}

// serveAttach serves /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=.
func (h *handler) serveAttach(w http.ResponseWriter, r *http.Request) {
	o, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, err)
		return
	}
	if checkUpgrade(w, r) {
		return
	}
	ref, err := h.runningContainer(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	resp, err := h.rt.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: ref.ID, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr,
	})
	if err != nil {
		writeStatus(w, fmt.Errorf("attach to container %s: %w", ref.ID, err))
		return
	}
	h.proxy(w, r, resp.GetUrl())
}

// servePortForward serves /portForward/{ns}/{pod}. SPDY clients name the
// ports in each stream's headers; WebSocket clients in port= parameters.
func (h *handler) servePortForward(w http.ResponseWriter, r *http.Request) {
	var ports []int32
	for _, v := range r.URL.Query()["port"] {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil || p == 0 {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", v)))
			return
		}
		ports = append(ports, int32(p))
	}
	if checkUpgrade(w, r) {
		return
	}
	sandbox, err := h.pods.Sandbox(r.Context(), r.PathValue("ns"), r.PathValue("pod"))
	if err != nil {
		writeStatus(w, err)
		return
	}
	resp, err := h.rt.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sandbox, Port: ports})
	if err != nil {
		writeStatus(w, fmt.Errorf("port-forward to pod sandbox %s: %w", sandbox, err))
		return
	}
	h.proxy(w, r, resp.GetUrl())
}

// runningContainer finds the container a stream request names, which must
// be running.
func (h *handler) runningContainer(r *http.Request) (ContainerRef, error) {
	pod, container := r.PathValue("pod"), r.PathValue("container")
	ref, err := h.pods.Container(r.Context(), r.PathValue("ns"), pod, container, false)
	if err != nil {
		return ref, err
	}
	if !ref.Running {
		return ref, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not running", container, pod))
	}
	return ref, nil
}

// proxy hands the request to the runtime's streaming server at rawURL,
// a one-time URL the runtime just issued. httputil.ReverseProxy passes the
// 101 Switching Protocols through and then copies bytes both ways until
// either side closes.
func (h *handler) proxy(w http.ResponseWriter, r *http.Request, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() {
		writeStatus(w, fmt.Errorf("the container runtime returned an unusable streaming URL %q", rawURL))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
			pr.Out.Host = u.Host
		},
		Transport:     h.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.log.Warn("proxying a stream to the container runtime", "path", r.URL.Path, "err", err)
			writeStatus(w, fmt.Errorf("the container runtime's streaming server: %w", err))
		},
	}
	rp.ServeHTTP(w, r)
}
