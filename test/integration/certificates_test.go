package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// newKeyAndRequest returns a new private key in PEM and a PEM
// certificate request for it with subject subj.
func newKeyAndRequest(t *testing.T, subj pkix.Name) (keyPEM, csrPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj}, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func csrManifest(name, signer string, request []byte, usages ...string) string {
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
spec:
  request: %s
  signerName: %s
  expirationSeconds: 86400
  usages: [%s]
`, name, base64.StdEncoding.EncodeToString(request), signer, strings.Join(usages, ", "))
}

// waitIssued waits for the certificate of CSR name.
func waitIssued(t *testing.T, client kubernetes.Interface, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	var csr *certificatesv1.CertificateSigningRequest
	pollUntil(t, 30*time.Second, "certificate of "+name, func() (bool, error) {
		var err error
		csr, err = client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && len(csr.Status.Certificate) > 0, err
	})
	return csr
}

// whoami asks the server who the holder of certPEM and keyPEM is.
func whoami(t *testing.T, s *testserver.Server, certPEM, keyPEM []byte) authenticationv1.UserInfo {
	t.Helper()
	cfg := &rest.Config{Host: s.Config.Host, TLSClientConfig: rest.TLSClientConfig{
		CAData: s.Config.TLSClientConfig.CAData, CertData: certPEM, KeyData: keyPEM,
	}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami with the issued certificate: %v", err)
	}
	return r.Status.UserInfo
}

// TestCertificateSigningRequests drives CSRs through real kubectl: a
// request for a client certificate is Pending until `kubectl certificate
// approve`, then Approved,Issued with a certificate that authenticates
// its subject; a denied one is never issued; approving takes the right
// to approve for the signer; and an agent holding a bootstrap token has
// its node client request approved and issued without anyone's help.
func TestCertificateSigningRequests(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := context.Background()

	aliceKey, aliceReq := newKeyAndRequest(t, pkix.Name{CommonName: "alice", Organization: []string{"dev"}})
	if r := k.runWith(t, csrManifest("alice", "kubernetes.io/kube-apiserver-client", aliceReq, "client auth"), nil, "create", "-f", "-"); r.code != 0 {
		t.Fatalf("kubectl create: %s%s", r.stdout, r.stderr)
	}
	out := k.ok(t, "get", "csr")
	if h := strings.Join(tableHeader(out), " "); h != "NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION" {
		t.Errorf("header = %q\n%s", h, out)
	}
	row, _ := tableRow(out, "alice")
	if f := strings.Fields(row); len(f) < 2 || !slices.Equal(f[2:], []string{"kubernetes.io/kube-apiserver-client", "admin", "24h", "Pending"}) {
		t.Errorf("kubectl get csr:\n%s", out)
	}
	// The requester is who made the request, whatever the client wrote.
	csr, err := s.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "alice", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Username != "admin" || !slices.Contains(csr.Spec.Groups, "system:masters") {
		t.Errorf("requester = %q %v", csr.Spec.Username, csr.Spec.Groups)
	}

	// Someone who may update approvals but not approve for the signer.
	k.apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-clerk}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests, certificatesigningrequests/approval]
  verbs: [get, list, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: csr-clerk}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-clerk}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: clerk}]
`)
	waitAllowed(t, s, "clerk", nil, "update", "certificates.k8s.io", "certificatesigningrequests/approval", "")
	r := k.fails(t, "", "certificate", "approve", "alice", "--as", "clerk")
	if !strings.Contains(r.stderr, `user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"`) {
		t.Errorf("approve without the signer's approve verb: %s", r.stderr)
	}

	if out := k.ok(t, "certificate", "approve", "alice"); !strings.Contains(out, "certificatesigningrequest.certificates.k8s.io/alice approved") {
		t.Errorf("kubectl certificate approve: %s", out)
	}
	csr = waitIssued(t, s.Client, "alice")
	if out := k.ok(t, "get", "csr", "alice"); !strings.Contains(out, "Approved,Issued") {
		t.Errorf("after approval:\n%s", out)
	}
	if out := k.ok(t, "describe", "csr", "alice"); !strings.Contains(out, "Approved") || !strings.Contains(out, "Common Name:    alice") {
		t.Errorf("kubectl describe csr:\n%s", out)
	}
	block, _ := pem.Decode(csr.Status.Certificate)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if d := cert.NotAfter.Sub(time.Now()); d > 24*time.Hour || d < 23*time.Hour {
		t.Errorf("certificate valid for %v, want the 24h asked for", d)
	}
	who := whoami(t, s, csr.Status.Certificate, aliceKey)
	if who.Username != "alice" || !slices.Contains(who.Groups, "dev") || !slices.Contains(who.Groups, "system:authenticated") {
		t.Errorf("the issued certificate authenticates as %q %v", who.Username, who.Groups)
	}
	// A condition once set stays.
	csr.Status.Conditions = nil
	if _, err := s.Client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "alice", csr, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("removing the approval: %v, want Invalid", err)
	}

	_, bobReq := newKeyAndRequest(t, pkix.Name{CommonName: "bob"})
	k.runWith(t, csrManifest("bob", "kubernetes.io/kube-apiserver-client", bobReq, "client auth"), nil, "create", "-f", "-")
	if out := k.ok(t, "certificate", "deny", "bob"); !strings.Contains(out, "certificatesigningrequest.certificates.k8s.io/bob denied") {
		t.Errorf("kubectl certificate deny: %s", out)
	}
	// The controller sees the denial as fast as it saw alice's approval;
	// give it that long to (wrongly) issue.
	time.Sleep(2 * time.Second)
	bob, err := s.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "bob", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bob.Status.Certificate) > 0 {
		t.Error("a denied request was issued")
	}
	if out := k.ok(t, "get", "csr", "bob"); !strings.Contains(out, "Denied") || strings.Contains(out, "Issued") {
		t.Errorf("after denial:\n%s", out)
	}
	// Approved and Denied exclude each other.
	bob.Status.Conditions = append(bob.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue})
	if _, err := s.Client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "bob", bob, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("approving a denied request: %v, want Invalid", err)
	}

	// No system:masters certificate through the client signer.
	_, rootReq := newKeyAndRequest(t, pkix.Name{CommonName: "root", Organization: []string{"system:masters"}})
	r = k.fails(t, csrManifest("root", "kubernetes.io/kube-apiserver-client", rootReq, "client auth"), "create", "-f", "-")
	if !strings.Contains(r.stderr, "system:masters group is not allowed") {
		t.Errorf("system:masters request: %s", r.stderr)
	}
	// A request that is not one is Invalid.
	r = k.fails(t, csrManifest("junk", "kubernetes.io/kube-apiserver-client", []byte("not a request"), "client auth"), "create", "-f", "-")
	if !strings.Contains(r.stderr, "spec.request") {
		t.Errorf("junk request: %s", r.stderr)
	}

	t.Run("bootstrap token", func(t *testing.T) {
		testBootstrapNodeClient(t, s)
	})
	t.Run("agent join", func(t *testing.T) {
		testAgentJoin(t, s)
	})
}

