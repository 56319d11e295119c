// Package proxy owns the node's service proxy: it turns the cluster's
// Services and EndpointSlices into one nftables table, "ip bosun-proxy",
// that DNATs traffic for ClusterIPs, NodePorts, external IPs and load
// balancer IPs to ready endpoints, rejects traffic for services without
// one, and masquerades hairpin and external traffic. The table is always
// written whole and replaced in a single nft transaction, so the kernel
// never sees a half-updated service.
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
	addr netip.Addr
	port int32
}

// servicePort is one port of one service with what it is reachable on and
// where it leads.
type servicePort struct {
	chain     string // svc-NS/NAME/PROTO/PORT
	proto     string // nft protocol name: tcp, udp, sctp
	port      int32
	nodePort  int32
	clusterIP netip.Addr
	external  []netip.Addr // externalIPs and load balancer IPs
	affinity  int32        // ClientIP affinity timeout in seconds, 0 for none
	endpoints []endpoint
}

// Ruleset returns the nftables script that replaces the proxy's table
// with one implementing services over the ready endpoints in slices.
// nodeIPs are the node's own addresses, on which NodePorts answer.
// Only IPv4 is programmed; objects with names the API server would not
// accept are skipped, because their names end up in nft identifiers.
// The output depends only on its input, in sorted order.
func Ruleset(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, nodeIPs []netip.Addr) string {
	ports := servicePorts(services, slices)

	var b strings.Builder
	// Declaring the table before deleting it makes the delete succeed on
	// the first run; the three statements are one transaction.
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", Table, Table, Table)

	var svcIPs, noEpIPs, svcNodePorts, noEpNodePorts []string
	// Two services may claim the same address and port (two load
	// balancers on the node's address, an externalIP set twice); nft
	// refuses a duplicate key and with it the whole table, so the first
	// claim in sorted order wins and the others are left out.
	claimed := map[string]bool{}
	add := func(to *[]string, key, verdict string) {
		if !claimed[key] {
			claimed[key] = true
			*to = append(*to, key+" : "+verdict)
		}
	}
	for _, sp := range ports {
		suffix := sp.chain[len("svc-"):]
		ips, nodePorts, internal, external := &svcIPs, &svcNodePorts, "goto "+sp.chain, "goto ext-"+suffix
		if len(sp.endpoints) == 0 {
			ips, nodePorts, internal, external = &noEpIPs, &noEpNodePorts, "goto reject-service", "goto reject-service"
		}
		add(ips, fmt.Sprintf("%s . %s . %d", sp.clusterIP, sp.proto, sp.port), internal)
		for _, ip := range sp.external {
			add(ips, fmt.Sprintf("%s . %s . %d", ip, sp.proto, sp.port), external)
		}
		if sp.nodePort != 0 {
			add(nodePorts, fmt.Sprintf("%s . %d", sp.proto, sp.nodePort), external)
		}
	}
	var nodes []string
	for _, ip := range nodeIPs {
		if ip.Is4() {
			nodes = append(nodes, ip.String())
		}
	}
	sort.Strings(nodes)
	nodes = dedupe(nodes)

	writeSet(&b, "node-ips", "ipv4_addr", nodes)
	writeSet(&b, "service-ips", "ipv4_addr . inet_proto . inet_service : verdict", svcIPs)
	writeSet(&b, "service-nodeports", "inet_proto . inet_service : verdict", svcNodePorts)
	writeSet(&b, "no-endpoint-ips", "ipv4_addr . inet_proto . inet_service : verdict", noEpIPs)
	writeSet(&b, "no-endpoint-nodeports", "inet_proto . inet_service : verdict", noEpNodePorts)

	// Locally generated traffic passes output, not prerouting: without the
	// output chains a process on the node could not reach a ClusterIP.
	b.WriteString(`	chain nat-prerouting {
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
`)

	for _, sp := range ports {
		if len(sp.endpoints) == 0 {
			continue
		}
		writeServiceChains(&b, sp)
	}
	b.WriteString("}\n")
	return b.String()
}

