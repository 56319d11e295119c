package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// LoadOrCreateKey reads the P-256 signing key PEM-encoded at path (SEC 1
// "EC PRIVATE KEY" or PKCS #8 "PRIVATE KEY"), or, when there is no file,
// generates one and writes it there readable by its owner only. Every token
// the server ever issued is signed with this key, so it is created once and
// kept across restarts; a key on another curve is refused rather than
// replaced, since replacing it would invalidate every token in use.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := parseKey(data)
		if err != nil {
			return nil, fmt.Errorf("service account key %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding service account key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := atomicfile.WriteFile(path, out, 0o600); err != nil {
		return nil, fmt.Errorf("writing service account key %s: %w", path, err)
	}
	return key, nil
}

func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key *ecdsa.PrivateKey
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing EC private key: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PKCS #8 private key: %w", err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS #8 key is a %T, want ECDSA", k)
		}
		key = ek
	default:
		return nil, fmt.Errorf("PEM block %q, want EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key on curve %s, want P-256 (ES256)", key.Curve.Params().Name)
	}
	return key, nil
}

// KeyID is the "kid" header of tokens signed by the key whose public half
// is pub: the unpadded base64url SHA-256 of its PKIX DER encoding, the
// same derivation Kubernetes uses, so a verifier holding several keys can
// pick the right one.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
