package ingress

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// backend is where matching requests go: the ready endpoints of one
// Service port, or the reason there are none.
type backend struct {
	name        string   // namespace/service:port, for messages
	endpoints   []string // host:port of ready endpoints
	unavailable string   // why requests get 503; set when endpoints is empty
	next        atomic.Uint32
}

// hostRules are the paths of one host (or of all hosts, for rules without
// one), merged over every Ingress that names it.
type hostRules struct {
	exact  map[string]*backend
	prefix map[string]*backend // keyed by prefixKey
}

func (h *hostRules) lookup(p string) *backend {
	if h == nil {
		return nil
	}
	if b, ok := h.exact[p]; ok {
		return b
	}
	var found *backend
	prefixCandidates(p, func(key string) bool {
		found = h.prefix[key]
		return found != nil
	})
	return found
}

// table is one immutable routing configuration. Requests load the
// current table once and keep it, so a reload never changes a request
// half way.
type table struct {
	exact          map[string]*hostRules // by lower-case host
	wildcard       map[string]*hostRules // by the suffix after "*."
	anyHost        *hostRules
	defaultBackend *backend

	certs     map[string]*tls.Certificate // by exact SNI name
	wildCerts map[string]*tls.Certificate // by the suffix after "*."
	anyCert   *tls.Certificate            // from a tls entry without hosts
}

// lookup finds the backend for a request's Host header and path: exact
// host rules first, then wildcard rules, then rules without a host, then
// the default backend. It is nil when nothing matches.
func (t *table) lookup(host, p string) *backend {
	host = normalizeHost(host)
	if b := t.exact[host].lookup(p); b != nil {
		return b
	}
	if suffix, ok := wildcardSuffix(host); ok {
		if b := t.wildcard[suffix].lookup(p); b != nil {
			return b
		}
	}
	if b := t.anyHost.lookup(p); b != nil {
		return b
	}
	return t.defaultBackend
}

// certificate picks the certificate for a TLS ClientHello's server name,
// or nil when no Ingress has one for it.
func (t *table) certificate(serverName string) *tls.Certificate {
	name := normalizeHost(serverName)
	if c := t.certs[name]; c != nil {
		return c
	}
	if suffix, ok := wildcardSuffix(name); ok {
		if c := t.wildCerts[suffix]; c != nil {
			return c
		}
	}
	return t.anyCert
}

// state is everything one table is built from.
type state struct {
	ingresses []*networkingv1.Ingress // only those served, in any order
	services  []*corev1.Service
	slices    []*discoveryv1.EndpointSlice
	secrets   []*corev1.Secret
}

// certSource turns a TLS Secret into a certificate; the controller's
// source caches and logs, tests may use parseCertificate directly.
type certSource func(*corev1.Secret) (*tls.Certificate, error)

// build makes the routing table for s. Ingresses are merged oldest
// first, so on an identical host, path and type the oldest one wins.
func build(s state, certs certSource) *table {
	t := &table{
		exact:     map[string]*hostRules{},
		wildcard:  map[string]*hostRules{},
		anyHost:   newHostRules(),
		certs:     map[string]*tls.Certificate{},
		wildCerts: map[string]*tls.Certificate{},
	}
	r := newResolver(s)
	ings := append([]*networkingv1.Ingress(nil), s.ingresses...)
	sort.Slice(ings, func(i, j int) bool { return older(ings[i], ings[j]) })
	secrets := map[string]*corev1.Secret{}
	for _, sec := range s.secrets {
		secrets[sec.Namespace+"/"+sec.Name] = sec
	}
	for _, ing := range ings {
		if db := ing.Spec.DefaultBackend; db != nil && t.defaultBackend == nil {
			t.defaultBackend = r.backend(ing.Namespace, db)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			h := t.rulesFor(rule.Host)
			if h == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				h.add(p, func() *backend { return r.backend(ing.Namespace, &p.Backend) })
			}
		}
		for _, tl := range ing.Spec.TLS {
			sec := secrets[ing.Namespace+"/"+tl.SecretName]
			if sec == nil || certs == nil {
				continue
			}
			cert, err := certs(sec)
			if err != nil {
				continue
			}
			t.addCert(tl.Hosts, cert)
		}
	}
	return t
}

// older orders Ingresses by age, then by namespace/name, so merging is
// the same on every node and every reload.
func older(a, b *networkingv1.Ingress) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func newHostRules() *hostRules {
	return &hostRules{exact: map[string]*backend{}, prefix: map[string]*backend{}}
}