// writeSet writes a named set, or a map when typ has a ": verdict" part.
// nft rejects an empty "elements = { }", so an empty one has none.
func writeSet(b *strings.Builder, name, typ string, elements []string) {
	kind := "set"
	if strings.Contains(typ, ":") {
		kind = "map"
	}
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

// writeServiceChains writes the chains of one service port with
// endpoints: the external entry that marks for masquerade, the balancing
// chain, and one chain per endpoint.
func writeServiceChains(b *strings.Builder, sp servicePort) {
	suffix := sp.chain[len("svc-"):]
	// Traffic from outside the node to a NodePort or external IP is
	// masqueraded so the reply comes back through this node, whichever
	// node the endpoint lives on.
	if len(sp.external) > 0 || sp.nodePort != 0 {
		fmt.Fprintf(b, "\n\tchain ext-%s {\n\t\tmeta mark set meta mark | %s\n\t\tgoto %s\n\t}\n", suffix, masqMark, sp.chain)
	}

	fmt.Fprintf(b, "\n\tchain %s {\n", sp.chain)
	if sp.affinity > 0 {
		// A client seen recently sticks to the endpoint it was sent to.
		for _, ep := range sp.endpoints {
			fmt.Fprintf(b, "\t\tip saddr @%s goto %s\n", affinitySet(sp, ep), endpointChain(sp, ep))
		}
	}
	// numgen picks per new connection; conntrack keeps the rest of the
	// connection on the same endpoint, so no hash of the tuple is needed.
	if len(sp.endpoints) == 1 {
		fmt.Fprintf(b, "\t\tgoto %s\n", endpointChain(sp, sp.endpoints[0]))
	} else {
		fmt.Fprintf(b, "\t\tnumgen random mod %d vmap {\n", len(sp.endpoints))
		for i, ep := range sp.endpoints {
			fmt.Fprintf(b, "\t\t\t%d : goto %s,\n", i, endpointChain(sp, ep))
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")

	for _, ep := range sp.endpoints {
		if sp.affinity > 0 {
			fmt.Fprintf(b, "\n\tset %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout %ds\n\t}\n", affinitySet(sp, ep), sp.affinity)
		}
		fmt.Fprintf(b, "\n\tchain %s {\n", endpointChain(sp, ep))
		// A pod reaching itself through its service would answer itself
		// directly and drop the reply as unknown; masquerading makes the
		// reply go back through the node.
		fmt.Fprintf(b, "\t\tip saddr %s meta mark set meta mark | %s\n", ep.addr, masqMark)
		if sp.affinity > 0 {
			fmt.Fprintf(b, "\t\tupdate @%s { ip saddr }\n", affinitySet(sp, ep))
		}
		fmt.Fprintf(b, "\t\tmeta l4proto %s dnat to %s:%d\n\t}\n", sp.proto, ep.addr, ep.port)
	}
}

func endpointChain(sp servicePort, ep endpoint) string {
	return fmt.Sprintf("ep-%s/%s/%d", sp.chain[len("svc-"):], ep.addr, ep.port)
}

func affinitySet(sp servicePort, ep endpoint) string {
	return fmt.Sprintf("affinity-%s/%s/%d", sp.chain[len("svc-"):], ep.addr, ep.port)
}

// servicePorts resolves every port of every programmable service to its
// ready endpoints, sorted by namespace, name, protocol and port.
func servicePorts(services []*corev1.Service, slices []*discoveryv1.EndpointSlice) []servicePort {
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
				chain:     fmt.Sprintf("svc-%s/%s/%s/%d", svc.Namespace, svc.Name, proto, p.Port),
				proto:     proto,
				port:      p.Port,
				nodePort:  nodePort,
				clusterIP: clusterIP,
				external:  external,
				affinity:  affinity,
				endpoints: readyEndpoints(byService[sliceKey{svc.Namespace, svc.Name}], p),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].chain < out[j].chain })
	return out
}

// readyEndpoints returns the ready, not terminating endpoints of slices
// for the service port p, whose target port the slices carry by port
// name, sorted and without duplicates.
func readyEndpoints(slices []*discoveryv1.EndpointSlice, p corev1.ServicePort) []endpoint {
	seen := map[endpoint]bool{}
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
			ep := endpoint{addr, port}
			if !seen[ep] {
				seen[ep] = true
				out = append(out, ep)
			}
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
