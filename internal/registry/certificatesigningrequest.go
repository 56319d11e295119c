package registry

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The CSR rules Kubernetes holds requests to.
const (
	// MinCSRExpirationSeconds is the shortest certificate a request may
	// ask for: shorter ones would expire before a client could use them.
	MinCSRExpirationSeconds = 600
	// legacyUnknownSigner names requests from before signers existed;
	// certificates.k8s.io/v1 refuses it.
	legacyUnknownSigner = "kubernetes.io/legacy-unknown"
	maxSignerNameLength = 571
)

// csrUsages are the key usages a request may ask for.
var csrUsages = sets.New(
	certificatesv1.UsageSigning, certificatesv1.UsageDigitalSignature, certificatesv1.UsageContentCommitment,
	certificatesv1.UsageKeyEncipherment, certificatesv1.UsageKeyAgreement, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign, certificatesv1.UsageEncipherOnly,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageAny, certificatesv1.UsageServerAuth,
	certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageSMIME, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageTimestamping, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC,
)

var signerPathSegment = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

func certificateSigningRequests() *Kind {
	return &Kind{
		GVK:        certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"),
		Resource:   "certificatesigningrequests",
		Singular:   "certificatesigningrequest",
		ShortNames: []string{"csr"},
		New:        func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList:    func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*certificatesv1.CertificateSigningRequest).Status = certificatesv1.CertificateSigningRequestStatus{}
		},
		// The spec is the request as its requester made it, and the
		// status belongs to approvers and signers: an update of the
		// object itself changes neither, as in Kubernetes.
		PrepareForUpdate: func(obj, old runtime.Object) {
			csr, o := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
			csr.Spec = *o.Spec.DeepCopy()
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			csr := obj.(*certificatesv1.CertificateSigningRequest)
			o, _ := old.(*certificatesv1.CertificateSigningRequest)
			return ValidateCSR(csr, o)
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			ageColumn,
			col("SignerName", "string", "The signer the request is addressed to."),
			col("Requestor", "string", "The user who made the request."),
			col("RequestedDuration", "string", "The certificate lifetime asked for."),
			col("Condition", "string", "Approval and issuance of the request."),
		},
		Row: func(obj runtime.Object) []any {
			csr := obj.(*certificatesv1.CertificateSigningRequest)
			requested := "<none>"
			if s := csr.Spec.ExpirationSeconds; s != nil {
				requested = duration.HumanDuration(time.Duration(*s) * time.Second)
			}
			return []any{csr.Name, age(obj), csr.Spec.SignerName, csr.Spec.Username, requested, CSRCondition(csr)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.signerName": obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
		},
	}
}

// CSRCondition sums a request's state up as kubectl shows it:
// "Pending", or its Approved, Denied and Failed conditions, then
// "Issued" once a certificate is there.
func CSRCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var parts []string
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			parts = append(parts, string(c.Type))
		}
	}
	if len(csr.Status.Certificate) > 0 {
		parts = append(parts, "Issued")
	}
	if len(parts) == 0 {
		return "Pending"
	}
	return strings.Join(parts, ",")
}

// ValidateCSR checks a request; old is nil on create. The request must be
// a PEM CERTIFICATE REQUEST whose signature checks, addressed to a
// well-formed signer, with known usages; conditions once set stay, and
// a certificate once issued does not change.
func ValidateCSR(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if _, err := ParseCSR(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(spec.Child("request"), "<request>", err.Error()))
	}
	errs = append(errs, validateSignerName(csr.Spec.SignerName, spec.Child("signerName"))...)
	if old == nil && csr.Spec.SignerName == legacyUnknownSigner {
		errs = append(errs, field.Invalid(spec.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(spec.Child("usages"), ""))
	}
	seen := sets.New[certificatesv1.KeyUsage]()
	for i, u := range csr.Spec.Usages {
		p := spec.Child("usages").Index(i)
		switch {
		case !csrUsages.Has(u):
			errs = append(errs, field.NotSupported(p, u, sets.List(csrUsages)))
		case seen.Has(u):
			errs = append(errs, field.Duplicate(p, u))
		}
		seen.Insert(u)
	}
	if s := csr.Spec.ExpirationSeconds; s != nil && *s < MinCSRExpirationSeconds {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *s, fmt.Sprintf("may not specify a duration less than %d seconds (10 minutes)", MinCSRExpirationSeconds)))
	}
	errs = append(errs, validateCSRStatus(csr, old)...)
	return errs
}

