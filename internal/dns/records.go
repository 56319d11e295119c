package dns

import (
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// ttl is the TTL of cluster records and of negative answers for the cluster
// domain; it matches CoreDNS's kubernetes plugin default, so a changed
// Service is seen by clients within seconds.
const ttl = 5

// answer is what the index knows about one name in the cluster domain.
type answer struct {
	exists bool
	rrs    []mdns.RR
	extra  []mdns.RR
}

// lookup answers qname (lowercased, fully qualified, inside the cluster
// domain) for qtype.
func (x *index) lookup(qname string, qtype uint16) answer {
	x.mu.RLock()
	defer x.mu.RUnlock()

	zone := x.domain + "."
	if qname == zone {
		if qtype == mdns.TypeSOA {
			return answer{exists: true, rrs: []mdns.RR{x.soa()}}
		}
		return answer{exists: true}
	}
	labels := mdns.SplitDomainName(strings.TrimSuffix(qname, "."+zone))
	n := len(labels)
	if n == 1 && labels[0] == "dns-version" {
		return x.versionAnswer(qname, qtype)
	}
	if n == 0 {
		return answer{}
	}
	if labels[n-1] == "pod" {
		return podAnswer(qname, labels, qtype)
	}
	if labels[n-1] != "svc" {
		return answer{}
	}
	switch n {
	case 1: // svc.DOMAIN
		return answer{exists: true}
	case 2: // NS.svc.DOMAIN
		return answer{exists: x.namespaces[labels[0]] > 0}
	case 3: // SVC.NS.svc.DOMAIN
		svc := x.services[labels[1]+"/"+labels[0]]
		if svc == nil {
			return answer{}
		}
		return x.serviceAnswer(qname, svc, qtype)
	case 4: // ENDPOINT.SVC.NS.svc.DOMAIN or _PROTO.SVC.NS.svc.DOMAIN
		svc := x.services[labels[2]+"/"+labels[1]]
		if svc == nil {
			return answer{}
		}
		if proto, ok := strings.CutPrefix(labels[0], "_"); ok {
			// The parent of SRV names exists, with no records of its own.
			return answer{exists: len(x.srv(qname, svc, "", proto).rrs) > 0}
		}
		if !svc.headless {
			return answer{}
		}
		return x.endpointAnswer(qname, svc, labels[0], qtype)
	case 5: // _PORT._PROTO.SVC.NS.svc.DOMAIN
		svc := x.services[labels[3]+"/"+labels[2]]
		if svc == nil || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return answer{}
		}
		a := x.srv(qname, svc, labels[0][1:], labels[1][1:])
		if len(a.rrs) == 0 {
			return answer{}
		}
		if qtype != mdns.TypeSRV {
			return answer{exists: true}
		}
		return a
	}
	return answer{}
}

func (x *index) serviceAnswer(qname string, svc *service, qtype uint16) answer {
	if svc.externalName != "" {
		return answer{exists: true, rrs: []mdns.RR{&mdns.CNAME{
			Hdr:    mdns.RR_Header{Name: qname, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: ttl},
			Target: svc.externalName,
		}}}
	}
	a := answer{exists: true}
	switch qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		if !svc.headless {
			for _, ip := range svc.clusterIPs {
				a.rrs = appendAddr(a.rrs, qname, ip, qtype)
			}
			return a
		}
		seen := map[string]bool{}
		x.eachEndpoint(svc, func(e endpoint) {
			if !seen[e.ip.String()] {
				seen[e.ip.String()] = true
				a.rrs = appendAddr(a.rrs, qname, e.ip, qtype)
			}
		})
	case mdns.TypeSRV:
		a = x.srv(qname, svc, "", "")
	}
	if svc.headless && !x.hasEndpoints(svc) {
		// The DNS specification: a headless Service with no ready
		// endpoints answers NXDOMAIN, whatever the type asked.
		return answer{}
	}
	return a
}

func (x *index) hasEndpoints(svc *service) bool {
	found := false
	x.eachEndpoint(svc, func(endpoint) { found = true })
	return found
}

// schemaVersion is the version of the Kubernetes DNS specification these
// records follow, published at dns-version.DOMAIN as the specification asks.
const schemaVersion = "1.1.0"

func (x *index) versionAnswer(qname string, qtype uint16) answer {
	a := answer{exists: true}
	if qtype == mdns.TypeTXT {
		a.rrs = []mdns.RR{&mdns.TXT{
			Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: ttl},
			Txt: []string{schemaVersion},
		}}
	}
	return a
}

// podAnswer answers the specification's (deprecated but required) pod
// records, A-B-C-D.NS.pod.DOMAIN for any address, without checking that
// such a pod exists, as kube-dns did and CoreDNS's "pods insecure" does.
// labels ends with "pod".
func podAnswer(qname string, labels []string, qtype uint16) answer {
	switch len(labels) {
	case 1, 2: // pod.DOMAIN, NS.pod.DOMAIN
		return answer{exists: true}
	case 3:
	default:
		return answer{}
	}
	ip := podIP(labels[0])
	if ip == nil {
		return answer{}
	}
	return answer{exists: true, rrs: appendAddr(nil, qname, ip, qtype)}
}

