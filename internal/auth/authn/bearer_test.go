package authn

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{"plain", "Bearer abc", "abc", true},
		{"lower case scheme", "bearer abc", "abc", true},
		{"odd case scheme", "BEARER abc", "abc", true},
		{"padded", "  Bearer   abc  ", "abc", true},
		{"jwt", "Bearer a.b-c_d.e", "a.b-c_d.e", true},
		{"basic", "Basic dXNlcjpwYXNz", "", false},
		{"no token", "Bearer", "", false},
		{"blank token", "Bearer    ", "", false},
		{"two words", "Bearer abc def", "", false},
		{"scheme glued", "Bearerabc", "", false},
		{"empty", "", "", false},
		{"tab in token", "Bearer a\tb", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseBearer(tc.header)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func wsProto(token string) string {
	return WebSocketProtocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
}

func TestBearerToken(t *testing.T) {
	upgrade := map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}
	cases := []struct {
		name    string
		headers map[string]string
		protos  []string
		want    string
		ok      bool
	}{
		{"authorization", map[string]string{"Authorization": "Bearer abc"}, nil, "abc", true},
		{"authorization wins", map[string]string{"Authorization": "Bearer abc", "Connection": "Upgrade", "Upgrade": "websocket"}, []string{wsProto("xyz")}, "abc", true},
		{"websocket", upgrade, []string{"v5.channel.k8s.io, " + wsProto("xyz")}, "xyz", true},
		{"websocket second header", upgrade, []string{"v5.channel.k8s.io", wsProto("xyz")}, "xyz", true},
		{"websocket padded base64", upgrade, []string{WebSocketProtocolPrefix + base64.URLEncoding.EncodeToString([]byte("xy"))}, "", false},
		{"websocket two tokens", upgrade, []string{wsProto("a") + "," + wsProto("b")}, "", false},
		{"websocket empty token", upgrade, []string{WebSocketProtocolPrefix}, "", false},
		{"not an upgrade", nil, []string{wsProto("xyz")}, "", false},
		{"nothing", nil, nil, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			for _, p := range tc.protos {
				r.Header.Add("Sec-WebSocket-Protocol", p)
			}
			got, ok := BearerToken(r)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic x", "Bearer", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseBearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("%q: token %q without ok", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !strings.Contains(h, tok) {
			t.Fatalf("%q: token %q", h, tok)
		}
		if again, ok := ParseBearer("Bearer " + tok); !ok || again != tok {
			t.Fatalf("%q: token %q does not round-trip", h, tok)
		}
	})
}

func FuzzParseWebSocketProtocols(f *testing.F) {
	f.Add(wsProto("abc"), "v5.channel.k8s.io")
	f.Add(wsProto("a")+","+wsProto("b"), "")
	f.Add(WebSocketProtocolPrefix+"!!", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		tok, ok := ParseWebSocketProtocols([]string{a, b})
		if ok && (tok == "" || strings.ContainsAny(tok, " \t\r\n")) {
			t.Fatalf("%q %q: token %q", a, b, tok)
		}
	})
}
