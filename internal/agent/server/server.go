// Package server is the node agent's HTTPS endpoint, on the kubelet's paths
// and port, that the API server proxies pods/log, pods/exec, pods/attach and
// pods/portforward to. Logs are read from the container's CRI log file here;
// exec, attach and port-forward ask the container runtime (CRI) for a
// streaming URL and reverse-proxy the upgraded connection to the runtime's
// own streaming server, so SPDY or WebSocket is negotiated end to end between
// the client and the runtime. The package owns the HTTP surface only: which
// pods and containers exist is the kubelet's business, behind Pods.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultPort is the kubelet's port, which nodes advertise in
// status.daemonEndpoints.kubeletEndpoint.
const DefaultPort = 10250

// Pods finds the containers and sandboxes of the pods on this node.
type Pods interface {
	// Container finds container `container` of pod ns/name on this node.
	// previous selects the last terminated instance. Errors are
	// *apierrors.StatusError with the kubelet's messages (pod not found
	// 404; `container "c" in pod "p" is waiting to start:
	// ContainerCreating` 400; `previous terminated container "c" in pod
	// "p" not found` 400).
	Container(ctx context.Context, ns, pod, container string, previous bool) (ContainerRef, error)
	// Sandbox returns the CRI pod sandbox ID of a running pod.
	Sandbox(ctx context.Context, ns, pod string) (string, error)
}

// ContainerRef names one container instance in the runtime.
type ContainerRef struct {
	// ID is the CRI container ID.
	ID string
	// LogPath is the container's CRI log file.
	LogPath string
	// Running is whether the container ran when it was looked up.
	Running bool
}

// mastersGroup is the one group allowed in until the agent authorizes
// requests properly; the API server's client certificate is in it.
const mastersGroup = "system:masters"

type handler struct {
	pods Pods
	rt   runtimeapi.RuntimeServiceClient
	log  *slog.Logger
	// transport reaches the runtime's streaming server. It must not use
	// proxies from the environment: the server is on loopback.
	transport http.RoundTripper
}

// New returns the agent's HTTP handler. It answers every request whose
// client certificate is not in system:masters with 403.
func New(pods Pods, rt runtimeapi.RuntimeServiceClient, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{
		pods: pods, rt: rt, log: log,
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			// Each streaming URL is used once; keeping idle connections to
			// the runtime buys nothing.
			DisableKeepAlives: true,
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/containerLogs/{ns}/{pod}/{container}", h.methods(h.serveLogs, http.MethodGet))
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", h.methods(h.serveExec, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/attach/{ns}/{pod}/{container}", h.methods(h.serveAttach, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/portForward/{ns}/{pod}", h.methods(h.servePortForward, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/stats/summary", h.methods(h.serveStats, http.MethodGet))
	// Go's profiler, as the kubelet serves it: `kubectl get --raw
	// /api/v1/nodes/NAME/proxy/debug/pprof/profile?seconds=30 > cpu.prof`.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, apierrors.NewNotFound(schemaNodes, r.URL.Path))
	})
	return authorize(mux)
}

// methods answers 405 to a request with another method.
func (h *handler) methods(f http.HandlerFunc, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allowed, r.Method) {
			writeStatus(w, apierrors.NewMethodNotSupported(schemaNodes, r.Method))
			return
		}
		f(w, r)
	}
}

// authorize lets in clients whose verified certificate is in
// system:masters, and anyone verified to /healthz.
func authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		user := "system:anonymous"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cert := r.TLS.VerifiedChains[0][0]
			if slices.Contains(cert.Subject.Organization, mastersGroup) {
				next.ServeHTTP(w, r)
				return
			}
			user = cert.Subject.CommonName
		}
		verb := "create"
		if r.Method == http.MethodGet {
			verb = "get"
		}
		writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", user, verb),
		}})
	})
}

// ListenAndServe serves h over TLS on addr until ctx ends. Clients must
// present a certificate signed by clientCAs.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, cert tls.Certificate, clientCAs *x509.CertPool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h, cert, clientCAs)
}

// Serve is ListenAndServe on a listener the caller opened; it closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cert tls.Certificate, clientCAs *x509.CertPool) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
			MinVersion:   tls.VersionTLS12,
			// Upgraded streams need HTTP/1.1 connections to hijack.
			NextProtos: []string{"http/1.1"},
		},
		// Streams and followed logs end with the agent.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	return nil
}

// writeStatus writes err as the metav1.Status the API server passes on to
// the client; errors that carry none become 500s.
func writeStatus(w http.ResponseWriter, err error) {
	var st metav1.Status
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).Status()
	}
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	data, mErr := json.Marshal(st)
	if mErr != nil {
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	w.Write(data)
}
