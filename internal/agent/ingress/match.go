package ingress

import (
	"net"
	"strings"
)

// normalizeHost turns a request's Host header into the form rules are
// keyed by: lower case, without port or trailing dot. IPv6 literals keep
// no brackets.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.TrimSuffix(host, ".")
	return lowerASCII(host)
}

// lowerASCII lowers host names without allocating for the common case of
// a name that is already lower case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// wildcardSuffix returns the part of host a wildcard rule "*.suffix" would
// have to name to match it: everything after the first label. It is false
// for a host of one label, which no wildcard matches.
func wildcardSuffix(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 || i == len(host)-1 {
		return "", false
	}
	return host[i+1:], true
}

// prefixKey is the form a Prefix path is stored under: trailing slashes
// carry no meaning for element-wise matching, so "/foo/" and "/foo" are
// the same rule, and "/" stays "/".
func prefixKey(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "/"
	}
	return p
}

// prefixCandidates calls yield with every Prefix key that could match
// path p, longest first, and stops when yield returns true. Walking up
// the path this way makes a lookup cost the path's depth, not the number
// of rules.
func prefixCandidates(p string, yield func(key string) bool) {
	cur := strings.TrimRight(p, "/")
	for cur != "" {
		if yield(cur) {
			return
		}
		i := strings.LastIndexByte(cur, '/')
		if i < 0 {
			break
		}
		cur = strings.TrimRight(cur[:i], "/")
	}
	yield("/")
}