// testAgentJoin: an agent joining with the join token gets its client
// certificate through a CSR made with the token's bootstrap token, and
// the certificate authenticates as its node.
func testAgentJoin(t *testing.T, s *testserver.Server) {
	tok, err := pki.ParseJoinToken(readTestFile(t, filepath.Join(s.DataDir, "token")))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := agent.Join(context.Background(), s.Config.Host, tok, t.TempDir(), "joiner", []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	who := whoami(t, s, creds.ClientCertPEM, creds.ClientKeyPEM)
	if who.Username != "system:node:joiner" || !slices.Contains(who.Groups, "system:nodes") {
		t.Errorf("the joined agent authenticates as %q %v", who.Username, who.Groups)
	}
	csrs, err := s.Client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tok.BootstrapToken()
	found := false
	for _, c := range csrs.Items {
		found = found || (c.Spec.Username == "system:bootstrap:"+id && c.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName && len(c.Status.Certificate) > 0)
	}
	if !found {
		t.Errorf("no issued node client CSR from system:bootstrap:%s among %d", id, len(csrs.Items))
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testBootstrapNodeClient: an agent holding a bootstrap token asks for a
// node client certificate, which the server approves and issues by
// itself; the certificate authenticates as the node.
func testBootstrapNodeClient(t *testing.T, s *testserver.Server) {
	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": "abcdef", "token-secret": "0123456789abcdef",
			"usage-bootstrap-authentication": "true",
			"expiration":                     time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		},
	}
	if _, err := s.Client.CoreV1().Secrets("kube-system").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	agent := kubernetes.NewForConfigOrDie(&rest.Config{Host: s.Config.Host, BearerToken: "abcdef.0123456789abcdef",
		TLSClientConfig: rest.TLSClientConfig{CAData: s.Config.TLSClientConfig.CAData}})

	key, req := newKeyAndRequest(t, pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}})
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: req, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	// The token authenticates once the server has seen its Secret.
	var created *certificatesv1.CertificateSigningRequest
	pollUntil(t, 10*time.Second, "a CSR created with the bootstrap token", func() (bool, error) {
		var err error
		created, err = agent.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
		if apierrors.IsUnauthorized(err) {
			return false, nil
		}
		return err == nil, err
	})
	if created.Spec.Username != "system:bootstrap:abcdef" || !slices.Contains(created.Spec.Groups, "system:bootstrappers") {
		t.Errorf("requester = %q %v", created.Spec.Username, created.Spec.Groups)
	}
	// The agent waits for its certificate with what the token allows.
	var issued *certificatesv1.CertificateSigningRequest
	pollUntil(t, 30*time.Second, "the node client certificate", func() (bool, error) {
		var err error
		issued, err = agent.CertificatesV1().CertificateSigningRequests().Get(ctx, created.Name, metav1.GetOptions{})
		return err == nil && len(issued.Status.Certificate) > 0, err
	})
	approved := false
	for _, c := range issued.Status.Conditions {
		approved = approved || (c.Type == certificatesv1.CertificateApproved && c.Reason == "AutoApproved")
	}
	if !approved {
		t.Errorf("conditions = %+v, want AutoApproved", issued.Status.Conditions)
	}
	who := whoami(t, s, issued.Status.Certificate, key)
	if who.Username != "system:node:n1" || !slices.Contains(who.Groups, "system:nodes") {
		t.Errorf("the node certificate authenticates as %q %v", who.Username, who.Groups)
	}

	// The token may ask for nothing else approved: a client certificate
	// for a person stays Pending.
	_, aliceReq := newKeyAndRequest(t, pkix.Name{CommonName: "alice"})
	other, err := agent.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "sneaky"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: aliceReq, SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	other, err = s.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, other.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Status.Conditions) > 0 || len(other.Status.Certificate) > 0 {
		t.Errorf("a bootstrap token's request for a person was answered: %+v", other.Status)
	}
	// Nor may it approve.
	other.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	if _, err := agent.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, other.Name, other, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a bootstrap token approving: %v, want Forbidden", err)
	}
}
