package proxy

import (
	"slices"
	"strconv"
)

// staleUDP returns the conntrack deletions, one argument list each, that
// going from the table old describes to m calls for. UDP has no
// connection to close: a client that keeps sending (a DNS resolver
// reusing its port) would follow its conntrack entry to a removed
// endpoint, or past the service address untranslated if it started while
// there was no endpoint, until the entry times out.
func (m *model) staleUDP(old *model) [][]string {
	var out [][]string
	names := make([]string, 0, len(old.udp))
	for name := range old.udp {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		before, after := old.udp[name], m.udp[name]
		for _, ep := range before.endpoints {
			if slices.Contains(after.endpoints, ep) {
				continue
			}
			for _, addr := range before.addrs {
				out = append(out, []string{"-D", "-p", "udp", "--orig-dst", addr.String(), "--orig-port-dst", port(before.port), "--dst-nat", ep.String()})
			}
			if before.nodePort != 0 {
				out = append(out, []string{"-D", "-p", "udp", "--orig-port-dst", port(before.nodePort), "--dst-nat", ep.String()})
			}
		}
	}
	names = names[:0]
	for name := range m.udp {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		after := m.udp[name]
		if len(after.endpoints) == 0 || len(old.udp[name].endpoints) > 0 {
			continue
		}
		// Packets sent while there was no endpoint left entries with no
		// translation; they would keep the client from the new endpoint.
		for _, addr := range after.addrs {
			out = append(out, []string{"-D", "-p", "udp", "--orig-dst", addr.String(), "--orig-port-dst", port(after.port)})
		}
		if after.nodePort != 0 {
			out = append(out, []string{"-D", "-p", "udp", "--orig-port-dst", port(after.nodePort)})
		}
	}
	return out
}

func port(p int32) string { return strconv.Itoa(int(p)) }
