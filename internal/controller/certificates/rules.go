package certificates

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
)

// The key usages the three signers issue besides their one extended
// usage: digital signature always, key encipherment for RSA keys that ask.
var baseUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment}

// checkUsages requires a request's usages to include the one extended
// usage of its signer and nothing beyond the base usages.
func checkUsages(usages []certificatesv1.KeyUsage, ext certificatesv1.KeyUsage) error {
	if !slices.Contains(usages, ext) {
		return refuse("the usages must include %q", ext)
	}
	for _, u := range usages {
		if u != ext && !slices.Contains(baseUsages, u) {
			return refuse("usage %q is not allowed for this signer; allowed are %q, %q and %q", u, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, ext)
		}
	}
	return nil
}

// checkKubeletClient holds a request to the rules of
// kube-apiserver-client-kubelet: a node's identity, client auth, and no
// subject alternative names.
func checkKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if _, err := nodeName(req.Subject.CommonName, req.Subject.Organization); err != nil {
		return err
	}
	if len(req.DNSNames) > 0 || len(req.IPAddresses) > 0 || len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return refuse("a node client certificate may not have subject alternative names")
	}
	return checkUsages(usages, certificatesv1.UsageClientAuth)
}

// checkKubeletServing holds a request to the rules of kubelet-serving: a
// node's identity, server auth, and DNS or IP names only.
func checkKubeletServing(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if _, err := nodeName(req.Subject.CommonName, req.Subject.Organization); err != nil {
		return err
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return refuse("a node serving certificate may only name DNS names and IP addresses")
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return refuse("a node serving certificate must name at least one DNS name or IP address")
	}
	return checkUsages(usages, certificatesv1.UsageServerAuth)
}

// x509Usages translates the usages the signers allow.
func x509Usages(usages []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage) {
	var ku x509.KeyUsage
	var ext []x509.ExtKeyUsage
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature:
			ku |= x509.KeyUsageDigitalSignature
		case certificatesv1.UsageKeyEncipherment:
			ku |= x509.KeyUsageKeyEncipherment
		case certificatesv1.UsageClientAuth:
			ext = append(ext, x509.ExtKeyUsageClientAuth)
		case certificatesv1.UsageServerAuth:
			ext = append(ext, x509.ExtKeyUsageServerAuth)
		}
	}
	return ku, ext
}

// subjectOf keeps the names of a requested subject and drops any extra
// attributes, which the signer does not vouch for.
func subjectOf(s pkix.Name) pkix.Name {
	return pkix.Name{
		CommonName: s.CommonName, Organization: s.Organization, OrganizationalUnit: s.OrganizationalUnit,
		Country: s.Country, Province: s.Province, Locality: s.Locality,
		StreetAddress: s.StreetAddress, PostalCode: s.PostalCode, SerialNumber: s.SerialNumber,
	}
}