// podIP parses the dashed address of a pod record label: 10-1-2-3 for
// IPv4, 2001-db8--1 for IPv6; nil when the label is not one.
func podIP(label string) net.IP {
	if strings.Count(label, "-") == 3 {
		if ip := net.ParseIP(strings.ReplaceAll(label, "-", ".")).To4(); ip != nil {
			return ip
		}
	}
	if ip := net.ParseIP(strings.ReplaceAll(label, "-", ":")); ip != nil && ip.To4() == nil {
		return ip
	}
	return nil
}

func (x *index) endpointAnswer(qname string, svc *service, label string, qtype uint16) answer {
	var a answer
	x.eachEndpoint(svc, func(e endpoint) {
		if e.label() != label {
			return
		}
		a.exists = true
		if qtype == mdns.TypeA || qtype == mdns.TypeAAAA {
			a.rrs = appendAddr(a.rrs, qname, e.ip, qtype)
		}
	})
	return a
}

// srv builds SRV records for the Service's ports matching name and proto
// ("" matches any). A ClusterIP Service points at its own name; a headless
// one at each endpoint's name, with its address as additional record.
func (x *index) srv(qname string, svc *service, name, proto string) answer {
	a := answer{exists: true}
	svcName := x.serviceFQDN(svc.namespace, svc.name)
	match := func(p port) bool {
		return (name == "" || p.name == name) && (proto == "" || p.proto == proto)
	}
	if !svc.headless {
		for _, p := range svc.ports {
			if match(p) {
				a.rrs = append(a.rrs, srvRR(qname, svcName, p.port))
			}
		}
		if len(a.rrs) > 0 {
			for _, ip := range svc.clusterIPs {
				a.extra = appendAddr(a.extra, svcName, ip, 0)
			}
		}
		return a
	}
	for _, sl := range x.slices[svc.namespace+"/"+svc.name] {
		for _, p := range sl.ports {
			if !match(p) {
				continue
			}
			for _, e := range sl.endpoints {
				if !e.ready && !svc.publishNotReady {
					continue
				}
				target := e.label() + "." + svcName
				a.rrs = append(a.rrs, srvRR(qname, target, p.port))
				a.extra = appendAddr(a.extra, target, e.ip, 0)
			}
		}
	}
	// Spread weight evenly, as clients pick among equal priorities by weight.
	for _, rr := range a.rrs {
		rr.(*mdns.SRV).Weight = uint16(100 / len(a.rrs))
	}
	return a
}

func srvRR(qname, target string, p int32) *mdns.SRV {
	return &mdns.SRV{
		Hdr:    mdns.RR_Header{Name: qname, Rrtype: mdns.TypeSRV, Class: mdns.ClassINET, Ttl: ttl},
		Weight: 100,
		Port:   uint16(p),
		Target: target,
	}
}

func (x *index) eachEndpoint(svc *service, fn func(endpoint)) {
	for _, sl := range x.slices[svc.namespace+"/"+svc.name] {
		for _, e := range sl.endpoints {
			if e.ready || svc.publishNotReady {
				fn(e)
			}
		}
	}
}

// appendAddr appends an A or AAAA record for ip when it matches qtype; a
// qtype of 0 matches either family.
func appendAddr(rrs []mdns.RR, name string, ip net.IP, qtype uint16) []mdns.RR {
	hdr := mdns.RR_Header{Name: name, Class: mdns.ClassINET, Ttl: ttl}
	if v4 := ip.To4(); v4 != nil {
		if qtype != 0 && qtype != mdns.TypeA {
			return rrs
		}
		hdr.Rrtype = mdns.TypeA
		return append(rrs, &mdns.A{Hdr: hdr, A: v4})
	}
	if qtype != 0 && qtype != mdns.TypeAAAA {
		return rrs
	}
	hdr.Rrtype = mdns.TypeAAAA
	return append(rrs, &mdns.AAAA{Hdr: hdr, AAAA: ip})
}

// reverse answers a PTR query for a name under in-addr.arpa or ip6.arpa; ok
// is false when the address is not a cluster address.
func (x *index) reverse(qname string) (mdns.RR, bool) {
	ip := reverseIP(qname)
	if ip == nil {
		return nil, false
	}
	x.mu.RLock()
	target, ok := x.ptr[ip.String()]
	x.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return &mdns.PTR{
		Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: ttl},
		Ptr: target,
	}, true
}

func reverseIP(qname string) net.IP {
	switch {
	case strings.HasSuffix(qname, ".in-addr.arpa."):
		labels := mdns.SplitDomainName(strings.TrimSuffix(qname, ".in-addr.arpa."))
		if len(labels) != 4 {
			return nil
		}
		return net.ParseIP(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0]).To4()
	case strings.HasSuffix(qname, ".ip6.arpa."):
		labels := mdns.SplitDomainName(strings.TrimSuffix(qname, ".ip6.arpa."))
		if len(labels) != 32 {
			return nil
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			b.WriteString(labels[i])
			if i%4 == 0 && i != 0 {
				b.WriteByte(':')
			}
		}
		return net.ParseIP(b.String())
	}
	return nil
}

func (x *index) soa() *mdns.SOA {
	zone := x.domain + "."
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}
}
