package dns

import (
	"net"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// service is the part of a Service that DNS answers need.
type service struct {
	name, namespace string
	clusterIPs      []net.IP
	headless        bool
	externalName    string
	publishNotReady bool
	ports           []port
}

type port struct {
	name, proto string
	port        int32
}

type endpoint struct {
	ip       net.IP
	hostname string
	ready    bool
}

// label is the DNS label an endpoint answers to below its service: its
// hostname when set (StatefulSet pods), otherwise its dashed IP.
func (e endpoint) label() string {
	if e.hostname != "" {
		return strings.ToLower(e.hostname)
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(e.ip.String())
}

type slice struct {
	service   string // "namespace/name" of the owning Service
	endpoints []endpoint
	ports     []port
}

// index holds the cluster records keyed the way queries arrive, updated from
// informer events so a query never scans all Services.
type index struct {
	mu         sync.RWMutex
	services   map[string]*service          // "ns/name"
	slices     map[string]map[string]*slice // service key -> slice key -> slice
	sliceOwner map[string]string            // slice key -> service key
	namespaces map[string]int               // namespace -> number of Services
	ptr        map[string]string            // IP string -> FQDN
	domain     string
}

func newIndex(domain string) *index {
	return &index{
		services:   map[string]*service{},
		slices:     map[string]map[string]*slice{},
		sliceOwner: map[string]string{},
		namespaces: map[string]int{},
		ptr:        map[string]string{},
		domain:     domain,
	}
}

func (x *index) serviceFQDN(namespace, name string) string {
	return strings.ToLower(name + "." + namespace + ".svc." + x.domain + ".")
}

func serviceFromAPI(s *corev1.Service) *service {
	out := &service{
		name:            strings.ToLower(s.Name),
		namespace:       strings.ToLower(s.Namespace),
		publishNotReady: s.Spec.PublishNotReadyAddresses,
	}
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		out.externalName = strings.ToLower(strings.TrimSuffix(s.Spec.ExternalName, ".")) + "."
		return out
	}
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if ip == corev1.ClusterIPNone {
			out.headless = true
			continue
		}
		if parsed := net.ParseIP(ip); parsed != nil {
			out.clusterIPs = append(out.clusterIPs, parsed)
		}
	}
	for _, p := range s.Spec.Ports {
		out.ports = append(out.ports, port{name: strings.ToLower(p.Name), proto: protoName(p.Protocol), port: p.Port})
	}
	return out
}

func protoName(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

func (x *index) setService(s *service) {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := s.namespace + "/" + s.name
	if old, ok := x.services[key]; ok {
		x.dropServicePTR(old)
	} else {
		x.namespaces[s.namespace]++
	}
	x.services[key] = s
	fqdn := x.serviceFQDN(s.namespace, s.name)
	for _, ip := range s.clusterIPs {
		x.ptr[ip.String()] = fqdn
	}
	// Endpoint PTRs depend on headlessness, so refresh them.
	for _, sl := range x.slices[key] {
		x.dropSlicePTR(sl)
		x.addSlicePTR(sl)
	}
}

func (x *index) deleteService(namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := strings.ToLower(namespace + "/" + name)
	old, ok := x.services[key]
	if !ok {
		return
	}
	x.dropServicePTR(old)
	for _, sl := range x.slices[key] {
		x.dropSlicePTR(sl)
	}
	delete(x.services, key)
	if x.namespaces[old.namespace]--; x.namespaces[old.namespace] <= 0 {
		delete(x.namespaces, old.namespace)
	}
}

func (x *index) dropServicePTR(s *service) {
	fqdn := x.serviceFQDN(s.namespace, s.name)
	for _, ip := range s.clusterIPs {
		if x.ptr[ip.String()] == fqdn {
			delete(x.ptr, ip.String())
		}
	}
}

// addSlicePTR publishes reverse records for named endpoints of headless
// Services only, since those are the only ones with forward records.
func (x *index) addSlicePTR(sl *slice) {
	svc, ok := x.services[sl.service]
	if !ok || !svc.headless {
		return
	}
	for _, e := range sl.endpoints {
		if e.hostname == "" || !(e.ready || svc.publishNotReady) {
			continue
		}
		x.ptr[e.ip.String()] = e.label() + "." + x.serviceFQDN(svc.namespace, svc.name)
	}
}

func (x *index) dropSlicePTR(sl *slice) {
	ns, name, _ := strings.Cut(sl.service, "/")
	suffix := "." + x.serviceFQDN(ns, name)
	for _, e := range sl.endpoints {
		if e.hostname == "" {
			continue
		}
		if x.ptr[e.ip.String()] == e.label()+suffix {
			delete(x.ptr, e.ip.String())
		}
	}
}

func sliceFromAPI(s *discoveryv1.EndpointSlice) (*slice, bool) {
	owner := s.Labels[discoveryv1.LabelServiceName]
	if owner == "" {
		return nil, false
	}
	out := &slice{service: strings.ToLower(s.Namespace + "/" + owner)}
	for _, p := range s.Ports {
		var pp port
		if p.Name != nil {
			pp.name = strings.ToLower(*p.Name)
		}
		if p.Protocol != nil {
			pp.proto = protoName(*p.Protocol)
		} else {
			pp.proto = "tcp"
		}
		if p.Port != nil {
			pp.port = *p.Port
		}
		out.ports = append(out.ports, pp)
	}
	if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
		return out, true
	}
	for _, e := range s.Endpoints {
		// A nil Ready means unknown, which the API says to treat as ready.
		ready := e.Conditions.Ready == nil || *e.Conditions.Ready
		var hostname string
		if e.Hostname != nil {
			hostname = *e.Hostname
		}
		for _, a := range e.Addresses {
			if ip := net.ParseIP(a); ip != nil {
				out.endpoints = append(out.endpoints, endpoint{ip: ip, hostname: hostname, ready: ready})
			}
		}
	}
	return out, true
}

func (x *index) setSlice(key string, sl *slice) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeSliceLocked(key)
	if x.slices[sl.service] == nil {
		x.slices[sl.service] = map[string]*slice{}
	}
	x.slices[sl.service][key] = sl
	x.sliceOwner[key] = sl.service
	x.addSlicePTR(sl)
}

func (x *index) deleteSlice(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeSliceLocked(key)
}

func (x *index) removeSliceLocked(key string) {
	owner, ok := x.sliceOwner[key]
	if !ok {
		return
	}
	if old := x.slices[owner][key]; old != nil {
		x.dropSlicePTR(old)
	}
	delete(x.slices[owner], key)
	if len(x.slices[owner]) == 0 {
		delete(x.slices, owner)
	}
	delete(x.sliceOwner, key)
}

// serviceHandler keeps the index in step with Service events.
func (x *index) serviceHandler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { x.onService(obj) },
		UpdateFunc: func(_, obj any) { x.onService(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*corev1.Service); ok {
				x.deleteService(s.Namespace, s.Name)
			}
		},
	}
}

func (x *index) onService(obj any) {
	if s, ok := obj.(*corev1.Service); ok {
		x.setService(serviceFromAPI(s))
	}
}

// sliceHandler keeps the index in step with EndpointSlice events.
func (x *index) sliceHandler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { x.onSlice(obj) },
		UpdateFunc: func(_, obj any) { x.onSlice(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				x.deleteSlice(s.Namespace + "/" + s.Name)
			}
		},
	}
}

func (x *index) onSlice(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	key := s.Namespace + "/" + s.Name
	sl, ok := sliceFromAPI(s)
	if !ok {
		// The slice lost its owner label; forget it.
		x.deleteSlice(key)
		return
	}
	x.setSlice(key, sl)
}
