package certificates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/pki"
)

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testCA(t *testing.T) *pki.Bundle {
	t.Helper()
	b, err := pki.Ensure(t.TempDir(), pki.Names{DNS: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request makes a PEM certificate request for a new key.
func request(t *testing.T, subj pkix.Name, dns []string, ips []net.IP) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func approvedCond() certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}
}

var (
	node1      = pkix.Name{CommonName: "system:node:n1", Organization: []string{user.NodesGroup}}
	clientUse  = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	servingUse = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}
)

// harness runs reconcile against a fake client whose authorizer allows
// the (user, subresource) pairs given.
type harness struct {
	c      *Controller
	client *fake.Clientset
}

func newHarness(t *testing.T, csr *certificatesv1.CertificateSigningRequest, allowed map[string]string) *harness {
	t.Helper()
	client := fake.NewClientset(csr)
	client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		sub, ok := allowed[sar.Spec.User]
		sar.Status.Allowed = ok && ra.Verb == "create" && ra.Resource == "certificatesigningrequests" && ra.Group == "certificates.k8s.io" && ra.Subresource == sub
		return true, sar, nil
	})
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = idx.Add(csr)
	c := &Controller{client: client, ca: testCA(t), clock: clocktesting.NewFakePassiveClock(testNow), log: slog.New(slog.DiscardHandler),
		lister: certificateslisters.NewCertificateSigningRequestLister(idx)}
	return &harness{c: c, client: client}
}

// written returns the request as the controller last wrote it, and the
// subresource it wrote, or nil.
func (h *harness) written() (*certificatesv1.CertificateSigningRequest, string) {
	var last *certificatesv1.CertificateSigningRequest
	sub := ""
	for _, a := range h.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetResource().Resource == "certificatesigningrequests" {
			last, sub = u.GetObject().(*certificatesv1.CertificateSigningRequest), a.GetSubresource()
		}
	}
	return last, sub
}

func TestApprove(t *testing.T) {
	cases := []struct {
		name      string
		requester string
		groups    []string
		signer    string
		subject   pkix.Name
		dns       []string
		usages    []certificatesv1.KeyUsage
		allowed   map[string]string
		want      bool
	}{
		{name: "bootstrapping agent", requester: "system:bootstrap:abcdef", subject: node1, usages: clientUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}, want: true},
		{name: "node renews itself", requester: "system:node:n1", subject: node1, usages: clientUse,
			allowed: map[string]string{"system:node:n1": "selfnodeclient"}, want: true},
		{name: "node asks for another node", requester: "system:node:n2", subject: node1, usages: clientUse,
			allowed: map[string]string{"system:node:n2": "selfnodeclient"}},
		{name: "requester without the right", requester: "alice", subject: node1, usages: clientUse},
		{name: "not a node subject", requester: "system:bootstrap:abcdef", subject: pkix.Name{CommonName: "alice", Organization: []string{user.NodesGroup}}, usages: clientUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}},
		{name: "extra group", requester: "system:bootstrap:abcdef", subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{user.NodesGroup, "system:masters"}}, usages: clientUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}},
		{name: "with names", requester: "system:bootstrap:abcdef", subject: node1, dns: []string{"n1"}, usages: clientUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}},
		{name: "server usage", requester: "system:bootstrap:abcdef", subject: node1, usages: servingUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}},
		{name: "other signer", requester: "system:bootstrap:abcdef", signer: certificatesv1.KubeAPIServerClientSignerName, subject: node1, usages: clientUse,
			allowed: map[string]string{"system:bootstrap:abcdef": "nodeclient"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer := tc.signer
			if signer == "" {
				signer = certificatesv1.KubeAPIServerClientKubeletSignerName
			}
			csr := &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
				Spec: certificatesv1.CertificateSigningRequestSpec{
					Request: request(t, tc.subject, tc.dns, nil), SignerName: signer, Usages: tc.usages,
					Username: tc.requester, Groups: tc.groups,
				},
			}
			h := newHarness(t, csr, tc.allowed)
			if err := h.c.reconcile(context.Background(), "csr-1"); err != nil {
				t.Fatal(err)
			}
			got, sub := h.written()
			if !tc.want {
				if got != nil {
					t.Fatalf("wrote %s: %+v", sub, got.Status)
				}
				return
			}
			if got == nil || sub != "approval" {
				t.Fatalf("no approval written (last write to %q)", sub)
			}
			if c := got.Status.Conditions; len(c) != 1 || c[0].Type != certificatesv1.CertificateApproved || c[0].Reason != reasonAutoApproved || c[0].Status != corev1.ConditionTrue {
				t.Errorf("conditions = %+v", c)
			}
		})
	}
}

