package registry

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func coreService(mutate func(*corev1.ServiceSpec)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "metrics", Port: 9090}},
		},
	}
	if mutate != nil {
		mutate(&s.Spec)
	}
	return s
}

func TestServiceWrites(t *testing.T) {
	allocated := coreService(func(s *corev1.ServiceSpec) { s.ClusterIP = "10.96.0.10" })
	runCoreCases(t, services(), []coreCase{
		{name: "valid", obj: coreService(nil)},
		{name: "headless without ports", obj: coreService(func(s *corev1.ServiceSpec) { s.ClusterIP = corev1.ClusterIPNone; s.Ports = nil })},
		{name: "node port", obj: coreService(func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeNodePort; s.Ports[0].NodePort = 30080 })},
		{name: "load balancer", obj: coreService(func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeLoadBalancer })},
		{name: "external name", obj: coreService(func(s *corev1.ServiceSpec) {
			s.Type, s.ExternalName, s.Ports, s.Selector = corev1.ServiceTypeExternalName, "db.example.com.", nil, nil
		})},
		{name: "no ports", obj: coreService(func(s *corev1.ServiceSpec) { s.Ports = nil }), paths: []string{"spec.ports"}},
		{name: "port problems", obj: coreService(func(s *corev1.ServiceSpec) {
			s.Ports = []corev1.ServicePort{{Port: 0}, {Name: "http", Port: 80, Protocol: "ICMP"}, {Name: "http", Port: 81, NodePort: 30000}}
		}), paths: []string{
			"spec.ports[0].name", "spec.ports[0].port", "spec.ports[0].targetPort",
			"spec.ports[1].protocol", "spec.ports[2].name", "spec.ports[2].nodePort",
		}},
		{name: "bad type and selector", obj: coreService(func(s *corev1.ServiceSpec) {
			s.Type = "Magic"
			s.Selector = map[string]string{"app": "not a value"}
		}), paths: []string{"spec.selector", "spec.type"}},
		{name: "external name missing", obj: coreService(func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeExternalName }),
			paths: []string{"spec.externalName"}},
		{name: "external name invalid", obj: coreService(func(s *corev1.ServiceSpec) {
			s.Type, s.ExternalName = corev1.ServiceTypeExternalName, "not_a_host"
		}), paths: []string{"spec.externalName"}},
		{name: "bad cluster IP", obj: coreService(func(s *corev1.ServiceSpec) { s.ClusterIP = "10.96.0.300" }),
			paths: []string{"spec.clusterIP"}},
		{name: "update keeps allocated IP", old: allocated, obj: coreService(nil)},
		{name: "update changes IP", old: allocated, obj: coreService(func(s *corev1.ServiceSpec) { s.ClusterIP = "10.96.0.11" }),
			paths: []string{"spec.clusterIPs[0]"}},
		{name: "update to ExternalName drops the IP", old: allocated, obj: coreService(func(s *corev1.ServiceSpec) {
			s.Type, s.ExternalName, s.Ports = corev1.ServiceTypeExternalName, "db.example.com", nil
			s.ClusterIP, s.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		})},
		{name: "update NodePort to ClusterIP drops traffic policy", old: coreService(func(s *corev1.ServiceSpec) {
			s.Type, s.ClusterIP = corev1.ServiceTypeNodePort, "10.96.0.10"
			s.Ports[0].NodePort = 30080
		}), obj: coreService(func(s *corev1.ServiceSpec) {
			s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Ports[0].NodePort = 30080
		})},
	})
}

