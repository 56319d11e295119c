// Package certificates answers CertificateSigningRequests addressed to
// the three signers Kubernetes defines for its API server and nodes —
// kubernetes.io/kube-apiserver-client, kube-apiserver-client-kubelet and
// kubelet-serving — with certificates from the cluster CA. It approves a
// node's client-certificate request by itself when the requester may ask
// for one (a bootstrapping agent for a new node, or the node renewing its
// own), as Kubernetes' csrapproving controller does, and signs approved
// requests that hold to their signer's rules; one that does not gets a
// Failed condition saying why.
package certificates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/registry"
)

const (
	workers = 2
	// MaxLifetime is how long an issued certificate lasts when the
	// request asks for nothing shorter: Kubernetes' default signing
	// duration.
	MaxLifetime = 365 * 24 * time.Hour

	// The subresources the approver asks the authorizer about, on
	// behalf of the requester: may it create a node client certificate
	// request for any node, or for itself?
	nodeClientSubresource     = "nodeclient"
	selfNodeClientSubresource = "selfnodeclient"

	reasonAutoApproved     = "AutoApproved"
	reasonSignerValidation = "SignerValidationFailure"
)

// Controller approves node client requests and signs approved requests.
type Controller struct {
	client kubernetes.Interface
	ca     *pki.Bundle
	clock  clock.PassiveClock
	log    *slog.Logger

	informers *controller.Context
	lister    certificateslisters.CertificateSigningRequestLister
	queue     *controller.Queue
}

// New returns a controller signing with ca and sharing c's informers.
func New(c *controller.Context, ca *pki.Bundle) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	var clk clock.PassiveClock = clock.RealClock{}
	if c.Clock != nil {
		clk = c.Clock
	}
	return &Controller{client: c.Client, ca: ca, clock: clk, log: log.With("controller", "certificates"), informers: c}
}

// Run answers requests until ctx ends. Queue keys are request names.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("certificates")
	inf := c.informers.Informers.Certificates().V1().CertificateSigningRequests()
	c.lister = inf.Lister()
	remove, err := c.informers.Sync(ctx, controller.Watch{Informer: inf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.Enqueue,
		UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
	}})
	if err != nil {
		return err
	}
	defer remove()
	go func() {
		t := time.NewTicker(cleanupEvery)
		defer t.Stop()
		for {
			c.cleanUp(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return c.queue.Run(ctx, workers, c.log, time.Minute, c.reconcile)
}

// reconcile takes one request a step further: approve it if it is a
// node client request its requester may make, else sign it if approved.
// Each step's write brings the request back through the queue.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	csr, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	approved, denied, failed := decided(csr)
	switch {
	case denied || failed || len(csr.Status.Certificate) > 0:
		return nil
	case !approved:
		return c.autoApprove(ctx, csr)
	}
	return c.sign(ctx, csr)
}

func decided(csr *certificatesv1.CertificateSigningRequest) (approved, denied, failed bool) {
	for _, cond := range csr.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	return approved, denied, failed
}

// autoApprove approves a node client request when the authorizer lets
// its requester create node client requests (a bootstrapping agent), or
// requests for itself and it is that node (a renewal). Anything else is
// left for a person to decide.
func (c *Controller) autoApprove(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		return nil
	}
	req, err := registry.ParseCSR(csr.Spec.Request)
	if err != nil {
		return nil
	}
	if checkKubeletClient(req, csr.Spec.Usages) != nil {
		return nil
	}
	subresources := []string{nodeClientSubresource}
	if csr.Spec.Username == req.Subject.CommonName {
		subresources = append(subresources, selfNodeClientSubresource)
	}
	allowed := false
	for _, sub := range subresources {
		ok, err := c.mayCreate(ctx, csr, sub)
		if err != nil {
			return err
		}
		if ok {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil
	}
	next := csr.DeepCopy()
	next.Status.Conditions = append(next.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: reasonAutoApproved, Message: "Auto approving kubelet client certificate after SubjectAccessReview.",
		LastUpdateTime: metav1.NewTime(c.clock.Now()),
	})
	_, err = c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("approving %s: %w", csr.Name, err)
	}
	c.log.Info("approved node client certificate request", "csr", csr.Name, "requester", csr.Spec.Username)
	return nil
}

