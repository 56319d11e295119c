package ingress

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestHostMatches(t *testing.T) {
	cases := []struct {
		rule, host string
		want       bool
	}{
		{"foo.bar.com", "foo.bar.com", true},
		{"foo.bar.com", "FOO.Bar.com", true},
		{"foo.bar.com", "bar.com", false},
		{"*.foo.com", "bar.foo.com", true},
		{"*.foo.com", "baz.bar.foo.com", false},
		{"*.foo.com", "foo.com", false},
		{"*.Foo.com", "x.foo.com", true},
		{"", "anything.example", true},
		{"", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.rule+" "+tc.host, func(t *testing.T) {
			if got := hostMatches(tc.rule, normalizeHost(tc.host)); got != tc.want {
				t.Errorf("hostMatches(%q, %q) = %v, want %v", tc.rule, tc.host, got, tc.want)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	cases := map[string]string{
		"Example.COM":      "example.com",
		"example.com:8080": "example.com",
		"example.com.":     "example.com",
		"[::1]:443":        "::1",
		"[::1]":            "::1",
		"10.0.0.1:80":      "10.0.0.1",
		"":                 "",
	}
	for in, want := range cases {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPathMatching follows the examples table of the Ingress
// documentation ("Examples" under "Path types").
func TestPathMatching(t *testing.T) {
	type p struct {
		path string
		typ  *networkingv1.PathType
	}
	cases := []struct {
		name    string
		paths   []p
		request string
		want    string // the winning path, "" for no match
	}{
		{"prefix root", []p{{"/", &prefix}}, "/anything/at/all", "/"},
		{"exact", []p{{"/foo", &exact}}, "/foo", "/foo exact"},
		{"exact other", []p{{"/foo", &exact}}, "/bar", ""},
		{"exact no trailing slash", []p{{"/foo", &exact}}, "/foo/", ""},
		{"exact trailing slash", []p{{"/foo/", &exact}}, "/foo", ""},
		{"prefix same", []p{{"/foo", &prefix}}, "/foo", "/foo"},
		{"prefix trailing request", []p{{"/foo", &prefix}}, "/foo/", "/foo"},
		{"prefix trailing rule", []p{{"/foo/", &prefix}}, "/foo", "/foo/"},
		{"prefix trailing both", []p{{"/foo/", &prefix}}, "/foo/", "/foo/"},
		{"prefix not substring", []p{{"/aaa/bb", &prefix}}, "/aaa/bbb", ""},
		{"prefix element", []p{{"/aaa/bbb", &prefix}}, "/aaa/bbb", "/aaa/bbb"},
		{"prefix ignores trailing slash", []p{{"/aaa/bbb/", &prefix}}, "/aaa/bbb", "/aaa/bbb/"},
		{"prefix subpath", []p{{"/aaa/bbb", &prefix}}, "/aaa/bbb/ccc", "/aaa/bbb"},
		{"prefix not foobar", []p{{"/foo", &prefix}}, "/foobar", ""},
		{"longest prefix", []p{{"/", &prefix}, {"/aaa", &prefix}}, "/aaa/ccc", "/aaa"},
		{"longest prefix deep", []p{{"/", &prefix}, {"/aaa", &prefix}, {"/aaa/bbb", &prefix}}, "/aaa/bbb", "/aaa/bbb"},
		{"root fallback", []p{{"/", &prefix}, {"/aaa", &prefix}}, "/ccc", "/"},
		{"prefix other", []p{{"/aaa", &prefix}}, "/ccc", ""},
		{"exact beats prefix", []p{{"/foo", &prefix}, {"/foo", &exact}}, "/foo", "/foo exact"},
		{"exact beats longer prefix", []p{{"/foo/bar", &prefix}, {"/foo/bar", &exact}}, "/foo/bar", "/foo/bar exact"},
		{"prefix when exact misses", []p{{"/foo", &prefix}, {"/foo", &exact}}, "/foo/x", "/foo"},
		{"implementation specific is prefix", []p{{"/foo", &implSpec}}, "/foo/bar", "/foo"},
		{"nil type is prefix", []p{{"/foo", nil}}, "/foo/bar", "/foo"},
		{"double slash", []p{{"/foo", &prefix}}, "/foo//bar", "/foo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var paths []path
			for _, rp := range tc.paths {
				svc := rp.path
				if rp.typ != nil && *rp.typ == exact {
					svc += " exact"
				}
				paths = append(paths, path{path: rp.path, typ: rp.typ, svc: svc})
			}
			tbl := build(state{ingresses: []*networkingv1.Ingress{testIngress("a", 0, paths...)}}, nil)
			if got := servedBy(tbl.lookup("example.com", tc.request)); got != tc.want {
				t.Errorf("request %q routed to %q, want %q", tc.request, got, tc.want)
			}
		})
	}
}

func TestPrefixMatchesAgreesWithTable(t *testing.T) {
	cases := []struct {
		rule, path string
		want       bool
	}{
		{"/", "/x", true},
		{"/foo", "/foo", true},
		{"/foo", "/foo/", true},
		{"/foo/", "/foo", true},
		{"/foo", "/foobar", false},
		{"/foo/bar", "/foo", false},
	}
	for _, tc := range cases {
		if got := prefixMatches(tc.rule, tc.path); got != tc.want {
			t.Errorf("prefixMatches(%q, %q) = %v, want %v", tc.rule, tc.path, got, tc.want)
		}
	}
}

// The two functions below restate the spec's matching rules one rule at
// a time; tests check the table's indexed lookups against them.

// hostMatches reports whether a rule host (exact or "*.suffix") matches
// the already normalized request host; an empty rule host matches all.
func hostMatches(rule, host string) bool {
	rule = lowerASCII(rule)
	switch {
	case rule == "":
		return true
	case strings.HasPrefix(rule, "*."):
		suffix, ok := wildcardSuffix(host)
		return ok && suffix == rule[2:]
	default:
		return rule == host
	}
}

// prefixMatches reports whether request path p matches Prefix rule path
// rule element by element: "/foo" matches "/foo", "/foo/" and "/foo/bar"
// but not "/foobar".
func prefixMatches(rule, p string) bool {
	rule = prefixKey(rule)
	if rule == "/" {
		return true
	}
	return strings.HasPrefix(p, rule) && (len(p) == len(rule) || p[len(rule)] == '/')
}
