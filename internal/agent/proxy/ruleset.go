// Package proxy owns the node's service proxy: it turns the cluster's
// Services and EndpointSlices into one nftables table, "ip bosun-proxy",
// that DNATs traffic for ClusterIPs, NodePorts, external IPs and load
// balancer IPs to ready endpoints (only this node's when a traffic policy
// says Local), rejects traffic for services without one, and masquerades
// hairpin and external traffic. The table is first written whole; after
// that each change is one nft transaction touching only the elements,
// chains and sets that changed, so the kernel never sees a half-updated
// service and a large cluster does not pay for rewriting every service.
// Stale UDP conntrack entries are removed when endpoints go away.
package proxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Table is the nftables table (family ip) the proxy owns; nothing else
// may write to it.
const Table = "bosun-proxy"

// masqMark is the packet mark bit that asks the postrouting chain to
// masquerade. It is the bit kube-proxy uses, so a node moved between the
// two does not carry two conventions.
const masqMark = "0x00004000"

// endpoint is one ready backend of one service port.
type endpoint struct {
	addr  netip.Addr
	port  int32
	local bool // on this node
}

// servicePort is one port of one service with what it is reachable on and
// where it leads.
type servicePort struct {
	name      string // NS/NAME/PROTO/PORT, the suffix of its chains
	proto     string // nft protocol name: tcp, udp, sctp
	port      int32
	nodePort  int32
	clusterIP netip.Addr
	external  []netip.Addr // externalIPs and load balancer IPs
	affinity  int32        // ClientIP affinity timeout in seconds, 0 for none
	// internalLocal and externalLocal are the Local traffic policies:
	// ClusterIP traffic, and NodePort/external traffic, reach only the
	// endpoints on this node.
	internalLocal, externalLocal bool
	endpoints                    []endpoint
}

func (sp servicePort) local() []endpoint {
	var out []endpoint
	for _, ep := range sp.endpoints {
		if ep.local {
			out = append(out, ep)
		}
	}
	return out
}

// The maps and the set the fixed chains look up; everything a service
// adds is an element of one of them or a chain or set of its own.
const (
	setNodeIPs             = "node-ips"
	mapServiceIPs          = "service-ips"
	mapServiceNodePorts    = "service-nodeports"
	mapNoEndpointIPs       = "no-endpoint-ips"
	mapNoEndpointNodePorts = "no-endpoint-nodeports"
)

// mapTypes are the maps in the order they are written, with their types.
var mapTypes = []struct{ name, typ string }{
	{mapServiceIPs, "ipv4_addr . inet_proto . inet_service : verdict"},
	{mapServiceNodePorts, "inet_proto . inet_service : verdict"},
	{mapNoEndpointIPs, "ipv4_addr . inet_proto . inet_service : verdict"},
	{mapNoEndpointNodePorts, "inet_proto . inet_service : verdict"},
}

// object is a chain or set a service port owns, with its content: rules,
// one a line, for a chain; the declaration body for a set.
type object struct {
	kind  string // chain or set
	name  string
	lines []string
}

func (o object) text() string { return strings.Join(o.lines, "\n") }

// udpPort is what stale conntrack entries of one UDP service port are
// recognised by.
type udpPort struct {
	addrs     []netip.Addr // ClusterIP and external addresses
	port      int32
	nodePort  int32
	endpoints []netip.Addr
}

// model is the proxy's table as data: Ruleset renders it whole and diff
// compares two of them to write only what changed.
type model struct {
	nodeIPs []string
	maps    map[string]map[string]string // map name -> key -> verdict
	objects []object                     // in the order a full write lists them
	udp     map[string]udpPort           // by service port name
}

// Node is what the rules need to know of the node they are for.
type Node struct {
	// Name decides which endpoints are local.
	Name string
	// IPs are the addresses NodePorts answer on.
	IPs []netip.Addr
	// PodCIDRs hold this node's pods. Their traffic to a NodePort or
	// external address of a service with externalTrafficPolicy Local may
	// go to any endpoint, as it has no outside address to keep: without
	// that, a pod on a node with no local endpoint could not reach the
	// service's load balancer address at all.
	PodCIDRs []netip.Prefix
}

