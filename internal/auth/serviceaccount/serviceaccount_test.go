package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i, err := NewIssuer(key, "https://bosun.test")
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func baseClaims() Claims {
	return Claims{
		Namespace:          "team",
		ServiceAccountName: "dev",
		ServiceAccountUID:  "sa-uid",
		Audiences:          []string{"bosun"},
		BoundPod:           &ObjectRef{Name: "web", UID: "pod-uid"},
		Now:                func() time.Time { return t0 },
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	i := newTestIssuer(t)
	tok, err := i.Issue(baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	c, err := i.Verify(tok, t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "team" || c.ServiceAccountName != "dev" || c.ServiceAccountUID != "sa-uid" ||
		!slices.Equal(c.Audiences, []string{"bosun"}) || c.Expiration != time.Hour ||
		c.BoundPod == nil || *c.BoundPod != (ObjectRef{"web", "pod-uid"}) || c.BoundSecret != nil ||
		!c.IssuedAt.Equal(t0) || len(c.ID) != 36 {
		t.Errorf("claims %+v", c)
	}
	if c.Username() != "system:serviceaccount:team:dev" {
		t.Errorf("username %q", c.Username())
	}

	// The token reads like a Kubernetes one to tools that decode it.
	j, err := parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if j.header.Alg != "ES256" || j.header.Kid != i.KeyID() || j.payload.Subject != "system:serviceaccount:team:dev" ||
		*j.payload.NotBefore != t0.Unix() || *j.payload.Expiry != t0.Add(time.Hour).Unix() {
		t.Errorf("decoded %+v %+v", j.header, j.payload)
	}
}

func TestVerifyTime(t *testing.T) {
	i := newTestIssuer(t)
	tok, err := i.Issue(baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at issue", t0, true},
		{"skewed behind within leeway", t0.Add(-59 * time.Second), true},
		{"skewed behind past leeway", t0.Add(-2 * time.Minute), false},
		{"at expiry", t0.Add(time.Hour), true},
		{"within leeway after expiry", t0.Add(time.Hour + 59*time.Second), true},
		{"expired", t0.Add(time.Hour + 61*time.Second), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := i.Verify(tok, tc.now)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// forge builds a token with arbitrary header and claims and a signature
// made by signer over them.
func forge(t *testing.T, h map[string]any, p *payload, signer func(signing string) []byte) string {
	t.Helper()
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(p)
	signing := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	return signing + "." + b64.EncodeToString(signer(signing))
}

func TestVerifyRefuses(t *testing.T) {
	i := newTestIssuer(t)
	other := newTestIssuer(t)
	good, err := i.Issue(baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	j, err := parse(good)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	esSign := func(key *ecdsa.PrivateKey) func(string) []byte {
		return func(s string) []byte {
			sum := sha256.Sum256([]byte(s))
			r, ss, err := ecdsa.Sign(rand.Reader, key, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			var sig [64]byte
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
			return sig[:]
		}
	}
	tampered := j.payload
	tamperedK := *tampered.Kubernetes
	tamperedK.Namespace = "kube-system"
	tampered.Kubernetes = &tamperedK
	tampered.Subject = "system:serviceaccount:kube-system:dev"
	foreignIss := j.payload
	foreignIss.Issuer = "https://elsewhere"
	badSub := j.payload
	badSub.Subject = "system:serviceaccount:team:admin"

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"not a JWT", "abcdef.0123456789abcdef", ErrNotOurs},
		{"garbage", "a.b.c", ErrNotOurs},
		{"foreign issuer", forge(t, map[string]any{"alg": "ES256", "kid": i.KeyID()}, &foreignIss, esSign(other.key)), ErrNotOurs},
		{"tampered claims", parts[0] + "." + b64.EncodeToString(mustJSON(t, &tampered)) + "." + parts[2], ErrInvalid},
		{"truncated signature", good[:len(good)-4], ErrInvalid},
		{"alg none", forge(t, map[string]any{"alg": "none", "kid": i.KeyID()}, &j.payload, func(string) []byte { return nil }), ErrInvalid},
		{"HS256 keyed with the key ID", forge(t, map[string]any{"alg": "HS256", "kid": i.KeyID()}, &j.payload, func(s string) []byte {
			m := hmac.New(sha256.New, []byte(i.KeyID()))
			m.Write([]byte(s))
			return m.Sum(nil)
		}), ErrInvalid},
		{"another key, our kid", forge(t, map[string]any{"alg": "ES256", "kid": i.KeyID()}, &j.payload, esSign(other.key)), ErrInvalid},
		{"unknown kid", forge(t, map[string]any{"alg": "ES256", "kid": "nope"}, &j.payload, esSign(i.key)), ErrInvalid},
		{"critical header", forge(t, map[string]any{"alg": "ES256", "kid": i.KeyID(), "crit": []string{"b64"}}, &j.payload, esSign(i.key)), ErrInvalid},
		{"subject mismatch", forge(t, map[string]any{"alg": "ES256", "kid": i.KeyID()}, &badSub, esSign(i.key)), ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := i.Verify(tc.token, t0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIssueBounds(t *testing.T) {
	i := newTestIssuer(t)
	cases := []struct {
		name   string
		modify func(*Claims)
		ok     bool
	}{
		{"default", func(*Claims) {}, true},
		{"minimum", func(c *Claims) { c.Expiration = MinExpiration }, true},
		{"too short", func(c *Claims) { c.Expiration = MinExpiration - time.Second }, false},
		{"maximum", func(c *Claims) { c.Expiration = MaxExpiration }, true},
		{"too long", func(c *Claims) { c.Expiration = MaxExpiration + time.Second }, false},
		{"extended", func(c *Claims) { c.Expiration, c.WarnAfter = ExtendedExpiration, WarnOnlyExpiration }, true},
		{"extended unbound", func(c *Claims) {
			c.Expiration, c.WarnAfter, c.BoundPod = ExtendedExpiration, WarnOnlyExpiration, nil
		}, false},
		{"no audience", func(c *Claims) { c.Audiences = nil }, false},
		{"no uid", func(c *Claims) { c.ServiceAccountUID = "" }, false},
		{"bound twice", func(c *Claims) { c.BoundSecret = &ObjectRef{"s", "u"} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := baseClaims()
			tc.modify(&c)
			tok, err := i.Issue(c)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			got, err := i.Verify(tok, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got.WarnAfter != c.WarnAfter {
				t.Errorf("warnafter %v, want %v", got.WarnAfter, c.WarnAfter)
			}
		})
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "sa.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("second load returned another key")
	}
	id1, _ := KeyID(&k1.PublicKey)
	id2, _ := KeyID(&k2.PublicKey)
	if id1 != id2 || len(id1) != 43 {
		t.Errorf("key IDs %q %q", id1, id2)
	}

	// A PKCS #8 key written by another tool loads as it is.
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k1)
	if err != nil {
		t.Fatal(err)
	}
	p8path := filepath.Join(t.TempDir(), "pkcs8.key")
	if err := os.WriteFile(p8path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if k3, err := LoadOrCreateKey(p8path); err != nil || !k3.Equal(k1) {
		t.Errorf("PKCS #8 key: %v", err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	for name, content := range map[string]string{
		"garbage": "not a key",
		"cert":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"P-384":   string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384DER})),
	} {
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(bad); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	i := newTestIssuer(b)
	tok, err := i.Issue(baseClaims())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := i.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	i := newTestIssuer(f)
	tok, err := i.Issue(baseClaims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat(".", 5))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := i.Verify(s, t0)
		if err == nil {
			// Only the server's own signature gets through, and then
			// the claims are whole.
			if c.Namespace == "" || c.ServiceAccountName == "" {
				t.Fatalf("accepted %q with claims %+v", s, c)
			}
			return
		}
		if !errors.Is(err, ErrNotOurs) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v wraps neither sentinel", err)
		}
	})
}
