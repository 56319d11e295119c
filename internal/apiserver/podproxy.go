package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/storage"
)

// defaultKubeletPort is where a node's agent listens when the node does
// not say (status.daemonEndpoints.kubeletEndpoint.Port).
const defaultKubeletPort = 10250

// podStreams are the pod subresources served by the agent on the pod's
// node, with the agent's path for each.
var podStreams = map[string]string{
	"log":         "/containerLogs",
	"exec":        "/exec",
	"attach":      "/attach",
	"portforward": "/portForward",
}

// servePodStream serves pods/log, pods/exec, pods/attach and
// pods/portforward by proxying the request to the agent on the pod's node.
//
// exec, attach and port-forward are upgraded connections (SPDY or
// WebSocket) that pass through this proxy and the agent untouched to the
// container runtime's streaming server, so client and runtime negotiate
// the protocol between themselves. That runtime (containerd 1.6) speaks
// WebSocket only up to v4.channel.k8s.io, while current kubectl first tries
// v5.channel.k8s.io (exec, attach) or a SPDY tunnel over WebSocket
// (port-forward). The agent refuses those offers with a plain 400 Status;
// client-go treats any non-101 answer to its WebSocket upgrade as an
// upgrade failure and retries over SPDY, which the runtime speaks. A
// translating proxy here would buy nothing until runtimes speak v5.
func (h *handler) servePodStream(w http.ResponseWriter, r *http.Request) {
	sub := h.t.subresource
	if r.Method != http.MethodGet && (sub == "log" || r.Method != http.MethodPost) {
		writeStatus(w, r, toStatus(errMethodNotAllowed(r.Method), h.rs.gr(), h.t.name))
		return
	}
	if h.s.cfg.NodeTLS == nil {
		writeStatus(w, r, newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "node streaming is not configured").s)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	target, node, err := h.podStreamTarget(ctx, r.URL.Query())
	cancel()
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), h.t.name))
		return
	}
	if target == nil {
		// Logs of a pod no node has taken yet are empty, as in Kubernetes.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	}
	h.proxyToNode(w, r, target, node, sub)
}

// proxyToNode forwards the request to an agent URL, upgrades and streamed
// bodies included.
func (h *handler) proxyToNode(w http.ResponseWriter, r *http.Request, target *url.URL, node, what string) {
	tlsConfig := h.s.cfg.NodeTLS.Clone()
	// Upgrades need an HTTP/1.1 connection to the agent.
	tlsConfig.NextProtos = []string{"http/1.1"}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The agent authenticates this server by its own certificate;
			// the client's credentials stay here.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			// One connection per request: log streams and upgrades hold
			// theirs for their whole life, and there is nothing to pool.
			DisableKeepAlives: true,
		},
		// Followed logs must reach the client line by line.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.s.log.Warn("proxying to node", "node", node, "request", what, "object", h.t.namespace+"/"+h.t.name, "err", err)
			writeStatus(w, r, newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError,
				fmt.Sprintf("error trying to reach node %q: %v", node, err)).s)
		},
	}
	rp.ServeHTTP(w, r)
}

// serveNodeProxy serves GET nodes/NAME/proxy/PATH from the node's agent:
// /stats/summary and /healthz, as metrics pipelines read them.
func (h *handler) serveNodeProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeStatus(w, r, toStatus(errMethodNotAllowed(r.Method), h.rs.gr(), h.t.name))
		return
	}
	if h.s.cfg.NodeTLS == nil {
		writeStatus(w, r, newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "node proxying is not configured").s)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	addr, err := h.nodeAddress(ctx, h.t.name)
	cancel()
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), h.t.name))
		return
	}
	target := &url.URL{Scheme: "https", Host: addr, Path: "/" + h.t.proxyPath, RawQuery: r.URL.RawQuery}
	h.proxyToNode(w, r, target, h.t.name, "proxy")
}

// podStreamTarget validates the request against the pod as Kubernetes does
// and returns the agent URL to proxy to and the node's name. A nil URL
// without error means there is nothing to proxy to: logs of a pod without
// a node.
func (h *handler) podStreamTarget(ctx context.Context, q url.Values) (*url.URL, string, error) {
	obj, _, err := h.rs.get(ctx, h.s.store, h.t.namespace, h.t.name)
	if err != nil {
		return nil, "", err
	}
	pod := obj.(*corev1.Pod)
	name, sub := h.t.name, h.t.subresource

	var path string
	params := url.Values{}
	switch sub {
	case "portforward":
		path = "/portForward/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(name)
		for _, p := range q["ports"] {
			params.Add("port", p)
		}
	default:
		container, err := podContainer(pod, q.Get("container"), sub == "log")
		if err != nil {
			return nil, "", err
		}
		path = podStreams[sub] + "/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(name) + "/" + url.PathEscape(container)
		keep := []string{"stdin", "stdout", "stderr", "tty", "command"}
		if sub == "log" {
			keep = []string{"follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime"}
		}
		for _, k := range keep {
			if v, ok := q[k]; ok {
				params[k] = v
			}
		}
	}
	if pod.Spec.NodeName == "" {
		if sub == "log" {
			return nil, "", nil
		}
		return nil, "", errBadRequest("pod %s does not have a host assigned", name)
	}
	host, err := h.nodeAddress(ctx, pod.Spec.NodeName)
	if err != nil {
		return nil, "", err
	}
	return &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: params.Encode()}, pod.Spec.NodeName, nil
}

// podContainer picks the container a request names, defaulting to the only
// one, with Kubernetes' messages. Logs list the init containers as choices
// too.
func podContainer(pod *corev1.Pod, container string, withInit bool) (string, error) {
	names := func(cs []corev1.Container) string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return strings.Join(n, " ")
	}
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", errBadRequest("a container name must be specified for pod %s", pod.Name)
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, names(pod.Spec.Containers))
		if withInit && len(pod.Spec.InitContainers) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", names(pod.Spec.InitContainers))
		}
		return "", errBadRequest("%s", msg)
	}
	has := func(c corev1.Container) bool { return c.Name == container }
	if slices.ContainsFunc(pod.Spec.Containers, has) || slices.ContainsFunc(pod.Spec.InitContainers, has) ||
		slices.ContainsFunc(pod.Spec.EphemeralContainers, func(c corev1.EphemeralContainer) bool { return c.Name == container }) {
		return container, nil
	}
	return "", errBadRequest("container %s is not valid for pod %s", container, pod.Name)
}

// nodeAddress returns host:port of the agent on node: its InternalIP,
// else its Hostname, else its ExternalIP, and the port it advertises.
func (h *handler) nodeAddress(ctx context.Context, nodeName string) (string, error) {
	nrs := h.s.byGVK[corev1.SchemeGroupVersion.WithKind("Node")]
	obj, _, err := nrs.get(ctx, h.s.store, "", nodeName)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", errNotFound(nrs.gr(), nodeName)
		}
		return "", fmt.Errorf("node %s: %w", nodeName, err)
	}
	node := obj.(*corev1.Node)
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultKubeletPort
	}
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeExternalIP} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return net.JoinHostPort(a.Address, strconv.Itoa(port)), nil
			}
		}
	}
	return "", errBadRequest("node %s has no address to reach its agent at", nodeName)
}
