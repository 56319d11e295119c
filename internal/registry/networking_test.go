package registry

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func newIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: groupsMeta("web"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/api", PathType: new(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}}}}}}}
}

func TestIngressValidation(t *testing.T) {
	path := func(ing *networkingv1.Ingress) *networkingv1.HTTPIngressPath { return &ing.Spec.Rules[0].HTTP.Paths[0] }
	cases := []struct {
		name   string
		mutate func(ing *networkingv1.Ingress)
		want   []string
	}{
		{"valid", func(ing *networkingv1.Ingress) {}, nil},
		{"wildcard host", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "*.example.com" }, nil},
		{"default backend only", func(ing *networkingv1.Ingress) {
			ing.Spec.DefaultBackend = &path(ing).Backend
			ing.Spec.Rules = nil
		}, nil},
		{"nothing", func(ing *networkingv1.Ingress) { ing.Spec.Rules = nil }, []string{"spec"}},
		{"bad host", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "Example_com" }, []string{"spec.rules[0].host"}},
		{"ip host", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "10.0.0.1" }, []string{"spec.rules[0].host"}},
		{"bad wildcard", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "foo.*.com" }, []string{"spec.rules[0].host"}},
		{"no path type", func(ing *networkingv1.Ingress) { path(ing).PathType = nil }, []string{"spec.rules[0].http.paths[0].pathType"}},
		{"unknown path type", func(ing *networkingv1.Ingress) { path(ing).PathType = new(networkingv1.PathType("Regex")) },
			[]string{"spec.rules[0].http.paths[0].pathType"}},
		{"relative path", func(ing *networkingv1.Ingress) { path(ing).Path = "api" }, []string{"spec.rules[0].http.paths[0].path"}},
		{"implementation specific relative", func(ing *networkingv1.Ingress) {
			path(ing).PathType = new(networkingv1.PathTypeImplementationSpecific)
			path(ing).Path = "api"
		}, []string{"spec.rules[0].http.paths[0].path"}},
		{"implementation specific regex", func(ing *networkingv1.Ingress) {
			path(ing).PathType = new(networkingv1.PathTypeImplementationSpecific)
			path(ing).Path = "/api(/|$)(.*)"
		}, nil},
		{"no paths", func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].HTTP.Paths = nil }, []string{"spec.rules[0].http.paths"}},
		{"two backends", func(ing *networkingv1.Ingress) {
			path(ing).Backend.Resource = &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"}
		}, []string{"spec.rules[0].http.paths[0].backend"}},
		{"no backend", func(ing *networkingv1.Ingress) { path(ing).Backend = networkingv1.IngressBackend{} },
			[]string{"spec.rules[0].http.paths[0].backend"}},
		{"port name and number", func(ing *networkingv1.Ingress) { path(ing).Backend.Service.Port.Number = 80 },
			[]string{"spec.rules[0].http.paths[0].backend.service.port"}},
		{"no port", func(ing *networkingv1.Ingress) { path(ing).Backend.Service.Port = networkingv1.ServiceBackendPort{} },
			[]string{"spec.rules[0].http.paths[0].backend.service.port"}},
		{"bad port number", func(ing *networkingv1.Ingress) {
			path(ing).Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 70000}
		}, []string{"spec.rules[0].http.paths[0].backend.service.port.number"}},
		{"tls", func(ing *networkingv1.Ingress) {
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"example.com"}, SecretName: "Bad_Name"}}
		}, []string{"spec.tls[0].secretName"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ing := newIngress()
			tc.mutate(ing)
			groupsWantFields(t, groupsCreate(ingresses(), ing), tc.want...)
		})
	}
}

func TestIngressRow(t *testing.T) {
	ing := newIngress()
	ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: "b.example.com"}, networkingv1.IngressRule{},
		networkingv1.IngressRule{Host: "c.example.com"}, networkingv1.IngressRule{Host: "d.example.com"})
	ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "tls"}}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "lb.example.com"}}
	row := ingresses().Row(ing)
	want := []any{"web", "<none>", "example.com,b.example.com,c.example.com + 2 more...", "192.0.2.1,lb.example.com", "80, 443"}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %q, want %q", i, row[i], want[i])
		}
	}
	if got := ingressHosts([]networkingv1.IngressRule{{}}); got != "*" {
		t.Errorf("hosts of a catch-all rule = %q", got)
	}
}

func TestIngressClass(t *testing.T) {
	k := ingressClasses()
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{
		Controller: "k8s.io/ingress-nginx",
		Parameters: &networkingv1.IngressClassParametersReference{APIGroup: new("k8s.example.com"), Kind: "Params", Name: "p"}}}
	groupsWantFields(t, groupsCreate(k, ic))
	if *ic.Spec.Parameters.Scope != "Cluster" {
		t.Errorf("scope = %q", *ic.Spec.Parameters.Scope)
	}
	if row := k.Row(ic); row[2] != "Params.k8s.example.com/p" {
		t.Errorf("PARAMETERS = %v", row[2])
	}
	changed := ic.DeepCopy()
	changed.Spec.Controller = "example.com/other"
	groupsWantFields(t, k.Validate(changed, ic), "spec.controller")

	bad := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: networkingv1.IngressClassSpec{
		Parameters: &networkingv1.IngressClassParametersReference{Scope: new("Namespace")}}}
	groupsWantFields(t, groupsCreate(k, bad), "spec.controller", "spec.parameters.kind", "spec.parameters.name", "spec.parameters.namespace")
}

