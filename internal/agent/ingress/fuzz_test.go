package ingress

import (
	"crypto/tls"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzBuildAndLookup builds tables from Ingresses whose hosts, paths and
// path types come from the fuzzer and checks that a lookup neither
// panics nor disagrees with the matching rules it is built from.
func FuzzBuildAndLookup(f *testing.F) {
	f.Add("foo.example.com", "/api", uint8(0), "*.example.com", "/", uint8(1), "FOO.example.com:80", "/api/x", "tls.example.com")
	f.Add("", "", uint8(2), "*.", "no-slash", uint8(3), "", "", "*")
	f.Add("a", "//", uint8(1), "*.a", "/a//b/", uint8(0), "b.a.", "/a//b", "")
	f.Add("[::1]", "/%2F", uint8(0), "*", "/x", uint8(1), "[::1]:443", "/%2F", "*.")
	f.Fuzz(func(t *testing.T, h1, p1 string, t1 uint8, h2, p2 string, t2 uint8, reqHost, reqPath, tlsHost string) {
		types := []*networkingv1.PathType{&exact, &prefix, &implSpec, nil}
		typ := func(b uint8) *networkingv1.PathType { return types[int(b)%len(types)] }
		a := testIngress("a", 0, path{host: h1, path: p1, typ: typ(t1), svc: "one"})
		b := testIngress("b", 1, path{host: h2, path: p2, typ: typ(t2), svc: "two"}, path{host: h1, path: p2, typ: typ(t1), svc: "three"})
		b.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: h2}}
		b.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{tlsHost, h1}, SecretName: "s"}}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s"}}
		tbl := build(state{
			ingresses: []*networkingv1.Ingress{b, a},
			services:  []*corev1.Service{testService("one")},
			// The fuzzed path doubles as an endpoint address the resolver must reject or accept cleanly.
			slices:  []*discoveryv1.EndpointSlice{testSlice("one", 8080, "10.0.0.1", p1)},
			secrets: []*corev1.Secret{sec},
		}, func(*corev1.Secret) (*tls.Certificate, error) { return &tls.Certificate{}, nil })
		got := tbl.lookup(reqHost, reqPath)
		tbl.certificate(reqHost)
		if got == nil {
			return
		}
		if got == tbl.defaultBackend {
			return
		}
		// Whatever matched must match by host and by path on its own.
		host := normalizeHost(reqHost)
		for _, rule := range append(a.Spec.Rules, b.Spec.Rules...) {
			p := rule.HTTP.Paths[0]
			if servedBy(got) != p.Backend.Service.Name || !hostMatches(rule.Host, host) {
				continue
			}
			rp := p.Path
			if rp == "" {
				rp = "/"
			}
			isExact := p.PathType != nil && *p.PathType == exact
			if (isExact && rp == reqPath) || (!isExact && strings.HasPrefix(rp, "/") && prefixMatches(rp, reqPath)) {
				return
			}
		}
		t.Errorf("lookup(%q, %q) chose %s, which no rule matches", reqHost, reqPath, got.name)
	})
}

// FuzzMatch checks the host and path matchers against their definitions.
func FuzzMatch(f *testing.F) {
	f.Add("*.example.com", "a.example.com", "/foo", "/foo/bar")
	f.Add("example.com", "EXAMPLE.com:80", "/", "")
	f.Add("*.", ".", "//", "/x//")
	f.Fuzz(func(t *testing.T, ruleHost, host, rulePath, reqPath string) {
		n := normalizeHost(host)
		if hostMatches(ruleHost, n) && strings.HasPrefix(ruleHost, "*.") {
			if strings.Count(n, ".") < strings.Count(ruleHost, ".") {
				t.Errorf("wildcard %q matched %q, which has too few labels", ruleHost, n)
			}
		}
		if !strings.HasPrefix(rulePath, "/") {
			return
		}
		got := prefixMatches(rulePath, reqPath)
		// Element-wise definition: the rule's elements are the first
		// elements of the request path.
		elems := func(s string) []string { return strings.Split(strings.TrimRight(s, "/"), "/") }
		re, pe := elems(rulePath), elems(reqPath)
		want := prefixKey(rulePath) == "/" || (len(pe) >= len(re) && strings.Join(pe[:len(re)], "/") == strings.Join(re, "/"))
		if got != want {
			t.Errorf("prefixMatches(%q, %q) = %v, want %v", rulePath, reqPath, got, want)
		}
		found := ""
		prefixCandidates(reqPath, func(key string) bool {
			if key == prefixKey(rulePath) {
				found = key
				return true
			}
			return false
		})
		if (found != "") != got {
			t.Errorf("prefixCandidates(%q) found %q for rule %q, prefixMatches says %v", reqPath, found, rulePath, got)
		}
	})
}

// FuzzParseCertificate feeds arbitrary Secret data to the certificate
// parser, which must fail cleanly.
func FuzzParseCertificate(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("key"))
	f.Fuzz(func(t *testing.T, crt, key []byte) {
		sec := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
		if cert, err := parseCertificate(sec); err == nil && cert == nil {
			t.Error("no certificate and no error")
		}
	})
}
