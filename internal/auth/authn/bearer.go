package authn

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// TokenAuthenticator checks a bearer token, with the same three outcomes
// as Authenticator. The token authenticators here implement both, so a
// TokenReview can check a token that did not come in a header.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (*user.Info, bool, error)
}

// WebSocketProtocolPrefix marks the WebSocket subprotocol browsers, which
// cannot set an Authorization header on a WebSocket, use to carry a bearer
// token: the prefix followed by the unpadded base64url token.
const WebSocketProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// BearerToken returns the bearer token r carries, from its Authorization
// header or, on a WebSocket upgrade without one, from its subprotocols.
func BearerToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		return ParseBearer(h)
	}
	if isWebSocketUpgrade(r) {
		return ParseWebSocketProtocols(r.Header.Values("Sec-WebSocket-Protocol"))
	}
	return "", false
}

// ParseBearer returns the token of an Authorization header value of the
// form "Bearer TOKEN", the scheme in any case and surrounding space
// ignored. Another scheme, an empty token or one containing spaces is no
// bearer token.
func ParseBearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// ParseWebSocketProtocols finds the bearer token among the values of
// Sec-WebSocket-Protocol headers (each a comma-separated list). Two
// tokens, or one that does not decode, are no token at all: guessing
// which one was meant would be worse.
func ParseWebSocketProtocols(values []string) (string, bool) {
	var found string
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			enc, ok := strings.CutPrefix(strings.TrimSpace(p), WebSocketProtocolPrefix)
			if !ok {
				continue
			}
			b, err := base64.RawURLEncoding.DecodeString(enc)
			if err != nil || len(b) == 0 || found != "" {
				return "", false
			}
			found = string(b)
		}
	}
	if found == "" || strings.ContainsAny(found, " \t\r\n") {
		return "", false
	}
	return found, true
}

func isWebSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// authenticateBearer runs t on r's bearer token, with no opinion when
// there is none.
func authenticateBearer(r *http.Request, t TokenAuthenticator) (*user.Info, bool, error) {
	token, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	return t.AuthenticateToken(r.Context(), token)
}

// Bearer makes an Authenticator of t, reading the request's bearer token.
func Bearer(t TokenAuthenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*user.Info, bool, error) {
		return authenticateBearer(r, t)
	})
}
