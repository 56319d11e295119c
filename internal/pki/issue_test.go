package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

func TestIssueFor(t *testing.T) {
	b, err := Ensure(t.TempDir(), Names{DNS: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name     string
		lifetime time.Duration
		at       time.Time
		notAfter time.Time
		err      error
	}{
		{name: "an hour", lifetime: time.Hour, at: now, notAfter: now.Add(time.Hour)},
		{name: "beyond the CA", lifetime: 20 * 365 * 24 * time.Hour, at: now, notAfter: b.CA.NotAfter},
		{name: "CA expired", lifetime: time.Hour, at: b.CA.NotAfter.Add(time.Second), err: ErrCAExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := Grant{Subject: pkix.Name{CommonName: "alice"}, KeyUsage: x509.KeyUsageDigitalSignature,
				ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, Lifetime: tc.lifetime}
			out, err := b.IssueFor(key.Public(), g, tc.at)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			block, _ := pem.Decode(out)
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !c.NotAfter.Equal(tc.notAfter.Truncate(time.Second)) || !c.NotBefore.Before(tc.at) {
				t.Errorf("valid %v to %v, want to %v", c.NotBefore, c.NotAfter, tc.notAfter)
			}
			if err := c.CheckSignatureFrom(b.CA); err != nil || c.Subject.CommonName != "alice" {
				t.Errorf("subject %v, signature %v", c.Subject, err)
			}
		})
	}
}
