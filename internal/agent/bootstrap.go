package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/pki"
)

// requestClientCertificate gets the node's client certificate by TLS
// bootstrap: authenticated with the bootstrap token derived from the join
// token, it creates a CertificateSigningRequest to
// kubernetes.io/kube-apiserver-client-kubelet for system:node:NAME, which
// the server approves because the token's group may ask for node client
// certificates, and waits for the certificate. caPEM is the cluster CA,
// already checked against the token.
func requestClientCertificate(ctx context.Context, server string, caPEM []byte, token pki.JoinToken, nodeName string) (keyPEM, certPEM []byte, err error) {
	id, secret := token.BootstrapToken()
	client, err := kubernetes.NewForConfig(&rest.Config{
		Host:            server,
		BearerToken:     id + "." + secret,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		UserAgent:       "bosun-agent/" + nodeName,
	})
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: user.NodeUserPrefix + nodeName, Organization: []string{user.NodesGroup}},
	}, key)
	if err != nil {
		return nil, nil, err
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	want := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	// The server learns of the bootstrap token's Secret through a watch;
	// a server that has just started may not know it yet.
	var created *certificatesv1.CertificateSigningRequest
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		created, err = csrs.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsUnauthorized(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate signing request: %w", err)
	}
	certPEM, err = waitForCertificate(ctx, client, created)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), certPEM, nil
}

// waitForCertificate watches the request until it is issued, denied or
// fails.
func waitForCertificate(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest) ([]byte, error) {
	csrs := client.CertificatesV1().CertificateSigningRequests()
	selector := fields.OneTermEqualSelector("metadata.name", req.Name).String()
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return csrs.List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return csrs.Watch(ctx, o)
		},
	}
	var cert []byte
	_, err := watchtools.UntilWithSync(ctx, lw, &certificatesv1.CertificateSigningRequest{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("certificate signing request %s was deleted", req.Name)
		}
		csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
		if !ok || csr.UID != req.UID {
			return false, nil
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
				return false, fmt.Errorf("certificate signing request %s is %s: %s %s", req.Name, c.Type, c.Reason, c.Message)
			}
		}
		cert = csr.Status.Certificate
		return len(cert) > 0, nil
	})
	if errors.Is(err, wait.ErrWaitTimeout) || ctx.Err() != nil {
		return nil, fmt.Errorf("certificate signing request %s was not approved and issued in time (is the controller manager running?)", req.Name)
	}
	if err != nil {
		return nil, err
	}
	return cert, nil
}
