// Package pki owns the cluster's certificate authority, the API server's
// serving certificate, the admin client certificate and kubeconfig files.
// Everything is created on first start and reused afterwards.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// Bundle is the loaded key material of a cluster.
type Bundle struct {
	CA      *x509.Certificate
	CAKey   crypto.Signer
	CAPEM   []byte
	Serving tls.Certificate
	// AdminCertPEM and AdminKeyPEM authenticate as "admin" in group
	// system:masters.
	AdminCertPEM, AdminKeyPEM []byte
}

// Names are the identities the serving certificate must cover.
type Names struct {
	DNS []string
	IPs []net.IP
}

// DefaultNames returns loopback, the host's addresses and the in-cluster
// names of the API server.
func DefaultNames(extraIPs ...net.IP) Names {
	n := Names{
		DNS: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		n.DNS = append(n.DNS, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				n.IPs = append(n.IPs, ipn.IP)
			}
		}
	}
	n.IPs = append(n.IPs, extraIPs...)
	return n
}

const (
	caCert      = "ca.crt"
	caKey       = "ca.key"
	servingCert = "serving.crt"
	servingKey  = "serving.key"
	adminCert   = "admin.crt"
	adminKey    = "admin.key"
)

// Ensure loads the key material from dir, creating whatever is missing.
// A serving certificate that no longer covers names is reissued.
func Ensure(dir string, names Names) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls dir: %w", err)
	}
	b := &Bundle{}
	var err error
	b.CA, b.CAKey, err = loadPair(dir, caCert, caKey)
	if errors.Is(err, os.ErrNotExist) {
		b.CA, b.CAKey, err = newCA(dir)
	}
	if err != nil {
		return nil, err
	}
	b.CAPEM = pemCert(b.CA.Raw)

	srv, srvKey, err := loadPair(dir, servingCert, servingKey)
	if err != nil || !covers(srv, names) || srv.NotAfter.Before(time.Now().Add(30*24*time.Hour)) {
		srv, srvKey, err = issue(dir, servingCert, servingKey, b.CA, b.CAKey, pkix.Name{CommonName: "kube-apiserver"}, names, x509.ExtKeyUsageServerAuth)
		if err != nil {
			return nil, err
		}
	}
	b.Serving = tls.Certificate{Certificate: [][]byte{srv.Raw, b.CA.Raw}, PrivateKey: srvKey, Leaf: srv}

	if _, _, err := loadPair(dir, adminCert, adminKey); err != nil {
		if _, _, err := issue(dir, adminCert, adminKey, b.CA, b.CAKey, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, Names{}, x509.ExtKeyUsageClientAuth); err != nil {
			return nil, err
		}
	}
	if b.AdminCertPEM, err = os.ReadFile(filepath.Join(dir, adminCert)); err != nil {
		return nil, err
	}
	if b.AdminKeyPEM, err = os.ReadFile(filepath.Join(dir, adminKey)); err != nil {
		return nil, err
	}
	return b, nil
}

// IssueClient signs a client certificate for user in groups, valid for a year.
func (b *Bundle) IssueClient(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := sign(b.CA, b.CAKey, key.Public(), pkix.Name{CommonName: user, Organization: groups}, Names{}, x509.ExtKeyUsageClientAuth, false)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

func covers(c *x509.Certificate, n Names) bool {
	for _, d := range n.DNS {
		if c.VerifyHostname(d) != nil {
			return false
		}
	}
	for _, ip := range n.IPs {
		if c.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

func newCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := sign(nil, key, key.Public(), pkix.Name{CommonName: fmt.Sprintf("bosun-ca@%d", time.Now().Unix())}, Names{}, 0, true)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(dir, caCert, caKey, der, key); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func issue(dir, certFile, keyFile string, ca *x509.Certificate, caKey crypto.Signer, subj pkix.Name, n Names, usage x509.ExtKeyUsage) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := sign(ca, caKey, key.Public(), subj, n, usage, false)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(dir, certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func sign(parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey, subj pkix.Name, n Names, usage x509.ExtKeyUsage, isCA bool) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subj,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		DNSNames:              n.DNS,
		IPAddresses:           n.IPs,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.NotAfter = now.Add(10 * 365 * 24 * time.Hour)
		parent = tmpl
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
}

func writePair(dir, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, certFile), pemCert(der), 0o644)
}

func loadPair(dir, certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: key is not a signer", keyFile)
	}
	return c, signer, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// CAPool returns a pool holding the cluster CA.
func (b *Bundle) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

// ClientTLS builds a client TLS config from PEM files (for external etcd).
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s: no certificates", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// IssueServing signs a serving certificate for names, valid for a year (a
// node agent's HTTPS endpoint).
func (b *Bundle) IssueServing(commonName string, n Names) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := sign(b.CA, b.CAKey, key.Public(), pkix.Name{CommonName: commonName}, n, x509.ExtKeyUsageServerAuth, false)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// NewCSR generates a key and a certificate signing request for it. The
// request's subject is left to the signer.
func NewCSR() (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// SignCSR issues a certificate for the key of a PEM certificate signing
// request, with the subject, names and usage the signer decides; whatever
// the request asks for besides its key is ignored.
func (b *Bundle) SignCSR(csrPEM []byte, subj pkix.Name, n Names, usage x509.ExtKeyUsage) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	der, err := sign(b.CA, b.CAKey, csr.PublicKey, subj, n, usage, false)
	if err != nil {
		return nil, err
	}
	return pemCert(der), nil
}

// CAHash identifies a CA by the SHA-256 of its public key, as kubeadm's
// discovery token CA hash does.
func CAHash(ca *x509.Certificate) string {
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}
