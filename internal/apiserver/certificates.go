package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/registry"
)

// What admission of CertificateSigningRequests asks the authorizer about:
// approving and signing are verbs on the signer, named by its signerName
// or its domain with "/*", so that a role can cover every signer of one
// domain.
const (
	signersResource = "signers"
	verbApprove     = "approve"
	verbSign        = "sign"
	// mastersGroup may not be asked for of the API server's client signer:
	// a certificate in it would bypass authorization altogether.
	mastersGroup = "system:masters"
)

var csrResource = schema.GroupResource{Group: certificatesv1.GroupName, Resource: "certificatesigningrequests"}

// admitCertificateRequest fills in who asks for a new
// CertificateSigningRequest — the requester's name, UID, groups and
// extra, whatever the client sent there — since approvers decide on it,
// and refuses a request for a system:masters client certificate.
func (s *Server) admitCertificateRequest(ctx context.Context, obj runtime.Object) error {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u := userFrom(ctx); u != nil {
		csr.Spec.Username, csr.Spec.UID = u.Name, u.UID
		csr.Spec.Groups = slices.Clone(u.Groups)
		if len(u.Extra) > 0 {
			csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
			for k, v := range u.Extra {
				csr.Spec.Extra[k] = slices.Clone(v)
			}
		}
	}
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return nil
	}
	// A request that does not parse is refused by validation instead.
	if req, err := registry.ParseCSR(csr.Spec.Request); err == nil && slices.Contains(req.Subject.Organization, mastersGroup) {
		return errForbidden(csrResource, csr.Name, fmt.Sprintf("use of %s signer with %s group is not allowed", certificatesv1.KubeAPIServerClientSignerName, mastersGroup))
	}
	return nil
}

// admitCertificateUpdate lets through an update of a request's approval
// only from users who may approve for its signer, and a change of its
// certificate only from users who may sign for it.
func (s *Server) admitCertificateUpdate(ctx context.Context, sub string, obj, old runtime.Object) error {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	switch {
	case sub == "approval":
		return s.authorizeSigner(ctx, verbApprove, csr)
	case sub == "status" && string(csr.Status.Certificate) != string(old.(*certificatesv1.CertificateSigningRequest).Status.Certificate):
		return s.authorizeSigner(ctx, verbSign, csr)
	}
	return nil
}

// authorizeSigner asks whether the request's user may verb the CSR's
// signer, by name or by its domain's wildcard.
func (s *Server) authorizeSigner(ctx context.Context, verb string, csr *certificatesv1.CertificateSigningRequest) error {
	u := userFrom(ctx)
	if s.cfg.Authorizer == nil || u == nil {
		return nil
	}
	names := []string{csr.Spec.SignerName}
	if domain, _, ok := strings.Cut(csr.Spec.SignerName, "/"); ok {
		names = append(names, domain+"/*")
	}
	for _, name := range names {
		a := authorizer.Attributes{
			User: *u, Verb: verb, ResourceRequest: true,
			APIGroup: certificatesv1.GroupName, APIVersion: "*", Resource: signersResource, Name: name,
		}
		if d, _, _ := s.cfg.Authorizer.Authorize(ctx, a); d == authorizer.Allow {
			return nil
		}
	}
	what := "approve"
	if verb == verbSign {
		what = "sign"
	}
	return errForbidden(csrResource, csr.Name, fmt.Sprintf("user not permitted to %s requests with signerName %q", what, csr.Spec.SignerName))
}

// csrSubresourceUpdate narrows what a write to a request's status or
// approval may change, given next (the stored object with the client's
// status copied in) and cur (the stored object): status writes keep the
// Approved and Denied conditions, approval writes change nothing else.
// Objects of other kinds pass unchanged.
func csrSubresourceUpdate(sub string, next, cur runtime.Object) runtime.Object {
	n, ok := next.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return next
	}
	c := cur.(*certificatesv1.CertificateSigningRequest)
	isApproval := func(cond certificatesv1.CertificateSigningRequestCondition) bool {
		return cond.Type == certificatesv1.CertificateApproved || cond.Type == certificatesv1.CertificateDenied
	}
	// pick returns the conditions of from that are (or are not)
	// approval decisions, in their order.
	pick := func(from []certificatesv1.CertificateSigningRequestCondition, approval bool) []certificatesv1.CertificateSigningRequestCondition {
		var out []certificatesv1.CertificateSigningRequestCondition
		for _, cond := range from {
			if isApproval(cond) == approval {
				out = append(out, cond)
			}
		}
		return out
	}
	var conds []certificatesv1.CertificateSigningRequestCondition
	switch sub {
	case "approval":
		conds = append(pick(n.Status.Conditions, true), pick(c.Status.Conditions, false)...)
		n.Status = *c.Status.DeepCopy()
	case "status":
		conds = append(pick(c.Status.Conditions, true), pick(n.Status.Conditions, false)...)
	default:
		return next
	}
	n.Status.Conditions = conds
	return n
}
