package pki

import (
	"crypto/subtle"
	"fmt"
	"strings"
)

// JoinToken is what `bosun agent --token` takes: the hash of the cluster
// CA's public key, so the agent can tell the real server from an
// impostor before it sends anything secret, and the secret itself.
type JoinToken struct {
	CAHash string
	Secret string
}

// joinTokenPrefix marks the token format's version.
const joinTokenPrefix = "bosun1."

func (t JoinToken) String() string { return joinTokenPrefix + t.CAHash + "." + t.Secret }

// ParseJoinToken reads a token written by String.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, joinTokenPrefix)
	if !ok {
		return JoinToken{}, fmt.Errorf("join token: must start with %q (it is the content of DATA_DIR/token on the server)", joinTokenPrefix)
	}
	hash, secret, ok := strings.Cut(rest, ".")
	if !ok || len(hash) != 64 || !isHex(hash) {
		return JoinToken{}, fmt.Errorf("join token: the CA hash must be 64 hex digits")
	}
	if len(secret) < 16 || len(secret) > 256 || !isHex(secret) {
		return JoinToken{}, fmt.Errorf("join token: the secret must be 16 to 256 hex digits")
	}
	return JoinToken{CAHash: hash, Secret: secret}, nil
}

// SecretMatches compares a presented secret in constant time.
func (t JoinToken) SecretMatches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
