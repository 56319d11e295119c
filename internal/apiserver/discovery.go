package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/bosun-sh/bosun/internal/registry"
)

// Version is what /version reports: the Kubernetes API level of the
// types bosun serves.
var Version = version.Info{
	Major: "1", Minor: "37", GitVersion: "v1.37.2+bosun",
	GitTreeState: "clean", BuildDate: "", GoVersion: runtime.Version(),
	Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	data, _ := fastJSON.Marshal(Version)
	writeRaw(w, http.StatusOK, data)
}

var verbsAll = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// verbsOf is what discovery says a kind serves: reviews are only created.
func verbsOf(k *registry.Kind) metav1.Verbs {
	if k.Review {
		return metav1.Verbs{"create"}
	}
	return verbsAll
}

// subresources lists the subresources of a resource with their verbs and
// response kinds.
func (s *Server) subresources(rs *resource) []apidiscoveryv2.APISubresourceDiscovery {
	var out []apidiscoveryv2.APISubresourceDiscovery
	gvk := rs.served.GVK
	add := func(name string, kind schema.GroupVersionKind, verbs ...string) {
		out = append(out, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  name,
			ResponseKind: &metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind},
			Verbs:        verbs,
		})
	}
	if rs.stored.HasStatus {
		add("status", gvk, "get", "patch", "update")
	}
	if rs.served.Scale != nil {
		add("scale", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, "get", "patch", "update")
	}
	if gvk.Group == "" && gvk.Kind == "Pod" {
		add("attach", schema.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"}, "create", "get")
		add("binding", schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, "create")
		add("eviction", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, "create")
		add("exec", schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, "create", "get")
		add("log", gvk, "get")
		add("portforward", schema.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}, "create", "get")
	}
	if gvk.Group == "" && gvk.Kind == "Namespace" {
		add("finalize", gvk, "update")
	}
	if gvk.Group == "" && gvk.Kind == "Node" {
		add("proxy", schema.GroupVersionKind{Version: "v1", Kind: "NodeProxyOptions"}, "get")
	}
	if gvk.Group == "certificates.k8s.io" && gvk.Kind == "CertificateSigningRequest" {
		add("approval", gvk, "get", "patch", "update")
	}
	if gvk.Group == "" && gvk.Kind == "ServiceAccount" {
		add("token", schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, "create")
	}
	return out
}

// resourceList is the legacy discovery document of one group-version.
func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	l := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, rs := range s.sortedResources(gv) {
		k := rs.served
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.GVK.Kind,
			Verbs: verbsOf(k), ShortNames: k.ShortNames, Categories: k.Categories,
			StorageVersionHash: storageVersionHash(rs),
		})
		for _, sub := range s.subresources(rs) {
			r := metav1.APIResource{Name: k.Resource + "/" + sub.Subresource, Namespaced: k.Namespaced, Kind: sub.ResponseKind.Kind, Verbs: sub.Verbs}
			// Group and version are given only when they differ from the
			// resource's own, as Kubernetes does (scale, eviction).
			if sub.ResponseKind.Group != gv.Group || sub.ResponseKind.Version != gv.Version {
				r.Group, r.Version = sub.ResponseKind.Group, sub.ResponseKind.Version
			}
			l.APIResources = append(l.APIResources, r)
		}
	}
	return l
}

func storageVersionHash(rs *resource) string {
	sum := sha256.Sum256([]byte(rs.stored.GVK.String()))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

func (s *Server) sortedResources(gv schema.GroupVersion) []*resource {
	var out []*resource
	for _, rs := range s.resources[gv] {
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].served.Resource < out[j].served.Resource })
	return out
}

// sortVersions orders versions newest first (v2 before v1, v1 before
// v1beta1), as discovery prefers them.
func sortVersions(v []string) {
	rank := func(s string) (int, int) {
		n, stage := 0, 2
		rest := strings.TrimPrefix(s, "v")
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, _ = strconv.Atoi(rest[:i])
		switch {
		case strings.HasPrefix(rest[i:], "beta"):
			stage = 1
		case strings.HasPrefix(rest[i:], "alpha"):
			stage = 0
		}
		return stage, n
	}
	sort.SliceStable(v, func(i, j int) bool {
		si, ni := rank(v[i])
		sj, nj := rank(v[j])
		if si != sj {
			return si > sj
		}
		return ni > nj
	})
}

