package certificates

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// How long requests are kept, as Kubernetes' CSR cleaner keeps them: a
// decided request is done with soon after, a pending one is given a day,
// and an issued certificate that has expired is of no further use.
const (
	pendingKept  = 24 * time.Hour
	decidedKept  = time.Hour
	cleanupEvery = 10 * time.Minute
)

// cleanUp deletes the requests past their time, each with its UID as a
// precondition so that a request recreated under the same name stays.
func (c *Controller) cleanUp(ctx context.Context) {
	all, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.clock.Now()
	for _, csr := range all {
		if !expired(csr, now) {
			continue
		}
		uid := csr.UID
		err := c.client.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.log.Warn("deleting an old certificate signing request", "csr", csr.Name, "err", err)
			continue
		}
		c.log.Info("deleted an old certificate signing request", "csr", csr.Name)
	}
}

// expired reports whether csr is past its time at now.
func expired(csr *certificatesv1.CertificateSigningRequest, now time.Time) bool {
	if notAfter, ok := issuedUntil(csr); ok && now.After(notAfter) {
		return true
	}
	var decidedAt time.Time
	for _, cond := range csr.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			at := cond.LastUpdateTime.Time
			if at.IsZero() {
				at = cond.LastTransitionTime.Time
			}
			if at.IsZero() {
				at = csr.CreationTimestamp.Time
			}
			if at.After(decidedAt) {
				decidedAt = at
			}
		}
	}
	approved, denied, failed := decided(csr)
	if denied || failed || (approved && len(csr.Status.Certificate) > 0) {
		return now.After(decidedAt.Add(decidedKept))
	}
	// Pending, or approved and still to be signed.
	return now.After(csr.CreationTimestamp.Add(pendingKept))
}

// issuedUntil is the end of the issued certificate's validity.
func issuedUntil(csr *certificatesv1.CertificateSigningRequest) (time.Time, bool) {
	block, _ := pem.Decode(csr.Status.Certificate)
	if block == nil {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	return cert.NotAfter, true
}