func TestNetworkPolicy(t *testing.T) {
	k := networkPolicies()
	np := &networkingv1.NetworkPolicy{ObjectMeta: groupsMeta("np"), Spec: networkingv1.NetworkPolicySpec{
		Egress: []networkingv1.NetworkPolicyEgressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: new(intstr.FromInt32(53)), Protocol: new(corev1.ProtocolUDP)}, {Port: new(intstr.FromString("dns"))}},
			To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
		}}}}
	groupsWantFields(t, groupsCreate(k, np))
	if got := np.Spec.PolicyTypes; len(got) != 2 || got[0] != "Ingress" || got[1] != "Egress" {
		t.Errorf("policyTypes = %v", got)
	}
	if p := np.Spec.Egress[0].Ports; *p[0].Protocol != corev1.ProtocolUDP || *p[1].Protocol != corev1.ProtocolTCP {
		t.Errorf("protocols = %v, %v", *p[0].Protocol, *p[1].Protocol)
	}
	if row := k.Row(np); row[1] != "<none>" {
		t.Errorf("POD-SELECTOR = %v", row[1])
	}

	ingressOnly := &networkingv1.NetworkPolicy{}
	k.Defaults(ingressOnly)
	if got := ingressOnly.Spec.PolicyTypes; len(got) != 1 || got[0] != "Ingress" {
		t.Errorf("policyTypes = %v", got)
	}

	bad := np.DeepCopy()
	e := &bad.Spec.Egress[0]
	e.Ports[0].EndPort = new(int32(10))
	e.Ports[1].Protocol = new(corev1.Protocol("ICMP"))
	e.To = append(e.To, networkingv1.NetworkPolicyPeer{},
		networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}, PodSelector: &metav1.LabelSelector{}},
		networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}})
	bad.Spec.PolicyTypes = append(bad.Spec.PolicyTypes, "Ingress")
	groupsWantFields(t, k.Validate(bad, nil),
		"spec.egress[0].ports[0].endPort", "spec.egress[0].ports[1].protocol", "spec.egress[0].to[1]", "spec.egress[0].to[2]",
		"spec.egress[0].to[3].ipBlock.except[0]", "spec.policyTypes", "spec.policyTypes[2]")
}

func TestEndpointSlice(t *testing.T) {
	k := endpointSlices()
	es := &discoveryv1.EndpointSlice{ObjectMeta: groupsMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.5"}}, {Addresses: []string{"10.0.0.6"}}, {Addresses: []string{"10.0.0.7"}},
			{Addresses: []string{"10.0.0.8"}}},
		Ports: []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(80))}, {Name: new("https"), Port: new(int32(443))}}}
	groupsWantFields(t, groupsCreate(k, es))
	if *es.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("protocol = %v", *es.Ports[0].Protocol)
	}
	row := k.Row(es)
	if row[1] != "IPv4" || row[2] != "80,443" || row[3] != "10.0.0.5,10.0.0.6,10.0.0.7 + 1 more..." {
		t.Errorf("row = %v", row)
	}
	if row := k.Row(&discoveryv1.EndpointSlice{}); row[2] != "<unset>" || row[3] != "<unset>" {
		t.Errorf("empty row = %v", row)
	}

	bad := es.DeepCopy()
	bad.AddressType = "IPX"
	bad.Endpoints[0].Addresses = nil
	bad.Ports[1].Name = new("http")
	groupsWantFields(t, k.Validate(bad, nil), "addressType", "endpoints[0].addresses", "ports[1].name")
	v6 := es.DeepCopy()
	v6.AddressType = discoveryv1.AddressTypeIPv6
	groupsWantFields(t, k.Validate(v6, nil), "endpoints[0].addresses[0]", "endpoints[1].addresses[0]",
		"endpoints[2].addresses[0]", "endpoints[3].addresses[0]")
	groupsWantFields(t, k.Validate(v6, es), "addressType", "endpoints[0].addresses[0]", "endpoints[1].addresses[0]",
		"endpoints[2].addresses[0]", "endpoints[3].addresses[0]")
}

func TestLease(t *testing.T) {
	k := leases()
	l := &coordinationv1.Lease{ObjectMeta: groupsMeta("l"), Spec: coordinationv1.LeaseSpec{
		LeaseDurationSeconds: new(int32(0)), LeaseTransitions: new(int32(-1)), PreferredHolder: new("a")}}
	groupsWantFields(t, k.Validate(l, nil), "spec.leaseDurationSeconds", "spec.leaseTransitions", "spec.preferredHolder")
	if row := k.Row(l); row[1] != "" {
		t.Errorf("HOLDER = %q", row[1])
	}
}
