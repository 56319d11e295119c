package pki

import "crypto/sha256"

// bootstrapAlphabet is what bootstrap token IDs and secrets are made of.
const bootstrapAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// BootstrapToken derives from the join token's secret the bootstrap
// token (ID.SECRET, as a bootstrap-token-ID Secret holds it) an agent
// authenticates with to ask for its client certificate. The server and
// the agent both derive it, so the join token stays the one thing an
// administrator hands out; it reveals nothing of the join secret.
func (t JoinToken) BootstrapToken() (id, secret string) {
	sum := sha256.Sum256([]byte("bosun bootstrap token\x00" + t.Secret))
	// 22 characters of 36 from 32 bytes; the bias of a byte mod 36 is
	// under 2% per character, far from mattering for 16 characters of
	// secret.
	var b [22]byte
	for i := range b {
		b[i] = bootstrapAlphabet[int(sum[i])%len(bootstrapAlphabet)]
	}
	return string(b[:6]), string(b[6:])
}
