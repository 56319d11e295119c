package proxy

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// declaration is how a chain, set or map opens in a ruleset; its name
// must stay within the characters nft takes in an identifier.
var declaration = regexp.MustCompile(`^\t(chain|set|map) ([^ ]*) \{$`)

var identifier = regexp.MustCompile(`^[a-z][a-z0-9/.\-]*$`)

// FuzzRuleset feeds Ruleset names, addresses and ports as an unchecked
// client could write them, and checks that nothing breaks out of the nft
// syntax and that the order of the input does not matter.
func FuzzRuleset(f *testing.F) {
	f.Add("default", "web", "http", "TCP", "10.96.0.1", int32(80), int32(30080), "10.244.0.5", "10.244.0.6", int32(8080), "203.0.113.1")
	f.Add("a}b", "web\n", "x y", "UDP", "None", int32(0), int32(-1), "::1", "10.0.0.1", int32(70000), "bad")
	f.Add("kube-system", "dns", "", "SCTP", "10.96.0.10", int32(53), int32(0), "10.244.0.5", "10.244.0.5", int32(53), "")
	f.Fuzz(func(t *testing.T, ns, name, portName, proto, clusterIP string, port, nodePort int32, ep1, ep2 string, epPort int32, extIP string) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{
				ClusterIP:       clusterIP,
				ExternalIPs:     []string{extIP},
				SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports:           []corev1.ServicePort{{Name: portName, Port: port, NodePort: nodePort, Protocol: corev1.Protocol(proto)}},
			},
		}
		p := corev1.Protocol(proto)
		mkSlice := func(addrs ...string) *discoveryv1.EndpointSlice {
			s := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &epPort, Protocol: &p}},
			}
			for i, a := range addrs {
				// The first endpoint is on this node.
				nodeName := "node-b"
				if i == 0 {
					nodeName = "node-a"
				}
				s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, NodeName: &nodeName})
			}
			return s
		}
		node := Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.1.10")}, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24")}}
		got := Ruleset([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{mkSlice(ep1, ep2)}, node)
		if again := Ruleset([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{mkSlice(ep2, ep1)}, node); again != got {
			t.Fatalf("endpoint order changed the ruleset:\n%s\n----\n%s", got, again)
		}
		// The same service with Local policies and one endpoint gone: the
		// in-place update must be well-formed, and empty only between
		// equal tables.
		local := svc.DeepCopy()
		local.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		local.Spec.InternalTrafficPolicy = new(corev1.ServiceInternalTrafficPolicyLocal)
		before := build([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{mkSlice(ep1, ep2)}, node)
		after := build([]*corev1.Service{local}, []*discoveryv1.EndpointSlice{mkSlice(ep1)}, node)
		if script, ok := before.diff(before); !ok || script != "" {
			t.Fatalf("diff of a table with itself: %q, %v", script, ok)
		}
		script, ok := after.diff(before)
		if ok && (script == "") != (after.render() == before.render()) {
			t.Fatalf("diff %q between\n%s\nand\n%s", script, before.render(), after.render())
		}
		if strings.Count(script, "{") != strings.Count(script, "}") {
			t.Fatalf("unbalanced braces:\n%s", script)
		}
		_ = after.staleUDP(before)
		if strings.Count(got, "{") != strings.Count(got, "}") {
			t.Fatalf("unbalanced braces:\n%s", got)
		}
		for _, line := range strings.Split(got, "\n") {
			if m := declaration.FindStringSubmatch(line); m != nil && !identifier.MatchString(m[2]) {
				t.Fatalf("bad identifier %q in:\n%s", m[2], got)
			}
			if strings.ContainsFunc(line, func(r rune) bool { return r != '\t' && (r < ' ' || r > '~') }) {
				t.Fatalf("unprintable byte in line %q", line)
			}
		}
	})
}
