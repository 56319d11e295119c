package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreEndpoints(subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: subsets}
}

func addrs(ips ...string) []corev1.EndpointAddress {
	var out []corev1.EndpointAddress
	for _, ip := range ips {
		out = append(out, corev1.EndpointAddress{IP: ip})
	}
	return out
}

func TestEndpointsWrites(t *testing.T) {
	runCoreCases(t, endpoints(), []coreCase{
		{name: "valid", obj: coreEndpoints(corev1.EndpointSubset{Addresses: addrs("10.0.0.1"), Ports: []corev1.EndpointPort{{Port: 80}}})},
		{name: "empty", obj: coreEndpoints()},
		{name: "bad", obj: coreEndpoints(
			corev1.EndpointSubset{Addresses: addrs("10.0.0.300", "127.0.0.1"), Ports: []corev1.EndpointPort{{Port: 0}, {Name: "b", Port: 81, Protocol: "ICMP"}}},
			corev1.EndpointSubset{},
		), paths: []string{
			"subsets[0].addresses[0].ip", "subsets[0].addresses[1].ip",
			"subsets[0].ports[0].name", "subsets[0].ports[0].port", "subsets[0].ports[1].protocol",
			"subsets[1]",
		}},
	})
}

func TestFormatEndpoints(t *testing.T) {
	cases := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"not ready only", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.0.0.1"), Ports: []corev1.EndpointPort{{Port: 80}}}}, ""},
		{"two", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}}}}, "10.0.0.1:80,10.0.0.2:80"},
		{"no ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1")}}, "10.0.0.1"},
		{"more", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."},
		{"ipv6", []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 80}}}}, "[fd00::1]:80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatEndpoints(tc.subsets); got != tc.want {
				t.Errorf("formatEndpoints = %q, want %q", got, tc.want)
			}
		})
	}
}