// Ruleset returns the nftables script that replaces the proxy's table
// with one implementing services over the ready endpoints in slices for
// node. Only IPv4 is programmed; objects with names the API server would
// not accept are skipped, because their names end up in nft identifiers.
// The output depends only on its input, in sorted order.
func Ruleset(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, node Node) string {
	return build(services, slices, node).render()
}

func build(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, node Node) *model {
	m := &model{maps: map[string]map[string]string{}, udp: map[string]udpPort{}}
	var cidrs []string
	for _, p := range node.PodCIDRs {
		if p.Addr().Is4() {
			cidrs = append(cidrs, p.Masked().String())
		}
	}
	sort.Strings(cidrs)
	cidrs = dedupe(cidrs)
	for _, mt := range mapTypes {
		m.maps[mt.name] = map[string]string{}
	}
	// Two services may claim the same address and port (two load
	// balancers on the node's address, an externalIP set twice); nft
	// refuses a duplicate key and with it the whole table, so the first
	// claim in sorted order wins and the others are left out.
	claimed := map[string]bool{}
	add := func(mapName, key, verdict string) {
		if !claimed[key] {
			claimed[key] = true
			m.maps[mapName][key] = verdict
		}
	}
	for _, sp := range servicePorts(services, slices, node.Name) {
		ips, nodePorts := mapServiceIPs, mapServiceNodePorts
		internal, external := "goto svc-"+sp.name, "goto ext-"+sp.name
		if len(sp.endpoints) == 0 {
			ips, nodePorts, internal, external = mapNoEndpointIPs, mapNoEndpointNodePorts, "goto reject-service", "goto reject-service"
		} else if sp.internalLocal {
			// Endpoints exist but none here: the client is not told the
			// service is gone, its packets just go nowhere, as kube-proxy
			// does.
			internal = "drop"
			if len(sp.local()) > 0 {
				internal = "goto local-" + sp.name
			}
		}
		add(ips, fmt.Sprintf("%s . %s . %d", sp.clusterIP, sp.proto, sp.port), internal)
		for _, ip := range sp.external {
			add(ips, fmt.Sprintf("%s . %s . %d", ip, sp.proto, sp.port), external)
		}
		if sp.nodePort != 0 {
			add(nodePorts, fmt.Sprintf("%s . %d", sp.proto, sp.nodePort), external)
		}
		if len(sp.endpoints) > 0 {
			m.objects = append(m.objects, serviceObjects(sp, cidrs)...)
		}
		if sp.proto == "udp" {
			u := udpPort{addrs: append([]netip.Addr{sp.clusterIP}, sp.external...), port: sp.port, nodePort: sp.nodePort}
			for _, ep := range sp.endpoints {
				u.endpoints = append(u.endpoints, ep.addr)
			}
			m.udp[sp.name] = u
		}
	}
	for _, ip := range node.IPs {
		if ip.Is4() {
			m.nodeIPs = append(m.nodeIPs, ip.String())
		}
	}
	sort.Strings(m.nodeIPs)
	m.nodeIPs = dedupe(m.nodeIPs)
	return m
}

// fixedChains never change; a full write declares them and incremental
// updates leave them alone. Locally generated traffic passes output, not
// prerouting: without the output chains a process on the node could not
// reach a ClusterIP.
const fixedChains = `	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & ` + masqMark + ` == ` + masqMark + ` meta mark set meta mark ^ ` + masqMark + ` masquerade
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @node-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain filter-input {
		type filter hook input priority -10; policy accept;
		ct state new jump endpoints-check
	}

	chain filter-forward {
		type filter hook forward priority -10; policy accept;
		ct state new jump endpoints-check
	}

	chain filter-output {
		type filter hook output priority -10; policy accept;
		ct state new jump endpoints-check
	}

	chain endpoints-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-ips
		ip daddr @node-ips meta l4proto . th dport vmap @no-endpoint-nodeports
	}

	chain reject-service {
		reject with icmp type port-unreachable
	}
`

// render writes the whole table. Declaring the table before deleting it
// makes the delete succeed on the first run; the statements are one
// transaction.
func (m *model) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", Table, Table, Table)
	writeSet(&b, "set", setNodeIPs, "ipv4_addr", m.nodeIPs)
	for _, mt := range mapTypes {
		writeSet(&b, "map", mt.name, mt.typ, elements(m.maps[mt.name]))
	}
	b.WriteString(fixedChains)
	for _, o := range m.objects {
		fmt.Fprintf(&b, "\n\t%s %s {\n", o.kind, o.name)
		for _, l := range o.lines {
			fmt.Fprintf(&b, "\t\t%s\n", l)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// elements lists a map's elements sorted by key.
func elements(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+" : "+v)
	}
	sort.Strings(out)
	return out
}

