package ingress

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// parseCertificate reads the key pair of a kubernetes.io/tls Secret.
func parseCertificate(sec *corev1.Secret) (*tls.Certificate, error) {
	if sec.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("secret %s/%s has type %q, want %q", sec.Namespace, sec.Name, sec.Type, corev1.SecretTypeTLS)
	}
	crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, fmt.Errorf("secret %s/%s: %w", sec.Namespace, sec.Name, errors.New("tls.crt or tls.key is empty"))
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return &cert, nil
}

// certCache parses each content of a Secret once, and logs a bad one
// once per change rather than on every reload.
type certCache struct {
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]certEntry // by namespace/name
}

type certEntry struct {
	crt, key []byte // what cert or err was made from
	cert     *tls.Certificate
	err      error
}

func newCertCache(log *slog.Logger) *certCache {
	return &certCache{log: log, entries: map[string]certEntry{}}
}

func (c *certCache) get(sec *corev1.Secret) (*tls.Certificate, error) {
	key := sec.Namespace + "/" + sec.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	crt, k := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	// Compare content, not resourceVersion: a change to labels must not
	// log the same complaint again, and content is what was parsed.
	if e, ok := c.entries[key]; ok && bytes.Equal(e.crt, crt) && bytes.Equal(e.key, k) {
		return e.cert, e.err
	}
	cert, err := parseCertificate(sec)
	if err != nil {
		c.log.Warn("skipping TLS secret", "secret", key, "err", err)
	}
	c.entries[key] = certEntry{crt: crt, key: k, cert: cert, err: err}
	return cert, err
}

// forget drops Secrets no longer present, so the cache does not grow
// with every Secret ever seen.
func (c *certCache) forget(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if !keep[k] {
			delete(c.entries, k)
		}
	}
}

// selfSigned makes the certificate served when no Ingress has one for
// the name a client asked for, so TLS still completes and the client
// gets a 404 it can read instead of a handshake failure.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the default certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("generating the default certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "bosun ingress default certificate", Organization: []string{"bosun"}},
		DNSNames:     []string{"ingress.local"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the default certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
