package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// backdate is how far before the time of signing a certificate starts,
// so that a client whose clock runs a little behind can use it at once.
const backdate = 5 * time.Minute

// Grant is what a signer decided a certificate says: everything but the
// key, which comes from the request.
type Grant struct {
	Subject   pkix.Name
	Names     Names
	KeyUsage  x509.KeyUsage
	ExtUsages []x509.ExtKeyUsage
	// Lifetime counts from the time of signing; the certificate never
	// outlives the CA.
	Lifetime time.Duration
}

// ErrCAExpired is returned by IssueFor when the CA can no longer issue
// anything valid.
var ErrCAExpired = errors.New("the cluster CA has expired")

// IssueFor signs a certificate for pub as g says, at now, and returns it
// in PEM.
func (b *Bundle) IssueFor(pub crypto.PublicKey, g Grant, now time.Time) ([]byte, error) {
	notAfter := now.Add(g.Lifetime)
	if notAfter.After(b.CA.NotAfter) {
		notAfter = b.CA.NotAfter
	}
	if !notAfter.After(now) {
		return nil, ErrCAExpired
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               g.Subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              g.KeyUsage,
		ExtKeyUsage:           g.ExtUsages,
		BasicConstraintsValid: true,
		DNSNames:              g.Names.DNS,
		IPAddresses:           g.Names.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.CA, pub, b.CAKey)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return pemCert(der), nil
}
