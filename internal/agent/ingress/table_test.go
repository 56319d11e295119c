package ingress

import (
	"crypto/tls"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostPrecedence(t *testing.T) {
	ings := []*networkingv1.Ingress{
		testIngress("rules", 0,
			path{host: "foo.example.com", path: "/", typ: &prefix, svc: "exact-root"},
			path{host: "foo.example.com", path: "/api", typ: &prefix, svc: "exact-api"},
			path{host: "*.example.com", path: "/", typ: &prefix, svc: "wild-root"},
			path{host: "*.example.com", path: "/wild", typ: &prefix, svc: "wild-only"},
			path{host: "", path: "/", typ: &prefix, svc: "any-root"},
			path{host: "", path: "/anyonly", typ: &exact, svc: "any-exact"},
			path{host: "api.example.org", path: "/v1", typ: &prefix, svc: "org-v1"},
		),
	}
	tbl := build(state{ingresses: ings}, nil)
	cases := []struct {
		host, path, want string
	}{
		{"foo.example.com", "/", "exact-root"},
		{"FOO.example.com:8443", "/api/x", "exact-api"},
		{"foo.example.com", "/wild", "exact-root"}, // the exact host's "/" matches first
		{"bar.example.com", "/", "wild-root"},
		{"bar.example.com", "/wild/x", "wild-only"},
		{"a.bar.example.com", "/", "any-root"}, // a wildcard covers one label only
		{"example.com", "/", "any-root"},
		{"other.test", "/anyonly", "any-exact"},
		{"api.example.org", "/v1/x", "org-v1"},
		{"api.example.org", "/v2", "any-root"}, // falls through to host-less rules
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			if got := servedBy(tbl.lookup(tc.host, tc.path)); got != tc.want {
				t.Errorf("lookup(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
			}
		})
	}
}

func TestMergeAndDefaultBackend(t *testing.T) {
	withDefault := func(ing *networkingv1.Ingress, svc string) *networkingv1.Ingress {
		b := svcBackend(svc, 80)
		ing.Spec.DefaultBackend = &b
		return ing
	}
	cases := []struct {
		name       string
		ingresses  []*networkingv1.Ingress
		host, path string
		want       string
	}{
		{
			name: "rules of two ingresses for one host merge",
			ingresses: []*networkingv1.Ingress{
				testIngress("a", 0, path{host: "shop.test", path: "/cart", typ: &prefix, svc: "cart"}),
				testIngress("b", 1, path{host: "shop.test", path: "/pay", typ: &prefix, svc: "pay"}),
			},
			host: "shop.test", path: "/pay/now", want: "pay",
		},
		{
			name: "oldest wins an identical rule",
			ingresses: []*networkingv1.Ingress{
				testIngress("new", 5, path{host: "shop.test", path: "/", typ: &prefix, svc: "new"}),
				testIngress("old", 1, path{host: "shop.test", path: "/", typ: &prefix, svc: "old"}),
			},
			host: "shop.test", path: "/", want: "old",
		},
		{
			name: "same age: namespace/name decides",
			ingresses: []*networkingv1.Ingress{
				testIngress("b", 0, path{host: "shop.test", path: "/", typ: &prefix, svc: "b"}),
				testIngress("a", 0, path{host: "shop.test", path: "/", typ: &prefix, svc: "a"}),
			},
			host: "shop.test", path: "/x", want: "a",
		},
		{
			name: "trailing slash is the same prefix rule",
			ingresses: []*networkingv1.Ingress{
				testIngress("old", 0, path{host: "shop.test", path: "/x/", typ: &prefix, svc: "old"}),
				testIngress("new", 1, path{host: "shop.test", path: "/x", typ: &prefix, svc: "new"}),
			},
			host: "shop.test", path: "/x", want: "old",
		},
		{
			name: "exact and prefix on one path do not conflict",
			ingresses: []*networkingv1.Ingress{
				testIngress("old", 0, path{host: "shop.test", path: "/x", typ: &prefix, svc: "prefix"}),
				testIngress("new", 1, path{host: "shop.test", path: "/x", typ: &exact, svc: "exact"}),
			},
			host: "shop.test", path: "/x", want: "exact",
		},
		{
			name: "no rule: default backend",
			ingresses: []*networkingv1.Ingress{
				withDefault(testIngress("a", 0, path{host: "shop.test", path: "/cart", typ: &prefix, svc: "cart"}), "fallback"),
			},
			host: "other.test", path: "/", want: "fallback",
		},
		{
			name: "oldest default backend wins",
			ingresses: []*networkingv1.Ingress{
				withDefault(testIngress("new", 3), "new-default"),
				withDefault(testIngress("old", 2), "old-default"),
			},
			host: "x", path: "/", want: "old-default",
		},
		{
			name:      "no rule, no default: nothing",
			ingresses: []*networkingv1.Ingress{testIngress("a", 0, path{host: "shop.test", path: "/cart", typ: &prefix, svc: "cart"})},
			host:      "shop.test", path: "/", want: "",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tbl := build(state{ingresses: tc.ingresses}, nil)
			if got := servedBy(tbl.lookup(tc.host, tc.path)); got != tc.want {
				t.Errorf("lookup(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
			}
		})
	}
}

