package certificates

import (
	"context"
	"log/slog"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/pki"
)

func TestCleanUp(t *testing.T) {
	ca := testCA(t)
	issued := func(lifetime time.Duration) []byte {
		der, err := ca.IssueFor(ca.CA.PublicKey, pki.Grant{Lifetime: lifetime, ExtUsages: nil}, testNow.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	cond := func(typ certificatesv1.RequestConditionType, ago time.Duration) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, LastUpdateTime: metav1.NewTime(testNow.Add(-ago))}
	}
	csr := func(name string, age time.Duration, cert []byte, conds ...certificatesv1.CertificateSigningRequestCondition) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), CreationTimestamp: metav1.NewTime(testNow.Add(-age))},
			Status:     certificatesv1.CertificateSigningRequestStatus{Conditions: conds, Certificate: cert},
		}
	}
	cases := []struct {
		csr  *certificatesv1.CertificateSigningRequest
		gone bool
	}{
		{csr("pending-new", time.Hour, nil), false},
		{csr("pending-old", 25*time.Hour, nil), true},
		{csr("issued-recent", 2*time.Hour, issued(48*time.Hour), cond(certificatesv1.CertificateApproved, 30*time.Minute)), false},
		{csr("issued-long-ago", 3*time.Hour, issued(48*time.Hour), cond(certificatesv1.CertificateApproved, 2*time.Hour)), true},
		{csr("issued-expired", 3*time.Hour, issued(time.Hour), cond(certificatesv1.CertificateApproved, 10*time.Minute)), true},
		{csr("approved-unsigned", 2*time.Hour, nil, cond(certificatesv1.CertificateApproved, 2*time.Hour)), false},
		{csr("denied-recent", 2*time.Hour, nil, cond(certificatesv1.CertificateDenied, 10*time.Minute)), false},
		{csr("denied-old", 2*time.Hour, nil, cond(certificatesv1.CertificateDenied, 90*time.Minute)), true},
		{csr("failed-old", 2*time.Hour, nil, cond(certificatesv1.CertificateApproved, 2*time.Hour), cond(certificatesv1.CertificateFailed, 2*time.Hour)), true},
	}
	client := fake.NewClientset()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, tc := range cases {
		if _, err := client.CertificatesV1().CertificateSigningRequests().Create(context.Background(), tc.csr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		indexer.Add(tc.csr)
	}
	c := &Controller{client: client, clock: clocktesting.NewFakePassiveClock(testNow), log: slog.New(slog.DiscardHandler),
		lister: certificateslisters.NewCertificateSigningRequestLister(indexer)}
	c.cleanUp(context.Background())
	for _, tc := range cases {
		_, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), tc.csr.Name, metav1.GetOptions{})
		if gone := err != nil; gone != tc.gone {
			t.Errorf("%s: deleted %v, want %v", tc.csr.Name, gone, tc.gone)
		}
	}
}
