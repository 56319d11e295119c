package ingress

import (
	"net/netip"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestWithAddresses(t *testing.T) {
	lb := func(ips ...string) []networkingv1.IngressLoadBalancerIngress {
		var out []networkingv1.IngressLoadBalancerIngress
		for _, ip := range ips {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
		}
		return out
	}
	addrs := func(ips ...string) []netip.Addr {
		var out []netip.Addr
		for _, ip := range ips {
			out = append(out, netip.MustParseAddr(ip))
		}
		return out
	}
	cases := []struct {
		name    string
		current []networkingv1.IngressLoadBalancerIngress
		add     []netip.Addr
		want    []string
		changed bool
	}{
		{"empty", nil, addrs("10.0.0.1"), []string{"10.0.0.1"}, true},
		{"present", lb("10.0.0.1"), addrs("10.0.0.1"), []string{"10.0.0.1"}, false},
		{"another node's kept, numeric order", lb("10.0.0.10"), addrs("10.0.0.9"), []string{"10.0.0.9", "10.0.0.10"}, true},
		{"unsorted gets sorted", lb("10.0.0.2", "10.0.0.1"), addrs("10.0.0.1"), []string{"10.0.0.1", "10.0.0.2"}, true},
		{"two of ours", nil, addrs("fd00::1", "10.0.0.1"), []string{"10.0.0.1", "fd00::1"}, true},
		{"nothing to add", lb("10.0.0.1"), nil, []string{"10.0.0.1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := withAddresses(tc.current, tc.add)
			var ips []string
			for _, e := range got {
				ips = append(ips, e.IP)
			}
			if changed != tc.changed || len(ips) != len(tc.want) {
				t.Fatalf("got %v changed=%v, want %v changed=%v", ips, changed, tc.want, tc.changed)
			}
			for i := range ips {
				if ips[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", ips, tc.want)
				}
			}
		})
	}
}