func TestServiceDefaults(t *testing.T) {
	svc := coreService(func(s *corev1.ServiceSpec) {
		s.Type = corev1.ServiceTypeLoadBalancer
		s.SessionAffinity = corev1.ServiceAffinityClientIP
	})
	services().Defaults(svc)
	s := svc.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"protocol", s.Ports[1].Protocol, corev1.ProtocolTCP},
		{"named target port kept", s.Ports[0].TargetPort, intstr.FromString("http")},
		{"target port from port", s.Ports[1].TargetPort, intstr.FromInt32(9090)},
		{"external traffic policy", s.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster},
		{"internal traffic policy", *s.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster},
		{"allocate node ports", *s.AllocateLoadBalancerNodePorts, true},
		{"family policy", *s.IPFamilyPolicy, corev1.IPFamilyPolicySingleStack},
		{"families", len(s.IPFamilies) == 1 && s.IPFamilies[0] == corev1.IPv4Protocol, true},
		{"affinity timeout", *s.SessionAffinityConfig.ClientIP.TimeoutSeconds, int32(10800)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	plain := coreService(nil)
	services().Defaults(plain)
	if plain.Spec.Type != corev1.ServiceTypeClusterIP || plain.Spec.SessionAffinity != corev1.ServiceAffinityNone || plain.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ClusterIP defaults: %+v", plain.Spec)
	}
	ext := coreService(func(s *corev1.ServiceSpec) { s.Type, s.ExternalName = corev1.ServiceTypeExternalName, "db.example.com" })
	services().Defaults(ext)
	if ext.Spec.IPFamilyPolicy != nil || ext.Spec.IPFamilies != nil || ext.Spec.InternalTrafficPolicy != nil {
		t.Errorf("ExternalName got IP settings: %+v", ext.Spec)
	}
}

func TestServiceNeeds(t *testing.T) {
	cases := []struct {
		name        string
		mutate      func(*corev1.ServiceSpec)
		ip, nodePts bool
	}{
		{"cluster IP", nil, true, false},
		{"headless", func(s *corev1.ServiceSpec) { s.ClusterIP = corev1.ClusterIPNone }, false, false},
		{"external name", func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeExternalName }, false, false},
		{"node port", func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeNodePort }, true, true},
		{"load balancer", func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeLoadBalancer }, true, true},
		{"load balancer without node ports", func(s *corev1.ServiceSpec) {
			s.Type, s.AllocateLoadBalancerNodePorts = corev1.ServiceTypeLoadBalancer, new(false)
		}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := coreService(tc.mutate)
			services().Defaults(svc)
			if got := ServiceNeedsClusterIP(svc); got != tc.ip {
				t.Errorf("ServiceNeedsClusterIP = %v", got)
			}
			if got := ServiceNeedsNodePorts(svc); got != tc.nodePts {
				t.Errorf("ServiceNeedsNodePorts = %v", got)
			}
		})
	}
}

func TestServiceRow(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []any // TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), SELECTOR
	}{
		{"cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" },
			[]any{"ClusterIP", "10.96.0.10", "<none>", "80/TCP,9090/TCP", "app=web"}},
		{"node port", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeNodePort, "10.96.0.10"
			s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30090
		}, []any{"NodePort", "10.96.0.10", "<none>", "80:30080/TCP,9090:30090/TCP", "app=web"}},
		{"pending load balancer", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer; s.Spec.Selector = nil },
			[]any{"LoadBalancer", "<none>", "<pending>", "80/TCP,9090/TCP", "<none>"}},
		{"load balancer", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}}
		}, []any{"LoadBalancer", "<none>", "203.0.113.7,lb.example.com", "80/TCP,9090/TCP", "app=web"}},
		{"external name", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports, s.Spec.Selector = corev1.ServiceTypeExternalName, "db.example.com", nil, nil
		}, []any{"ExternalName", "<none>", "db.example.com", "<none>", "<none>"}},
	}
	k := services()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := coreService(nil)
			tc.mutate(svc)
			services().Defaults(svc)
			row := k.Row(svc)
			if len(row) != len(k.Columns) {
				t.Fatalf("row has %d cells for %d columns", len(row), len(k.Columns))
			}
			got := []any{row[1], row[2], row[3], row[4], row[6]}
			if !slices.Equal(got, tc.want) {
				t.Errorf("row = %v, want %v", got, tc.want)
			}
		})
	}
}
