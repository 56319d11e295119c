package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testCSRPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func testCertPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func cond(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
}

func TestValidateCSR(t *testing.T) {
	request := testCSRPEM(t)
	cert := testCertPEM(t)
	valid := func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "alice"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    request,
				SignerName: certificatesv1.KubeAPIServerClientSignerName,
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
	}
	block, _ := pem.Decode(request)
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: block.Bytes[:len(block.Bytes)/2]})
	tampered := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: func() []byte {
		der := append([]byte(nil), block.Bytes...)
		der[len(der)-3] ^= 0xff // inside the signature
		return der
	}()})
	cases := []struct {
		name   string
		edit   func(c *certificatesv1.CertificateSigningRequest)
		old    func(c *certificatesv1.CertificateSigningRequest)
		errors []string // fields expected in error, none means valid
	}{
		{name: "valid"},
		{name: "duration ten minutes", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = new(int32(600)) }},
		{name: "no request", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = nil }, errors: []string{"spec.request"}},
		{name: "not PEM", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }, errors: []string{"spec.request"}},
		{name: "wrong block", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = cert }, errors: []string{"spec.request"}},
		{name: "corrupt DER", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = corrupt }, errors: []string{"spec.request"}},
		{name: "bad signature", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = tampered }, errors: []string{"spec.request"}},
		{name: "no signer", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }, errors: []string{"spec.signerName"}},
		{name: "signer without path", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" }, errors: []string{"spec.signerName"}},
		{name: "signer single-label domain", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/x" }, errors: []string{"spec.signerName"}},
		{name: "signer empty segment", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/a//b" }, errors: []string{"spec.signerName"}},
		{name: "custom signer", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/team-a/ca_1" }},
		{name: "legacy signer", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" }, errors: []string{"spec.signerName"}},
		{name: "no usages", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }, errors: []string{"spec.usages"}},
		{name: "unknown usage", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = []certificatesv1.KeyUsage{"flying"} }, errors: []string{"spec.usages[0]"}},
		{name: "duplicate usage", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageClientAuth}
		}, errors: []string{"spec.usages[1]"}},
		{name: "short duration", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = new(int32(599)) }, errors: []string{"spec.expirationSeconds"}},
		{name: "approved and denied", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, cond(certificatesv1.CertificateApproved), cond(certificatesv1.CertificateDenied))
		}, errors: []string{"status.conditions"}},
		{name: "approved twice", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, cond(certificatesv1.CertificateApproved), cond(certificatesv1.CertificateApproved))
		}, errors: []string{"status.conditions[1].type"}},
		{name: "approved false", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionFalse}}
		}, errors: []string{"status.conditions[0].status"}},
		{name: "condition without type", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Status: corev1.ConditionTrue}}
		}, errors: []string{"status.conditions[0].type"}},
		{name: "issued", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}
			c.Status.Certificate = cert
		}},
		{name: "issued unapproved", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = cert }, errors: []string{"status.certificate"}},
		{name: "issued garbage", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}
			c.Status.Certificate = request
		}, errors: []string{"status.certificate"}},
		{name: "approval removed", old: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}
		}, errors: []string{"status.conditions"}},
		{name: "denial kept", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied)}
		}, old: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied)}
		}},
		{name: "certificate replaced", edit: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}
			c.Status.Certificate = testCertPEM(t)
		}, old: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved)}
			c.Status.Certificate = cert
		}, errors: []string{"status.certificate"}},
		{name: "spec changed", edit: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Username = "mallory" },
			old: func(c *certificatesv1.CertificateSigningRequest) {}, errors: []string{"spec"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if tc.edit != nil {
				tc.edit(c)
			}
			var old *certificatesv1.CertificateSigningRequest
			if tc.old != nil {
				old = valid()
				tc.old(old)
			}
			errs := ValidateCSR(c, old)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.errors, ",") {
				t.Errorf("error fields = %v, want %v (%v)", got, tc.errors, errs)
			}
		})
	}
}

func TestCSRKind(t *testing.T) {
	k := certificateSigningRequests()
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "n"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			SignerName: certificatesv1.KubeAPIServerClientSignerName, Username: "bob", ExpirationSeconds: new(int32(3600)),
		},
	}
	cases := []struct {
		conds  []certificatesv1.RequestConditionType
		issued bool
		want   string
	}{
		{want: "Pending"},
		{conds: []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved}, want: "Approved"},
		{conds: []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved}, issued: true, want: "Approved,Issued"},
		{conds: []certificatesv1.RequestConditionType{certificatesv1.CertificateDenied}, want: "Denied"},
		{conds: []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateFailed}, want: "Approved,Failed"},
	}
	for _, tc := range cases {
		c.Status = certificatesv1.CertificateSigningRequestStatus{}
		for _, ct := range tc.conds {
			c.Status.Conditions = append(c.Status.Conditions, cond(ct))
		}
		if tc.issued {
			c.Status.Certificate = []byte("x")
		}
		row := k.Row(c)
		if row[0] != "n" || row[2] != certificatesv1.KubeAPIServerClientSignerName || row[3] != "bob" || row[4] != "60m" || row[5] != tc.want {
			t.Errorf("row = %v, want condition %q", row, tc.want)
		}
	}
	// An update of the object itself keeps the request as it was made.
	upd := c.DeepCopy()
	upd.Spec.Username = "mallory"
	k.PrepareForUpdate(upd, c)
	if upd.Spec.Username != "bob" {
		t.Errorf("update changed spec.username to %q", upd.Spec.Username)
	}
}

// FuzzParseCSR: no input makes the request parser panic, and whatever it
// accepts is a request whose signature checks.
func FuzzParseCSR(f *testing.F) {
	f.Add(testCSRPEM(f))
	f.Add(testCertPEM(f))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseCSR(data)
		if err != nil {
			return
		}
		if req.CheckSignature() != nil {
			t.Fatal("accepted a request whose signature does not check")
		}
		_ = checkCertificates(data)
	})
}