// mayCreate asks the authorizer whether the requester may create
// certificatesigningrequests/sub.
func (c *Controller) mayCreate(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, sub string) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range csr.Spec.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: csr.Spec.Username, UID: csr.Spec.UID, Groups: csr.Spec.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: certificatesv1.GroupName, Resource: "certificatesigningrequests", Subresource: sub, Verb: "create",
		},
	}}
	got, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking whether %s may create %s requests: %w", csr.Spec.Username, sub, err)
	}
	return got.Status.Allowed, nil
}

// sign issues the certificate of an approved request to one of the
// signers this controller serves, or marks it Failed.
func (c *Controller) sign(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	grant, err := c.grant(csr)
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		return c.fail(ctx, csr, refused.Error())
	case err != nil:
		return err
	case grant == nil:
		return nil // another signer's
	}
	req, err := registry.ParseCSR(csr.Spec.Request)
	if err != nil {
		return c.fail(ctx, csr, err.Error())
	}
	cert, err := c.ca.IssueFor(req.PublicKey, *grant, c.clock.Now())
	if errors.Is(err, pki.ErrCAExpired) {
		return c.fail(ctx, csr, err.Error())
	}
	if err != nil {
		return fmt.Errorf("signing %s: %w", csr.Name, err)
	}
	next := csr.DeepCopy()
	next.Status.Certificate = cert
	_, err = c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storing the certificate of %s: %w", csr.Name, err)
	}
	c.log.Info("issued certificate", "csr", csr.Name, "signer", csr.Spec.SignerName, "subject", grant.Subject.String())
	return nil
}

// fail records why a request will not be signed.
func (c *Controller) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, why string) error {
	next := csr.DeepCopy()
	next.Status.Conditions = append(next.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
		Reason: reasonSignerValidation, Message: why,
		LastUpdateTime: metav1.NewTime(c.clock.Now()), LastTransitionTime: metav1.NewTime(c.clock.Now()),
	})
	_, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("marking %s failed: %w", csr.Name, err)
	}
	c.log.Info("refused to sign", "csr", csr.Name, "signer", csr.Spec.SignerName, "reason", why)
	return nil
}

// refusal is a request its signer will not sign, for good.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

func refuse(format string, a ...any) error { return &refusal{fmt.Sprintf(format, a...)} }

// grant decides what the certificate of csr says under its signer's
// rules: nil for a signer this controller does not serve, a refusal for
// a request that breaks them.
func (c *Controller) grant(csr *certificatesv1.CertificateSigningRequest) (*pki.Grant, error) {
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientSignerName, certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeletServingSignerName:
	default:
		return nil, nil
	}
	req, err := registry.ParseCSR(csr.Spec.Request)
	if err != nil {
		return nil, refuse("%v", err)
	}
	var g pki.Grant
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientSignerName:
		if err := checkUsages(csr.Spec.Usages, certificatesv1.UsageClientAuth); err != nil {
			return nil, err
		}
		if slices.Contains(req.Subject.Organization, "system:masters") {
			return nil, refuse("the %s signer does not issue certificates in group system:masters", csr.Spec.SignerName)
		}
		g.Subject = req.Subject
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		if err := checkKubeletClient(req, csr.Spec.Usages); err != nil {
			return nil, err
		}
		g.Subject = req.Subject
	case certificatesv1.KubeletServingSignerName:
		if err := checkKubeletServing(req, csr.Spec.Usages); err != nil {
			return nil, err
		}
		g.Subject = req.Subject
		g.Names = pki.Names{DNS: req.DNSNames, IPs: req.IPAddresses}
	}
	// Only the subject's names count: anything else a request carries
	// in its subject (or extensions) is not the signer's to vouch for.
	g.Subject = subjectOf(g.Subject)
	g.KeyUsage, g.ExtUsages = x509Usages(csr.Spec.Usages)
	g.Lifetime = MaxLifetime
	if s := csr.Spec.ExpirationSeconds; s != nil && time.Duration(*s)*time.Second < g.Lifetime {
		g.Lifetime = time.Duration(*s) * time.Second
	}
	return &g, nil
}

// nodeName returns the node a kubelet certificate's subject names, with
// the subject rules both kubelet signers share.
func nodeName(cn string, orgs []string) (string, error) {
	if len(orgs) != 1 || orgs[0] != user.NodesGroup {
		return "", refuse("the subject's organization must be exactly [%s], got %v", user.NodesGroup, orgs)
	}
	name, ok := strings.CutPrefix(cn, user.NodeUserPrefix)
	if !ok || name == "" {
		return "", refuse("the subject's common name must be %sNODE, got %q", user.NodeUserPrefix, cn)
	}
	return name, nil
}
