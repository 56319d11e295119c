package authn

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// X509 authenticates client certificates issued by Roots, the Kubernetes
// way: the subject's common name is the user, its organizations the
// groups.
//
// When the TLS layer already verified the chain (a tls.Config with
// ClientAuth VerifyClientCertIfGiven and ClientCAs), its verified chains
// are trusted as they are, so those ClientCAs must be Roots. Otherwise the
// peer certificate is verified here, for client authentication usage.
type X509 struct {
	Roots *x509.CertPool
	// Now is the verification clock; nil means time.Now.
	Now func() time.Time
}

// Authenticate has no opinion without a client certificate, or with one
// naming no user; it fails for a certificate that does not verify.
func (a *X509) Authenticate(r *http.Request) (*user.Info, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	chains := r.TLS.VerifiedChains
	if len(chains) == 0 {
		if a.Roots == nil {
			// Verify would fall back to the system roots, which must
			// never vouch for a cluster user.
			return nil, false, nil
		}
		leaf := r.TLS.PeerCertificates[0]
		opts := x509.VerifyOptions{
			Roots:         a.Roots,
			Intermediates: x509.NewCertPool(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if a.Now != nil {
			opts.CurrentTime = a.Now()
		}
		for _, c := range r.TLS.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		var err error
		chains, err = leaf.Verify(opts)
		if err != nil {
			return nil, false, fmt.Errorf("verifying client certificate %q (serial %s) failed: %w", leaf.Subject.CommonName, leaf.SerialNumber, err)
		}
	}
	leaf := chains[0][0]
	if leaf.Subject.CommonName == "" {
		return nil, false, nil
	}
	return &user.Info{
		Name:   leaf.Subject.CommonName,
		Groups: authenticated(slices.Clone(leaf.Subject.Organization)),
	}, true, nil
}