func TestBackendResolution(t *testing.T) {
	ready, notReady, terminating := true, false, true
	port := func(name string, number int32) *networkingv1.Ingress {
		ing := testIngress("a", 0)
		ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "web", Port: networkingv1.ServiceBackendPort{Name: name, Number: number},
		}}
		return ing
	}
	mixed := testSlice("web", 8080, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
	mixed.Endpoints[1].Conditions.Ready = &notReady
	mixed.Endpoints[2].Conditions.Ready = &ready
	mixed.Endpoints[3].Conditions.Terminating = &terminating
	cases := []struct {
		name        string
		ing         *networkingv1.Ingress
		services    []*corev1.Service
		slices      []*discoveryv1.EndpointSlice
		endpoints   []string
		unavailable string
	}{
		{"by number", port("", 80), []*corev1.Service{testService("web")}, []*discoveryv1.EndpointSlice{testSlice("web", 8080, "10.0.0.1")}, []string{"10.0.0.1:8080"}, ""},
		{"by name", port("http", 0), []*corev1.Service{testService("web")}, []*discoveryv1.EndpointSlice{testSlice("web", 8080, "10.0.0.1")}, []string{"10.0.0.1:8080"}, ""},
		{"several slices", port("", 80), []*corev1.Service{testService("web")},
			[]*discoveryv1.EndpointSlice{testSlice("web", 8080, "10.0.0.2"), testSlice("web", 9090, "10.0.0.1"), testSlice("other", 1, "10.9.9.9")},
			[]string{"10.0.0.1:9090", "10.0.0.2:8080"}, ""},
		{"readiness", port("", 80), []*corev1.Service{testService("web")}, []*discoveryv1.EndpointSlice{mixed}, []string{"10.0.0.1:8080", "10.0.0.3:8080"}, ""},
		{"no service", port("", 80), nil, nil, nil, "service not found"},
		{"wrong port number", port("", 81), []*corev1.Service{testService("web")}, nil, nil, "service has no such port"},
		{"wrong port name", port("grpc", 0), []*corev1.Service{testService("web")}, nil, nil, "service has no such port"},
		{"no endpoints", port("", 80), []*corev1.Service{testService("web")}, nil, nil, "no ready endpoints"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tbl := build(state{ingresses: []*networkingv1.Ingress{tc.ing}, services: tc.services, slices: tc.slices}, nil)
			b := tbl.lookup("x", "/")
			if b == nil {
				t.Fatal("no backend")
			}
			if !slices.Equal(b.endpoints, tc.endpoints) || b.unavailable != tc.unavailable {
				t.Errorf("got endpoints %v, unavailable %q; want %v, %q", b.endpoints, b.unavailable, tc.endpoints, tc.unavailable)
			}
		})
	}
	t.Run("resource backend", func(t *testing.T) {
		ing := testIngress("a", 0)
		ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}
		b := build(state{ingresses: []*networkingv1.Ingress{ing}}, nil).lookup("x", "/")
		if b == nil || b.unavailable == "" {
			t.Fatalf("resource backend = %+v, want unavailable", b)
		}
	})
}