// writeSet writes a named set or map. nft rejects an empty
// "elements = { }", so an empty one has none.
func writeSet(b *strings.Builder, kind, name, typ string, elements []string) {
	fmt.Fprintf(b, "\t%s %s {\n\t\ttype %s\n", kind, name, typ)
	if len(elements) > 0 {
		b.WriteString("\t\telements = {\n")
		for _, e := range elements {
			fmt.Fprintf(b, "\t\t\t%s,\n", e)
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n\n")
}

// serviceObjects returns the chains and sets of one service port with
// endpoints: the external entry, the balancing chains over all and over
// local endpoints, and per endpoint a chain and an affinity set. podCIDRs
// are the node's pod ranges, in nft syntax.
func serviceObjects(sp servicePort, podCIDRs []string) []object {
	var out []object
	local := sp.local()
	if len(sp.external) > 0 || sp.nodePort != 0 {
		ext := object{kind: "chain", name: "ext-" + sp.name}
		if !sp.externalLocal {
			// Traffic from outside the node to a NodePort or external IP
			// is masqueraded so the reply comes back through this node,
			// whichever node the endpoint lives on.
			ext.lines = []string{"meta mark set meta mark | " + masqMark, "goto svc-" + sp.name}
		} else {
			// Local keeps the client's address, so only this node's
			// endpoints may answer. The node's own traffic and its
			// pods' have no outside address to keep and are served
			// like Cluster; the node's is masqueraded as Cluster does.
			if len(podCIDRs) > 0 {
				ext.lines = append(ext.lines, fmt.Sprintf("ip saddr { %s } goto svc-%s", strings.Join(podCIDRs, ", "), sp.name))
			}
			ext.lines = append(ext.lines,
				"fib saddr type local meta mark set meta mark | "+masqMark,
				"fib saddr type local goto svc-"+sp.name,
			)
			if len(local) > 0 {
				ext.lines = append(ext.lines, "goto local-"+sp.name)
			} else {
				ext.lines = append(ext.lines, "drop")
			}
		}
		out = append(out, ext)
	}
	if len(local) > 0 && (sp.internalLocal || (sp.externalLocal && len(out) > 0)) {
		out = append(out, balance("local-"+sp.name, sp, local))
	}
	out = append(out, balance("svc-"+sp.name, sp, sp.endpoints))

	for _, ep := range sp.endpoints {
		if sp.affinity > 0 {
			out = append(out, object{kind: "set", name: affinitySet(sp, ep), lines: []string{
				"type ipv4_addr", "flags dynamic,timeout", fmt.Sprintf("timeout %ds", sp.affinity),
			}})
		}
		// A pod reaching itself through its service would answer itself
		// directly and drop the reply as unknown; masquerading makes the
		// reply go back through the node.
		lines := []string{fmt.Sprintf("ip saddr %s meta mark set meta mark | %s", ep.addr, masqMark)}
		if sp.affinity > 0 {
			lines = append(lines, fmt.Sprintf("update @%s { ip saddr }", affinitySet(sp, ep)))
		}
		lines = append(lines, fmt.Sprintf("meta l4proto %s dnat to %s:%d", sp.proto, ep.addr, ep.port))
		out = append(out, object{kind: "chain", name: endpointChain(sp, ep), lines: lines})
	}
	return out
}

// balance is a chain spreading new connections over eps.
func balance(name string, sp servicePort, eps []endpoint) object {
	o := object{kind: "chain", name: name}
	if sp.affinity > 0 {
		// A client seen recently sticks to the endpoint it was sent to.
		for _, ep := range eps {
			o.lines = append(o.lines, fmt.Sprintf("ip saddr @%s goto %s", affinitySet(sp, ep), endpointChain(sp, ep)))
		}
	}
	// numgen picks per new connection; conntrack keeps the rest of the
	// connection on the same endpoint, so no hash of the tuple is needed.
	if len(eps) == 1 {
		o.lines = append(o.lines, "goto "+endpointChain(sp, eps[0]))
		return o
	}
	verdicts := make([]string, len(eps))
	for i, ep := range eps {
		verdicts[i] = fmt.Sprintf("%d : goto %s", i, endpointChain(sp, ep))
	}
	o.lines = append(o.lines, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(verdicts, ", ")))
	return o
}

func endpointChain(sp servicePort, ep endpoint) string {
	return fmt.Sprintf("ep-%s/%s/%d", sp.name, ep.addr, ep.port)
}

func affinitySet(sp servicePort, ep endpoint) string {
	return fmt.Sprintf("affinity-%s/%s/%d", sp.name, ep.addr, ep.port)
}

// servicePorts resolves every port of every programmable service to its
// ready endpoints, sorted by namespace, name, protocol and port.
func servicePorts(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []servicePort {
	type sliceKey struct{ namespace, service string }
	byService := map[sliceKey][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		if s == nil || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := sliceKey{s.Namespace, name}
		byService[k] = append(byService[k], s)
	}

	var out []servicePort
	for _, svc := range services {
		if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		if !validName(svc.Namespace) || !validName(svc.Name) {
			continue
		}
		clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !clusterIP.Is4() {
			continue // headless ("None"), unallocated or IPv6
		}
		external := externalIPs(svc)
		var affinity int32
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = corev1.DefaultClientIPServiceAffinitySeconds
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
				affinity = *c.ClientIP.TimeoutSeconds
			}
		}
		internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
		externalLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		for _, p := range svc.Spec.Ports {
			proto := nftProto(p.Protocol)
			if proto == "" || p.Port <= 0 || p.Port > 65535 || (p.Name != "" && !validName(p.Name)) {
				continue
			}
			nodePort := p.NodePort
			if nodePort < 0 || nodePort > 65535 {
				nodePort = 0
			}
			out = append(out, servicePort{
				name:          fmt.Sprintf("%s/%s/%s/%d", svc.Namespace, svc.Name, proto, p.Port),
				proto:         proto,
				port:          p.Port,
				nodePort:      nodePort,
				clusterIP:     clusterIP,
				external:      external,
				affinity:      affinity,
				internalLocal: internalLocal,
				externalLocal: externalLocal,
				endpoints:     readyEndpoints(byService[sliceKey{svc.Namespace, svc.Name}], p, nodeName),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// readyEndpoints returns the ready, not terminating endpoints of slices
// for the service port p, whose target port the slices carry by port
// name, sorted and without duplicates. An endpoint is local when the
// slice places it on nodeName.
func readyEndpoints(slices []*discoveryv1.EndpointSlice, p corev1.ServicePort, nodeName string) []endpoint {
	type key struct {
		addr netip.Addr
		port int32
	}
	index := map[key]int{}
	var out []endpoint
	for _, s := range slices {
		var port int32
		for _, sp := range s.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			proto := corev1.ProtocolTCP
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == p.Name && nftProto(proto) == nftProto(p.Protocol) && sp.Port != nil {
				port = *sp.Port
				break
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, e := range s.Endpoints {
			c := e.Conditions
			// A nil Ready means ready, as the EndpointSlice API says.
			if (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) || len(e.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !addr.Is4() {
				continue
			}
			local := nodeName != "" && e.NodeName != nil && *e.NodeName == nodeName
			k := key{addr, port}
			if i, ok := index[k]; ok {
				out[i].local = out[i].local || local
				continue
			}
			index[k] = len(out)
			out = append(out, endpoint{addr, port, local})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].addr.Compare(out[j].addr); c != 0 {
			return c < 0
		}
		return out[i].port < out[j].port
	})
	return out
}

// externalIPs returns a service's IPv4 externalIPs and load balancer
// ingress IPs, sorted and without duplicates.
func externalIPs(svc *corev1.Service) []netip.Addr {
	var raw []string
	raw = append(raw, svc.Spec.ExternalIPs...)
	for _, in := range svc.Status.LoadBalancer.Ingress {
		raw = append(raw, in.IP)
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, s := range raw {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func nftProto(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP, "":
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return ""
}

// validName reports whether s is a DNS label as the API server requires
// of namespaces, service names and port names; anything else could
// break out of an nft identifier.
func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func dedupe(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