// rulesFor returns the rules of a rule host, creating them; nil for a
// host no request could match, such as a bare "*".
func (t *table) rulesFor(host string) *hostRules {
	host = lowerASCII(strings.TrimSuffix(host, "."))
	m := t.exact
	switch {
	case host == "":
		return t.anyHost
	case strings.HasPrefix(host, "*."):
		m, host = t.wildcard, host[2:]
		if host == "" {
			return nil
		}
	case strings.Contains(host, "*"):
		return nil
	}
	h := m[host]
	if h == nil {
		h = newHostRules()
		m[host] = h
	}
	return h
}

// add records one path unless an older Ingress already claimed the same
// path and type; resolving the backend is deferred until it is needed.
func (h *hostRules) add(p networkingv1.HTTPIngressPath, resolve func() *backend) {
	path := p.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return
	}
	m, key := h.prefix, prefixKey(path)
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		m, key = h.exact, path
	}
	if _, taken := m[key]; !taken {
		m[key] = resolve()
	}
}

func (t *table) addCert(hosts []string, cert *tls.Certificate) {
	if len(hosts) == 0 {
		if t.anyCert == nil {
			t.anyCert = cert
		}
		return
	}
	for _, h := range hosts {
		h = lowerASCII(strings.TrimSuffix(h, "."))
		m := t.certs
		if strings.HasPrefix(h, "*.") {
			m, h = t.wildCerts, h[2:]
		}
		if _, taken := m[h]; !taken && h != "" {
			m[h] = cert
		}
	}
}

// resolver finds the endpoints behind Ingress backends, sharing one
// backend (and so one round-robin counter) per Service port.
type resolver struct {
	services map[string]*corev1.Service
	slices   map[string][]*discoveryv1.EndpointSlice // by namespace/service
	made     map[string]*backend
}

func newResolver(s state) *resolver {
	r := &resolver{
		services: map[string]*corev1.Service{},
		slices:   map[string][]*discoveryv1.EndpointSlice{},
		made:     map[string]*backend{},
	}
	for _, svc := range s.services {
		r.services[svc.Namespace+"/"+svc.Name] = svc
	}
	for _, sl := range s.slices {
		if name := sl.Labels[discoveryv1.LabelServiceName]; name != "" {
			k := sl.Namespace + "/" + name
			r.slices[k] = append(r.slices[k], sl)
		}
	}
	return r
}

func (r *resolver) backend(namespace string, ib *networkingv1.IngressBackend) *backend {
	if ib.Service == nil {
		name := "resource backend"
		if ib.Resource != nil {
			name = fmt.Sprintf("%s/%s %s", namespace, ib.Resource.Kind, ib.Resource.Name)
		}
		return &backend{name: name, unavailable: "resource backends are not supported"}
	}
	port := ib.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(ib.Service.Port.Number))
	}
	key := namespace + "/" + ib.Service.Name + ":" + port
	if b := r.made[key]; b != nil {
		return b
	}
	b := &backend{name: key}
	r.made[key] = b
	svc := r.services[namespace+"/"+ib.Service.Name]
	if svc == nil {
		b.unavailable = "service not found"
		return b
	}
	sp, ok := servicePort(svc, ib.Service.Port)
	if !ok {
		b.unavailable = "service has no such port"
		return b
	}
	b.endpoints = readyEndpoints(r.slices[namespace+"/"+svc.Name], sp.Name)
	if len(b.endpoints) == 0 {
		b.unavailable = "no ready endpoints"
	}
	return b
}

func servicePort(svc *corev1.Service, want networkingv1.ServiceBackendPort) (corev1.ServicePort, bool) {
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (want.Name != "" && sp.Name == want.Name) || (want.Name == "" && sp.Port == want.Number) {
			return sp, true
		}
	}
	return corev1.ServicePort{}, false
}

// readyEndpoints lists, in a stable order, the address:port of every
// endpoint that is ready (or does not say) and not terminating, on the
// slice port named like the Service port.
func readyEndpoints(slices []*discoveryv1.EndpointSlice, portName string) []string {
	seen := map[string]bool{}
	var out []string
	for _, sl := range slices {
		if sl.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var port int32
		for _, p := range sl.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			tcp := p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP
			if name == portName && tcp && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, ep := range sl.Endpoints {
			c := ep.Conditions
			if (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) || len(ep.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil {
				continue
			}
			hp := net.JoinHostPort(addr.String(), strconv.Itoa(int(port)))
			if !seen[hp] {
				seen[hp] = true
				out = append(out, hp)
			}
		}
	}
	sort.Strings(out)
	return out
}