// ParseCSR decodes a PEM certificate request and checks its signature.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("the request must hold exactly one PEM block")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("checking the certificate request's signature: %w", err)
	}
	return req, nil
}

// validateSignerName holds a signer name to DOMAIN/PATH: a DNS subdomain
// with at least two labels, then path segments.
func validateSignerName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if len(name) > maxSignerNameLength {
		return field.ErrorList{field.TooLong(p, "", maxSignerNameLength)}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	if msgs := validation.IsDNS1123Subdomain(domain); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p, name, "the domain part must be a valid DNS subdomain: "+strings.Join(msgs, "; ")))
	} else if !strings.Contains(domain, ".") {
		errs = append(errs, field.Invalid(p, name, "the domain part must have at least two segments separated by dots"))
	}
	for _, seg := range strings.Split(path, "/") {
		if !signerPathSegment.MatchString(seg) {
			errs = append(errs, field.Invalid(p, name, "each segment of the path must be alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"))
			break
		}
	}
	return errs
}

func validateCSRStatus(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	status := field.NewPath("status")
	conds := status.Child("conditions")
	var errs field.ErrorList
	has := map[certificatesv1.RequestConditionType]bool{}
	for i, c := range csr.Status.Conditions {
		p := conds.Index(i)
		switch c.Type {
		case "":
			errs = append(errs, field.Required(p.Child("type"), ""))
			continue
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			if has[c.Type] {
				errs = append(errs, field.Duplicate(p.Child("type"), c.Type))
			}
			if c.Status != corev1.ConditionTrue {
				errs = append(errs, field.NotSupported(p.Child("status"), c.Status, []string{string(corev1.ConditionTrue)}))
			}
		default:
			switch c.Status {
			case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
			default:
				errs = append(errs, field.NotSupported(p.Child("status"), c.Status, []string{string(corev1.ConditionTrue), string(corev1.ConditionFalse), string(corev1.ConditionUnknown)}))
			}
		}
		has[c.Type] = true
	}
	if has[certificatesv1.CertificateApproved] && has[certificatesv1.CertificateDenied] {
		errs = append(errs, field.Invalid(conds, certificatesv1.CertificateDenied, "Approved and Denied conditions are mutually exclusive"))
	}
	if cert := csr.Status.Certificate; len(cert) > 0 {
		p := status.Child("certificate")
		switch {
		case !has[certificatesv1.CertificateApproved]:
			errs = append(errs, field.Invalid(p, "<certificate data>", "certificate may only be set on an Approved request"))
		case has[certificatesv1.CertificateFailed]:
			errs = append(errs, field.Invalid(p, "<certificate data>", "certificate may not be set on a Failed request"))
		}
		if err := checkCertificates(cert); err != nil {
			errs = append(errs, field.Invalid(p, "<certificate data>", err.Error()))
		}
	}
	if old == nil {
		return errs
	}
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if hasCondition(old, t) && !has[t] {
			errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if len(old.Status.Certificate) > 0 && !bytes.Equal(old.Status.Certificate, csr.Status.Certificate) {
		errs = append(errs, field.Forbidden(status.Child("certificate"), "updates may not modify existing certificate content"))
	}
	if !apiequality.Semantic.DeepEqual(csr.Spec, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "the spec of a certificate signing request is immutable"))
	}
	return errs
}

// checkCertificates requires one or more PEM CERTIFICATE blocks that
// parse, and nothing else.
func checkCertificates(data []byte) error {
	n := 0
	for rest := data; len(bytes.TrimSpace(rest)) > 0; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("must hold only PEM blocks")
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) > 0 {
			return errors.New("no PEM block headers are permitted")
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("must hold at least one certificate")
	}
	return nil
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			return true
		}
	}
	return false
}