func TestServes(t *testing.T) {
	name := func(s string) *string { return &s }
	cases := []struct {
		name      string
		className *string
		legacy    string
		isDefault bool
		want      bool
	}{
		{"explicit class", name("bosun"), "", false, true},
		{"other class", name("nginx"), "", true, false},
		{"explicit class beats annotation", name("bosun"), "nginx", false, true},
		{"legacy annotation", nil, "bosun", false, true},
		{"legacy annotation of another class", nil, "nginx", true, false},
		{"no class, default class", nil, "", true, true},
		{"no class, not default", nil, "", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ing := testIngress("a", 0)
			ing.Spec.IngressClassName = tc.className
			if tc.legacy != "" {
				ing.Annotations = map[string]string{legacyClassAnnotation: tc.legacy}
			}
			if got := serves(ing, "bosun", tc.isDefault); got != tc.want {
				t.Errorf("serves = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsDefaultClass(t *testing.T) {
	class := func(name, def string) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if def != "" {
			c.Annotations = map[string]string{defaultClassAnnotation: def}
		}
		return c
	}
	cases := []struct {
		name    string
		classes []*networkingv1.IngressClass
		want    bool
	}{
		{"marked", []*networkingv1.IngressClass{class("nginx", "true"), class("bosun", "true")}, true},
		{"another is default", []*networkingv1.IngressClass{class("nginx", "true"), class("bosun", "")}, false},
		{"false", []*networkingv1.IngressClass{class("bosun", "false")}, false},
		{"no class object", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isDefaultClass(tc.classes, "bosun"); got != tc.want {
				t.Errorf("isDefaultClass = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCertificateChoice(t *testing.T) {
	certA, certB, certC, certD := &tls.Certificate{}, &tls.Certificate{}, &tls.Certificate{}, &tls.Certificate{}
	byName := map[string]*tls.Certificate{"a": certA, "b": certB, "c": certC, "d": certD}
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Type: corev1.SecretTypeTLS}
	}
	old := testIngress("old", 0)
	old.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"shop.test", "*.shop.test"}, SecretName: "a"},
		{SecretName: "c"}, // no hosts: any name nothing else claims
	}
	young := testIngress("young", 1)
	young.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"SHOP.test", "api.shop.test"}, SecretName: "b"},
		{Hosts: []string{"missing.test"}, SecretName: "absent"},
		{Hosts: []string{"bad.test"}, SecretName: "d"},
	}
	source := func(s *corev1.Secret) (*tls.Certificate, error) {
		if s.Name == "d" {
			return nil, errors.New("bad key pair")
		}
		return byName[s.Name], nil
	}
	tbl := build(state{
		ingresses: []*networkingv1.Ingress{young, old},
		secrets:   []*corev1.Secret{secret("a"), secret("b"), secret("c"), secret("d")},
	}, source)
	cases := []struct {
		sni  string
		want *tls.Certificate
	}{
		{"shop.test", certA},     // the older Ingress claimed it first
		{"api.shop.test", certB}, // an exact name beats the wildcard
		{"www.shop.test", certA},
		{"a.b.shop.test", certC}, // a wildcard covers one label only
		{"missing.test", certC},  // the secret does not exist
		{"bad.test", certC},      // the secret does not parse
		{"", certC},
	}
	for _, tc := range cases {
		if got := tbl.certificate(tc.sni); got != tc.want {
			t.Errorf("certificate(%q) is not the expected one", tc.sni)
		}
	}
}