func TestSign(t *testing.T) {
	ca := testCA(t)
	cases := []struct {
		name    string
		signer  string
		subject pkix.Name
		dns     []string
		ips     []net.IP
		usages  []certificatesv1.KeyUsage
		seconds int32
		denied  bool
		fail    string // non-empty: a Failed condition is expected
		none    bool   // nothing is written
	}{
		{name: "client", signer: certificatesv1.KubeAPIServerClientSignerName, subject: pkix.Name{CommonName: "alice", Organization: []string{"dev"}}, usages: clientUse, seconds: 3600},
		{name: "client asking for server auth", signer: certificatesv1.KubeAPIServerClientSignerName, subject: pkix.Name{CommonName: "alice"}, usages: servingUse, fail: "client auth"},
		{name: "client as masters", signer: certificatesv1.KubeAPIServerClientSignerName, subject: pkix.Name{CommonName: "root", Organization: []string{"system:masters"}}, usages: clientUse, fail: "system:masters"},
		{name: "kubelet client", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, subject: node1, usages: clientUse},
		{name: "kubelet client named wrong", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, subject: pkix.Name{CommonName: "n1", Organization: []string{user.NodesGroup}}, usages: clientUse, fail: "common name"},
		{name: "kubelet client with SANs", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, subject: node1, dns: []string{"n1"}, usages: clientUse, fail: "alternative names"},
		{name: "kubelet client signing", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, subject: node1, usages: append(slices.Clone(clientUse), certificatesv1.UsageCertSign), fail: "cert sign"},
		{name: "kubelet serving", signer: certificatesv1.KubeletServingSignerName, subject: node1, dns: []string{"n1.example"}, ips: []net.IP{net.ParseIP("10.0.0.1")}, usages: servingUse},
		{name: "kubelet serving without names", signer: certificatesv1.KubeletServingSignerName, subject: node1, usages: servingUse, fail: "at least one"},
		{name: "kubelet serving for clients", signer: certificatesv1.KubeletServingSignerName, subject: node1, dns: []string{"n1"}, usages: clientUse, fail: "server auth"},
		{name: "another signer's", signer: "example.com/ca", subject: node1, usages: clientUse, none: true},
		{name: "denied", signer: certificatesv1.KubeAPIServerClientSignerName, subject: pkix.Name{CommonName: "alice"}, usages: clientUse, denied: true, none: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
				Spec: certificatesv1.CertificateSigningRequestSpec{
					Request: request(t, tc.subject, tc.dns, tc.ips), SignerName: tc.signer, Usages: tc.usages, Username: "someone",
				},
				Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{approvedCond()}},
			}
			if tc.denied {
				csr.Status.Conditions[0].Type = certificatesv1.CertificateDenied
			}
			if tc.seconds > 0 {
				csr.Spec.ExpirationSeconds = &tc.seconds
			}
			h := newHarness(t, csr, nil)
			h.c.ca = ca
			if err := h.c.reconcile(context.Background(), "csr-1"); err != nil {
				t.Fatal(err)
			}
			got, sub := h.written()
			switch {
			case tc.none:
				if got != nil {
					t.Fatalf("wrote %s: %+v", sub, got.Status)
				}
				return
			case got == nil || sub != "status":
				t.Fatalf("no status written (last write to %q)", sub)
			case tc.fail != "":
				last := got.Status.Conditions[len(got.Status.Conditions)-1]
				if last.Type != certificatesv1.CertificateFailed || last.Reason != reasonSignerValidation || !strings.Contains(last.Message, tc.fail) || len(got.Status.Certificate) > 0 {
					t.Errorf("status = %+v, want Failed mentioning %q", got.Status, tc.fail)
				}
				return
			}
			block, _ := pem.Decode(got.Status.Certificate)
			if block == nil {
				t.Fatalf("certificate = %q", got.Status.Certificate)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := cert.CheckSignatureFrom(ca.CA); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if cert.Subject.CommonName != tc.subject.CommonName || !slices.Equal(cert.Subject.Organization, tc.subject.Organization) {
				t.Errorf("subject = %v, want %v", cert.Subject, tc.subject)
			}
			if len(cert.DNSNames) != len(tc.dns) || len(cert.IPAddresses) != len(tc.ips) {
				t.Errorf("names = %v %v, want %v %v", cert.DNSNames, cert.IPAddresses, tc.dns, tc.ips)
			}
			wantExt := x509.ExtKeyUsageClientAuth
			if tc.signer == certificatesv1.KubeletServingSignerName {
				wantExt = x509.ExtKeyUsageServerAuth
			}
			if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{wantExt}) || cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 || cert.IsCA {
				t.Errorf("usages = %v %v, CA %v", cert.KeyUsage, cert.ExtKeyUsage, cert.IsCA)
			}
			lifetime := MaxLifetime
			if tc.seconds > 0 {
				lifetime = time.Duration(tc.seconds) * time.Second
			}
			if want := testNow.Add(lifetime); want.After(ca.CA.NotAfter) {
				lifetime = ca.CA.NotAfter.Sub(testNow)
			}
			if !cert.NotAfter.Equal(testNow.Add(lifetime).Truncate(time.Second)) || cert.NotBefore.After(testNow) {
				t.Errorf("valid %v to %v, want up to %v", cert.NotBefore, cert.NotAfter, testNow.Add(lifetime))
			}
		})
	}
}

// TestIssuedNeverAgain: a request with a certificate, or a Failed one,
// is left alone.
func TestIssuedNeverAgain(t *testing.T) {
	for _, st := range []certificatesv1.CertificateSigningRequestStatus{
		{Conditions: []certificatesv1.CertificateSigningRequestCondition{approvedCond()}, Certificate: []byte("issued")},
		{Conditions: []certificatesv1.CertificateSigningRequestCondition{approvedCond(), {Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue}}},
	} {
		csr := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
			Spec:       certificatesv1.CertificateSigningRequestSpec{Request: request(t, node1, nil, nil), SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Usages: clientUse},
			Status:     st,
		}
		h := newHarness(t, csr, nil)
		if err := h.c.reconcile(context.Background(), "csr-1"); err != nil {
			t.Fatal(err)
		}
		if got, sub := h.written(); got != nil {
			t.Errorf("wrote %s", sub)
		}
	}
}
