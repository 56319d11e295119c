// Package apiserver serves the Kubernetes REST API over the kinds in
// internal/registry, on top of internal/storage. It owns routing,
// authentication, content negotiation, discovery, OpenAPI, tables, watch
// and the mapping of errors to metav1.Status.
package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/admission/noderestriction"
	"github.com/bosun-sh/bosun/internal/audit"
	"github.com/bosun-sh/bosun/internal/auth/authn"
	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/registry"
	"github.com/bosun-sh/bosun/internal/storage"
)

// Config is what the API server needs to run.
type Config struct {
	Store *storage.Store
	Kinds []*registry.Kind
	// ServiceCIDR is the range ClusterIPs come from; its first address is
	// the kubernetes Service.
	ServiceCIDR *net.IPNet
	// NodePortMin and NodePortMax bound NodePort allocation (inclusive).
	NodePortMin, NodePortMax int
	// AdvertiseAddress and Port are where the kubernetes Service's
	// endpoints point.
	AdvertiseAddress net.IP
	Port             int
	// OpenAPI serves /openapi/v2 and /openapi/v3...; nil answers 404.
	OpenAPI http.Handler
	// Logger, or slog.Default when nil.
	Logger *slog.Logger
	// NodeTLS is the client side of connections to the node agents, for
	// pods/log, exec, attach and portforward: a client certificate the
	// agents accept and the cluster CA as RootCAs. nil answers those with
	// 503.
	NodeTLS *tls.Config
	// MaxRequestsInflight and MaxMutatingRequestsInflight bound the
	// read-only and the mutating requests served at once (long-running
	// ones and system:masters apart); 0 means the default, a negative
	// number no bound.
	MaxRequestsInflight, MaxMutatingRequestsInflight int
	// Audit, when set, records requests as AuditPolicy says (the default
	// policy when nil).
	Audit       *audit.Logger
	AuditPolicy *audit.Policy
	// TokenIssuer signs the tokens of serviceaccounts/token; nil answers
	// that subresource with 503.
	TokenIssuer *serviceaccount.Issuer
	// Authenticator establishes who makes each request; nil accepts
	// client certificates of the CAs given to Handler.
	Authenticator authn.Authenticator
	// TokenAuthenticator answers TokenReviews; nil refuses every token.
	TokenAuthenticator authn.TokenAuthenticator
	// Authorizer decides whether a request may proceed; nil allows
	// every authenticated request.
	Authorizer authorizer.Authorizer
	// RuleResolver lists a user's rules for SelfSubjectRulesReview; nil
	// answers those as incomplete.
	RuleResolver authorizer.RuleResolver
	// NodeRestriction, when set, limits what node agents may write.
	NodeRestriction *noderestriction.Plugin
}

// Server is the HTTP handler of the API.
type Server struct {
	cfg       Config
	store     *storage.Store
	log       *slog.Logger
	resources map[schema.GroupVersion]map[string]*resource
	byGVK     map[schema.GroupVersionKind]*resource
	groups    []groupInfo

	mu           sync.Mutex
	broadcasters map[*resource]*broadcaster
	watches      sync.WaitGroup
	// stopping closes when shutdown starts, to end watches.
	stopping chan struct{}
	inflight *inflight
	stopOnce sync.Once
}

// groupInfo lists the versions of one API group in preference order.
type groupInfo struct {
	name     string
	versions []string
}

