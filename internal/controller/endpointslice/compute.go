package endpointslice

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/endpoints"
)

// Group is the endpoints that share one address type and one resolved
// port set, and so may share slices.
type Group struct {
	AddressType discoveryv1.AddressType
	Ports       []discoveryv1.EndpointPort
	// Endpoints by the key of the pod behind them.
	Endpoints map[string]discoveryv1.Endpoint
}

// Desired computes the endpoints of svc from the pods its selector
// matches, keyed by group (address type and port set). zone names the
// zone of a node, "" when unknown.
func Desired(svc *corev1.Service, pods []*corev1.Pod, zone func(node string) string) map[string]*Group {
	publish := svc.Spec.PublishNotReadyAddresses
	families := svc.Spec.IPFamilies
	headlessNoPorts := len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP == corev1.ClusterIPNone
	out := map[string]*Group{}
	for _, pod := range pods {
		// Terminating pods stay, marked so, while they may still serve.
		if !endpoints.PodServed(pod, true) {
			continue
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := endpoints.ResolvePort(pod, sp)
			if !ok {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: new(sp.Name), Port: new(n), Protocol: new(proto), AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && !headlessNoPorts {
			continue
		}
		sortPorts(ports)
		ready := controller.PodReady(pod)
		terminating := pod.DeletionTimestamp != nil
		base := discoveryv1.Endpoint{
			Conditions: discoveryv1.EndpointConditions{
				Ready:       new(publish || (ready && !terminating)),
				Serving:     new(publish || ready),
				Terminating: new(terminating),
			},
			Hostname:  optional(endpoints.Hostname(svc, pod)),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			base.NodeName = new(pod.Spec.NodeName)
			base.Zone = optional(zone(pod.Spec.NodeName))
		}
		for _, ip := range podAddresses(pod, families) {
			at := discoveryv1.AddressTypeIPv4
			if endpoints.Family(ip) == corev1.IPv6Protocol {
				at = discoveryv1.AddressTypeIPv6
			}
			k := groupKey(at, ports)
			g, ok := out[k]
			if !ok {
				g = &Group{AddressType: at, Ports: ports, Endpoints: map[string]discoveryv1.Endpoint{}}
				out[k] = g
			}
			ep := *base.DeepCopy()
			ep.Addresses = []string{ip}
			g.Endpoints[pod.Name] = ep
		}
	}
	return out
}

// podAddresses returns one IP of pod per family the Service has, or the
// pod's primary IP when the Service names none.
func podAddresses(pod *corev1.Pod, families []corev1.IPFamily) []string {
	ips := endpoints.PodIPs(pod)
	if len(families) == 0 {
		if len(ips) == 0 || endpoints.Family(ips[0]) == "" {
			return nil
		}
		return ips[:1]
	}
	var out []string
	for _, f := range families {
		for _, ip := range ips {
			if endpoints.Family(ip) == f {
				out = append(out, ip)
				break
			}
		}
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func sortPorts(ps []discoveryv1.EndpointPort) {
	sort.Slice(ps, func(i, j int) bool {
		if *ps[i].Name != *ps[j].Name {
			return *ps[i].Name < *ps[j].Name
		}
		return *ps[i].Port < *ps[j].Port
	})
}

func groupKey(at discoveryv1.AddressType, ps []discoveryv1.EndpointPort) string {
	var b strings.Builder
	b.WriteString(string(at))
	b.WriteByte('|')
	for _, p := range ps {
		if p.Name != nil {
			b.WriteString(*p.Name)
		}
		b.WriteByte('/')
		if p.Port != nil {
			b.WriteString(strconv.Itoa(int(*p.Port)))
		}
		b.WriteByte('/')
		if p.Protocol != nil {
			b.WriteString(string(*p.Protocol))
		}
		if p.AppProtocol != nil {
			b.WriteByte('/')
			b.WriteString(*p.AppProtocol)
		}
		b.WriteByte(',')
	}
	return b.String()
}

func sliceKey(s *discoveryv1.EndpointSlice) string {
	ps := append([]discoveryv1.EndpointPort(nil), s.Ports...)
	for _, p := range ps {
		if p.Name == nil || p.Port == nil {
			return "" // not a port set this controller writes
		}
	}
	sortPorts(ps)
	return groupKey(s.AddressType, ps)
}

// endpointKey identifies an endpoint within a Service: its pod's name.
func endpointKey(ep *discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
		return ep.TargetRef.Name
	}
	return ""
}

// Changes is what to write to bring a Service's slices to the desired
// state.
type Changes struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

// Empty reports whether nothing needs writing.
func (c Changes) Empty() bool {
	return len(c.Create) == 0 && len(c.Update) == 0 && len(c.Delete) == 0
}

type working struct {
	slice     *discoveryv1.EndpointSlice
	endpoints []discoveryv1.Endpoint
	changed   bool
}

// Plan compares existing, the slices managed for svc, with desired and
// returns the writes: an endpoint that changed is replaced in the slice
// that holds it, a gone one is removed from it, new ones fill slices that
// are being written anyway before others, and only then new slices of up
// to max endpoints. Equal inputs plan nothing. A Service without endpoints
// keeps one empty placeholder slice.
func Plan(svc *corev1.Service, desired map[string]*Group, existing []*discoveryv1.EndpointSlice, max int) Changes {
	var ch Changes
	ref := metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	wantLabels := sliceLabels(svc)
	byKey := map[string][]*working{}
	var keys []string
	sorted := append([]*discoveryv1.EndpointSlice(nil), existing...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, s := range sorted {
		if own := metav1.GetControllerOf(s); own == nil || own.UID != svc.UID {
			ch.Delete = append(ch.Delete, s)
			continue
		}
		k := sliceKey(s)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], &working{slice: s})
	}
	for k := range desired {
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	total := 0
	var kept []*working
	for _, k := range keys {
		g := desired[k]
		var want map[string]discoveryv1.Endpoint
		if g != nil {
			want = g.Endpoints
			total += len(want)
		}
		placed := map[string]bool{}
		ws := byKey[k]
		for _, w := range ws {
			s := w.slice
			w.changed = !equalLabels(s.Labels, wantLabels)
			for i := range s.Endpoints {
				ep := &s.Endpoints[i]
				ek := endpointKey(ep)
				d, ok := want[ek]
				if !ok || placed[ek] {
					w.changed = true
					continue
				}
				placed[ek] = true
				if !apiequality.Semantic.DeepEqual(*ep, d) {
					w.changed = true
				}
				w.endpoints = append(w.endpoints, d)
			}
		}
		var rest []string
		for ek := range want {
			if !placed[ek] {
				rest = append(rest, ek)
			}
		}
		sort.Strings(rest)
		// Slices being written anyway take new endpoints first.
		for _, w := range ws {
			for w.changed && len(rest) > 0 && len(w.endpoints) < max {
				w.endpoints = append(w.endpoints, want[rest[0]])
				rest = rest[1:]
			}
		}
		// Then one untouched slice that can take all that is left.
		if len(rest) > 0 && len(rest) <= max {
			for _, w := range ws {
				if !w.changed && len(w.endpoints)+len(rest) <= max {
					for _, ek := range rest {
						w.endpoints = append(w.endpoints, want[ek])
					}
					rest, w.changed = nil, true
					break
				}
			}
		}
		for len(rest) > 0 {
			n := min(len(rest), max)
			s := newSlice(svc, ref, wantLabels, g.AddressType, g.Ports)
			for _, ek := range rest[:n] {
				s.Endpoints = append(s.Endpoints, want[ek])
			}
			rest = rest[n:]
			ch.Create = append(ch.Create, s)
		}
		kept = append(kept, ws...)
	}

	placeholderType := discoveryv1.AddressTypeIPv4
	if fs := svc.Spec.IPFamilies; len(fs) > 0 && fs[0] == corev1.IPv6Protocol {
		placeholderType = discoveryv1.AddressTypeIPv6
	}
	var placeholder *working
	if total == 0 {
		// Reuse an existing slice of the right type, an empty one first.
		for _, w := range kept {
			if w.slice.AddressType != placeholderType {
				continue
			}
			if placeholder == nil || (len(w.slice.Endpoints) == 0 && len(w.slice.Ports) == 0 && (len(placeholder.slice.Endpoints) > 0 || len(placeholder.slice.Ports) > 0)) {
				placeholder = w
			}
		}
		if placeholder == nil {
			ch.Create = append(ch.Create, newSlice(svc, ref, wantLabels, placeholderType, nil))
		} else if len(placeholder.slice.Endpoints) > 0 || len(placeholder.slice.Ports) > 0 || !equalLabels(placeholder.slice.Labels, wantLabels) {
			s := placeholder.slice.DeepCopy()
			s.Labels, s.Endpoints, s.Ports = copyLabels(wantLabels), nil, nil
			ch.Update = append(ch.Update, s)
		}
	}
	for _, w := range kept {
		switch {
		case w == placeholder:
		case len(w.endpoints) == 0:
			ch.Delete = append(ch.Delete, w.slice)
		case w.changed:
			s := w.slice.DeepCopy()
			s.Labels = copyLabels(wantLabels)
			s.Endpoints = w.endpoints
			ch.Update = append(ch.Update, s)
		}
	}
	return ch
}

func newSlice(svc *corev1.Service, ref *metav1.OwnerReference, lbls map[string]string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          copyLabels(lbls),
			OwnerReferences: []metav1.OwnerReference{*ref},
		},
		AddressType: at,
		Ports:       ports,
	}
}

// sliceLabels are the Service's own labels plus the two that tie a slice
// to it and to this controller, and the headless mark proxies skip on.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.IsHeadlessService] = ""
	} else {
		delete(l, corev1.IsHeadlessService)
	}
	return l
}

// copyLabels gives each written slice a map of its own.
func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