// wantsAggregated returns the apidiscovery version the client asks for
// ("v2", "v2beta1") or "".
func wantsAggregated(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, p, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == mediaJSON && p["g"] == "apidiscovery.k8s.io" && p["as"] == "APIGroupDiscoveryList" && (p["v"] == "v2" || p["v"] == "v2beta1") {
			return p["v"]
		}
		if mt == mediaJSON && p["g"] == "" {
			return ""
		}
	}
	return ""
}

func (s *Server) aggregated(w http.ResponseWriter, vers string, legacy bool) {
	l := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/" + vers}}
	for _, g := range s.groups {
		if (g.name == "") != legacy {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		for _, v := range g.versions {
			gv := schema.GroupVersion{Group: g.name, Version: v}
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, rs := range s.sortedResources(gv) {
				k := rs.served
				scope := apidiscoveryv2.ScopeCluster
				if k.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				vd.Resources = append(vd.Resources, apidiscoveryv2.APIResourceDiscovery{
					Resource:         k.Resource,
					ResponseKind:     &metav1.GroupVersionKind{Group: k.GVK.Group, Version: k.GVK.Version, Kind: k.GVK.Kind},
					Scope:            scope,
					SingularResource: k.Singular,
					Verbs:            verbsOf(k),
					ShortNames:       k.ShortNames,
					Categories:       k.Categories,
					Subresources:     s.subresources(rs),
				})
			}
			gd.Versions = append(gd.Versions, vd)
		}
		l.Items = append(l.Items, gd)
	}
	data, _ := fastJSON.Marshal(l)
	w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v="+vers+";as=APIGroupDiscoveryList")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

func (s *Server) serveLegacyDiscovery(w http.ResponseWriter, r *http.Request) {
	if v := wantsAggregated(r); v != "" {
		s.aggregated(w, v, true)
		return
	}
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, strconv.Itoa(s.cfg.Port))
	}
	obj := &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}},
	}
	s.writeDiscovery(w, r, obj)
}

func (s *Server) writeDiscovery(w http.ResponseWriter, r *http.Request, obj kruntime.Object) {
	media := mediaJSON
	if f, ok := negotiate(r, nil); ok && f.media == mediaYAML {
		media = mediaYAML
	}
	w.Header().Set("Vary", "Accept")
	writeObject(w, http.StatusOK, media, obj)
}

func (s *Server) apiGroup(g groupInfo) metav1.APIGroup {
	ag := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g.name}
	for _, v := range g.versions {
		ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + v, Version: v})
	}
	ag.PreferredVersion = ag.Versions[0]
	return ag
}

func (s *Server) serveGroupDiscovery(w http.ResponseWriter, r *http.Request) {
	if v := wantsAggregated(r); v != "" {
		s.aggregated(w, v, false)
		return
	}
	l := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range s.groups {
		if g.name != "" {
			ag := s.apiGroup(g)
			ag.TypeMeta = metav1.TypeMeta{}
			l.Groups = append(l.Groups, ag)
		}
	}
	s.writeDiscovery(w, r, l)
}

// serveDiscovery answers /api/v1, /apis/GROUP and /apis/GROUP/VERSION.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, parts []string) {
	notFound := func() {
		writeStatus(w, r, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource").s)
	}
	if r.Method != http.MethodGet {
		writeStatus(w, r, errMethodNotAllowed(r.Method).(*statusError).s)
		return
	}
	if parts[0] == "api" {
		if parts[1] != "v1" {
			notFound()
			return
		}
		s.writeDiscovery(w, r, s.resourceList(schema.GroupVersion{Version: "v1"}))
		return
	}
	if len(parts) == 2 {
		for _, g := range s.groups {
			if g.name == parts[1] && g.name != "" {
				ag := s.apiGroup(g)
				s.writeDiscovery(w, r, &ag)
				return
			}
		}
		notFound()
		return
	}
	gv := schema.GroupVersion{Group: parts[1], Version: parts[2]}
	if len(s.resources[gv]) == 0 {
		notFound()
		return
	}
	s.writeDiscovery(w, r, s.resourceList(gv))
}