// New indexes the kinds and returns a server. It does not touch storage.
func New(cfg Config) *Server {
	s := &Server{
		cfg:       cfg,
		store:     cfg.Store,
		log:       cfg.Logger,
		resources: map[schema.GroupVersion]map[string]*resource{},
		byGVK:     map[schema.GroupVersionKind]*resource{},
		stopping:  make(chan struct{}),
	}
	bound := func(n, def int) int {
		if n == 0 {
			return def
		}
		return n
	}
	if s.cfg.AuditPolicy == nil {
		s.cfg.AuditPolicy = audit.DefaultPolicy()
	}
	s.inflight = newInflight(bound(cfg.MaxRequestsInflight, DefaultMaxRequestsInflight), bound(cfg.MaxMutatingRequestsInflight, DefaultMaxMutatingRequestsInflight))
	if s.log == nil {
		s.log = slog.Default()
	}
	storedKinds := map[schema.GroupVersionKind]*registry.Kind{}
	for _, k := range cfg.Kinds {
		if k.StoredAs == nil {
			storedKinds[k.GVK] = k
		}
	}
	seenGroup := map[string]int{}
	for _, k := range cfg.Kinds {
		stored := k
		if k.StoredAs != nil {
			stored = storedKinds[k.StoredAs.GVK]
			if stored == nil {
				panic("registry: " + k.GVK.String() + " is stored as an unserved kind") // a programming error in the kind list
			}
		}
		group := stored.GVK.Group
		if group == "" {
			group = "core"
		}
		r := &resource{served: k, stored: stored, prefix: "/registry/" + group + "/" + stored.Resource + "/"}
		gv := k.GVK.GroupVersion()
		if s.resources[gv] == nil {
			s.resources[gv] = map[string]*resource{}
		}
		s.resources[gv][k.Resource] = r
		s.byGVK[k.GVK] = r
		i, ok := seenGroup[gv.Group]
		if !ok {
			i = len(s.groups)
			seenGroup[gv.Group] = i
			s.groups = append(s.groups, groupInfo{name: gv.Group})
		}
		g := &s.groups[i]
		if !contains(g.versions, gv.Version) {
			g.versions = append(g.versions, gv.Version)
		}
	}
	// Prefer v2 over v1 (autoscaling), as Kubernetes does.
	for i := range s.groups {
		sortVersions(s.groups[i].versions)
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// resourceFor returns the served resource, or nil.
func (s *Server) resourceFor(gv schema.GroupVersion, name string) *resource {
	return s.resources[gv][name]
}

// broadcasterFor returns the shared watch of a resource's storage.
// Resources stored together (HPA v1 and v2) still get one each, since
// their watchers decode to different kinds.
func (s *Server) broadcasterFor(rs *resource) *broadcaster {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broadcasters == nil {
		s.broadcasters = map[*resource]*broadcaster{}
	}
	b := s.broadcasters[rs]
	if b == nil {
		b = newBroadcaster(s.store, rs)
		s.broadcasters[rs] = b
	}
	return b
}

// Shutdown ends all watches and waits for them to return, or for ctx.
func (s *Server) Shutdown(ctx context.Context) {
	s.stopOnce.Do(func() { close(s.stopping) })
	done := make(chan struct{})
	go func() { s.watches.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// publicPaths answer without authentication.
var publicPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true}

// Handler returns the API's HTTP handler. Every request but those for
// publicPaths must authenticate: through Config.Authenticator, or when
// that is nil with a client certificate that verifies against clientCAs.
func (s *Server) Handler(clientCAs *x509.CertPool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/livez", s.serveHealth)
	mux.HandleFunc("/readyz", s.serveReady)
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/api", s.serveLegacyDiscovery)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveGroupDiscovery)
	mux.HandleFunc("/apis/", s.serveAPI)
	if s.cfg.OpenAPI != nil {
		mux.Handle("/openapi/", s.cfg.OpenAPI)
	}
	// Go's profiler, as kube-apiserver's --profiling serves it, for
	// authenticated clients only: `kubectl get --raw
	// /debug/pprof/profile?seconds=30 > cpu.prof`.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	authenticator := s.cfg.Authenticator
	if authenticator == nil {
		authenticator = &authn.X509{Roots: clientCAs}
	}
	return s.authenticate(authenticator, mux)
}

func (s *Server) authenticate(authenticator authn.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeStatus(w, r, newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "Internal error occurred: the server could not handle the request").s)
			}
		}()
		if publicPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ra := s.attributesOf(r)
		u, ok, err := authenticator.Authenticate(r)
		if !ok {
			if err != nil {
				s.log.Debug("authentication failed", "path", r.URL.Path, "err", err)
			}
			u = &user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
		}
		// The credentials are spent; nothing downstream (a proxied
		// request above all) gets to see them.
		r.Header.Del("Authorization")
		var acting *user.Info
		var refused error
		if ok {
			acting, refused = s.impersonate(r.Context(), r, u)
		}
		if s.cfg.Audit != nil {
			rec := s.beginAudit(r, &ra, u, acting)
			defer func() {
				if p := recover(); p != nil {
					rec.Panic(p)
					panic(p)
				}
				rec.End()
			}()
			w = rec.WrapWriter(w)
			r = r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
		}
		if !ok {
			writeStatus(w, r, newStatus(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized").s)
			return
		}
		if refused != nil {
			writeStatus(w, r, toStatus(refused, schema.GroupResource{}, ""))
			return
		}
		if acting == nil {
			acting = u
		}
		a := authorizerAttributes(&ra, acting)
		if err := s.authorize(r.Context(), &a); err != nil {
			writeStatus(w, r, toStatus(err, schema.GroupResource{}, ""))
			return
		}
		r = r.WithContext(withUser(r.Context(), acting))
		s.inflight.serve(w, r, acting.Groups, ra.longRunning(r), next)
	})
}

// auditKey carries a request's audit record, so that an error answer can
// say in it why the request failed.
type auditKey struct{}

// beginAudit starts the audit record of a request with attributes a, made
// by u acting as impersonated (nil when it impersonates nobody).
func (s *Server) beginAudit(r *http.Request, a *requestAttributes, u, impersonated *user.Info) *audit.Recorder {
	attrs := audit.Attributes{
		User: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra,
		Verb: a.verb, APIGroup: a.apiGroup, APIVersion: a.apiVersion,
		Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Name: a.name,
		Path: a.path, LongRunning: a.longRunning(r),
	}
	if impersonated != nil {
		attrs.Impersonated = auditUser(impersonated)
	}
	if !a.resourceRequest {
		attrs.Resource, attrs.APIVersion = "", ""
	}
	return s.cfg.Audit.Begin(r, attrs, s.cfg.AuditPolicy.Evaluate(attrs))
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// serveReady answers ok only while etcd answers.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.Rev(ctx); err != nil {
		http.Error(w, "[-]etcd failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// isNamespaced tells parsePath whether a resource of gv is namespaced,
// and whether it is served at all.
func (s *Server) isNamespaced(gv schema.GroupVersion, resource string) (namespaced, known bool) {
	rs := s.resourceFor(gv, resource)
	if rs == nil {
		return false, false
	}
	return rs.served.Namespaced, true
}

// serveAPI routes a resource request.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// Discovery of one group-version: /api/v1, /apis/apps/v1, /apis/apps.
	if (parts[0] == "api" && len(parts) == 2) || (parts[0] == "apis" && len(parts) <= 3) {
		s.serveDiscovery(w, r, parts)
		return
	}
	t, ok := parsePath(path, s.isNamespaced)
	if !ok {
		writeStatus(w, r, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource").s)
		return
	}
	rs := s.resourceFor(t.gv, t.resource)
	if rs == nil {
		writeStatus(w, r, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource").s)
		return
	}
	if t.namespace != "" && !rs.served.Namespaced {
		writeStatus(w, r, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource").s)
		return
	}
	h := &handler{s: s, rs: rs, t: t}
	if rs.served.Review {
		h.serveReview(w, r)
		return
	}
	h.serve(w, r)
}
