package serviceaccount

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// The token format is a compact JWS (RFC 7515) signed with ES256 only:
// accepting exactly one algorithm, checked before anything else is
// trusted, rules out the alg-confusion family of attacks (alg "none",
// HS256 keyed with the public key).

const algES256 = "ES256"

// maxTokenLen bounds what Verify decodes; a request header is larger than
// any token we issue, and decoding an attacker's megabytes buys nothing.
const maxTokenLen = 16 << 10

var b64 = base64.RawURLEncoding.Strict()

type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid,omitempty"`
	Typ  string   `json:"typ,omitempty"`
	Crit []string `json:"crit,omitempty"`
}

// payload is the JSON claims set; field names follow RFC 7519 and the
// "kubernetes.io" private claim of Kubernetes' bound tokens, so tools that
// decode Kubernetes tokens read ours.
type payload struct {
	Issuer     string         `json:"iss"`
	Subject    string         `json:"sub"`
	Audience   audience       `json:"aud"`
	Expiry     *int64         `json:"exp"`
	IssuedAt   *int64         `json:"iat"`
	NotBefore  *int64         `json:"nbf"`
	ID         string         `json:"jti,omitempty"`
	Kubernetes *privateClaims `json:"kubernetes.io"`
}

type privateClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount ref    `json:"serviceaccount"`
	Pod            *ref   `json:"pod,omitempty"`
	Secret         *ref   `json:"secret,omitempty"`
	WarnAfter      *int64 `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// audience is "aud", which RFC 7519 allows as one string or an array; we
// always write an array, as Kubernetes does.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// sign encodes h and p and signs them with key.
func sign(key *ecdsa.PrivateKey, h header, p *payload) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encoding token header: %w", err)
	}
	pb, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encoding token claims: %w", err)
	}
	signing := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	// JWS wants R and S as fixed-width 32-byte big-endian integers, not
	// the ASN.1 DER that crypto/ecdsa's SignASN1 produces.
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig[:]), nil
}

// jws is a token split into its parts, decoded but not yet verified.
type jws struct {
	header  header
	payload payload
	signing string // the header.payload text the signature covers
	sig     []byte
}

// errMalformed is wrapped by parse for anything that is not a compact
// JWS with JSON header and claims.
var errMalformed = errors.New("malformed JWT")

// parse splits and decodes token without checking its signature.
func parse(token string) (*jws, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes, longer than %d", errMalformed, len(token), maxTokenLen)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", errMalformed, len(parts))
	}
	var j jws
	if err := decodeJSON(parts[0], &j.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", errMalformed, err)
	}
	if err := decodeJSON(parts[1], &j.payload); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", errMalformed, err)
	}
	// A signature that does not decode is left empty and fails
	// verification: the token is then one of ours, but forged or damaged.
	j.sig, _ = b64.DecodeString(parts[2])
	j.signing = token[:len(parts[0])+1+len(parts[1])]
	return &j, nil
}

func decodeJSON(part string, v any) error {
	b, err := b64.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// verifySignature checks j's ES256 signature with pub.
func (j *jws) verifySignature(pub *ecdsa.PublicKey) bool {
	if len(j.sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(j.sig[:32])
	s := new(big.Int).SetBytes(j.sig[32:])
	sum := sha256.Sum256([]byte(j.signing))
	return ecdsa.Verify(pub, sum[:], r, s)
}
