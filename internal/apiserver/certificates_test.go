package apiserver

import (
	"reflect"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestCSRSubresourceUpdate(t *testing.T) {
	c := func(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
	}
	approved, denied, failed := c(certificatesv1.CertificateApproved), c(certificatesv1.CertificateDenied), c(certificatesv1.CertificateFailed)
	custom := c("Reviewed")
	csr := func(cert string, conds ...certificatesv1.CertificateSigningRequestCondition) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: conds, Certificate: []byte(cert)}}
	}
	cases := []struct {
		name      string
		sub       string
		cur, sent *certificatesv1.CertificateSigningRequest
		want      *certificatesv1.CertificateSigningRequest
	}{
		{name: "approval adds Approved", sub: "approval", cur: csr(""), sent: csr("", approved), want: csr("", approved)},
		{name: "approval keeps the certificate and other conditions", sub: "approval",
			cur: csr("cert", custom), sent: csr("forged", approved, failed), want: csr("cert", approved, custom)},
		{name: "approval may drop a decision (validation refuses)", sub: "approval", cur: csr("", denied), sent: csr(""), want: csr("")},
		{name: "status sets the certificate", sub: "status", cur: csr("", approved), sent: csr("cert", approved), want: csr("cert", approved)},
		{name: "status cannot approve", sub: "status", cur: csr(""), sent: csr("", approved, failed), want: csr("", failed)},
		{name: "status cannot drop a decision", sub: "status", cur: csr("", denied), sent: csr("", custom), want: csr("", denied, custom)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := tc.cur.DeepCopy()
			copyStatus(next, tc.sent)
			got := csrSubresourceUpdate(tc.sub, next, tc.cur).(*certificatesv1.CertificateSigningRequest)
			if !reflect.DeepEqual(got.Status, tc.want.Status) {
				t.Errorf("status = %+v, want %+v", got.Status, tc.want.Status)
			}
		})
	}
}
