package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var certNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             certNow.Add(-time.Hour),
		NotAfter:              certNow.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key}
}

func (ca *testCA) issue(t testing.TB, subj pkix.Name, usage x509.ExtKeyUsage, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      subj,
		NotBefore:    certNow.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestX509(t *testing.T) {
	ca := newCA(t, "cluster-ca")
	other := newCA(t, "other-ca")
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	alice := pkix.Name{CommonName: "alice", Organization: []string{"dev", "ops"}}
	later := certNow.Add(time.Hour)

	cases := []struct {
		name       string
		peer       []*x509.Certificate
		verified   bool // as if the TLS layer had verified the chain
		wantUser   string
		wantGroups []string
		wantErr    bool
	}{
		{"no certificate", nil, false, "", nil, false},
		{"good", []*x509.Certificate{ca.issue(t, alice, x509.ExtKeyUsageClientAuth, later)}, false, "alice", []string{"dev", "ops", "system:authenticated"}, false},
		{"verified by TLS", []*x509.Certificate{ca.issue(t, alice, x509.ExtKeyUsageClientAuth, later)}, true, "alice", []string{"dev", "ops", "system:authenticated"}, false},
		{"no organization", []*x509.Certificate{ca.issue(t, pkix.Name{CommonName: "bob"}, x509.ExtKeyUsageClientAuth, later)}, false, "bob", []string{"system:authenticated"}, false},
		{"another CA", []*x509.Certificate{other.issue(t, alice, x509.ExtKeyUsageClientAuth, later)}, false, "", nil, true},
		{"expired", []*x509.Certificate{ca.issue(t, alice, x509.ExtKeyUsageClientAuth, certNow.Add(-time.Minute))}, false, "", nil, true},
		{"server usage only", []*x509.Certificate{ca.issue(t, alice, x509.ExtKeyUsageServerAuth, later)}, false, "", nil, true},
		{"no common name", []*x509.Certificate{ca.issue(t, pkix.Name{Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, later)}, false, "", nil, false},
	}
	a := &X509{Roots: roots, Now: func() time.Time { return certNow }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: tc.peer}
			if tc.verified {
				r.TLS.VerifiedChains = [][]*x509.Certificate{{tc.peer[0], ca.cert}}
			}
			info, ok, err := a.Authenticate(r)
			if (err != nil) != tc.wantErr || ok != (tc.wantUser != "") {
				t.Fatalf("got %+v, %v, %v", info, ok, err)
			}
			if ok && (info.Name != tc.wantUser || !slices.Equal(info.Groups, tc.wantGroups)) {
				t.Errorf("user %q groups %q; want %q %q", info.Name, info.Groups, tc.wantUser, tc.wantGroups)
			}
		})
	}

	t.Run("no roots never falls back to the system pool", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{ca.issue(t, alice, x509.ExtKeyUsageClientAuth, later)}}
		if _, ok, err := (&X509{}).Authenticate(r); ok || err != nil {
			t.Errorf("got %v, %v", ok, err)
		}
	})
}

// FuzzX509 feeds arbitrary certificates to the authenticator: whatever
// parses must either be refused or verify against the roots.
func FuzzX509(f *testing.F) {
	ca := newCA(f, "cluster-ca")
	other := newCA(f, "other-ca")
	alice := pkix.Name{CommonName: "alice", Organization: []string{"dev"}}
	f.Add(ca.issue(f, alice, x509.ExtKeyUsageClientAuth, certNow.Add(time.Hour)).Raw)
	f.Add(other.issue(f, alice, x509.ExtKeyUsageClientAuth, certNow.Add(time.Hour)).Raw)
	f.Add(ca.cert.Raw)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	a := &X509{Roots: roots, Now: func() time.Time { return certNow }}
	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		info, ok, err := a.Authenticate(r)
		if !ok {
			return
		}
		if err != nil || info.Name != cert.Subject.CommonName || info.Name == "" {
			t.Fatalf("accepted %q as %+v, %v", cert.Subject, info, err)
		}
		if _, verr := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: certNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); verr != nil {
			t.Fatalf("accepted a certificate that does not verify: %v", verr)
		}
	})
}
