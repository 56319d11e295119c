package ingress

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	exact    = networkingv1.PathTypeExact
	prefix   = networkingv1.PathTypePrefix
	implSpec = networkingv1.PathTypeImplementationSpecific
	epoch    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// path is one rule path to a service's port 80.
type path struct {
	host, path string
	typ        *networkingv1.PathType
	svc        string
}

// testIngress makes Ingress name in namespace "default", created age
// minutes after epoch, with one rule per path.
func testIngress(name string, age int, paths ...path) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: name,
		CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute)),
	}}
	for _, p := range paths {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
			Host: p.host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: p.path, PathType: p.typ, Backend: svcBackend(p.svc, 80)}},
			}},
		})
	}
	return ing
}

func svcBackend(name string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: name, Port: networkingv1.ServiceBackendPort{Number: port},
	}}
}

// testService makes Service name in "default" with port 80 named "http"
// targeting 8080.
func testService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080),
		}}},
	}
}

// testSlice makes an EndpointSlice of service svc whose port "http" is
// port, with one ready endpoint per address.
func testSlice(svc string, port int, addrs ...string) *discoveryv1.EndpointSlice {
	name, p, tcp := "http", int32(port), corev1.ProtocolTCP
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: svc + "-" + strconv.Itoa(port),
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &p, Protocol: &tcp}},
	}
	for _, a := range addrs {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}})
	}
	return sl
}

// servedBy names the Service a lookup routed to, "" for none.
func servedBy(b *backend) string {
	if b == nil {
		return ""
	}
	// name is namespace/service:port
	n := b.name
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == ':' {
			n = n[:i]
			break
		}
	}
	for i := 0; i < len(n); i++ {
		if n[i] == '/' {
			return n[i+1:]
		}
	}
	return n
}
