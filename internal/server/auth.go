package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/admission/noderestriction"
	"github.com/bosun-sh/bosun/internal/auth/authn"
	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/node"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/pki"
)

// The identity the server's own clients use: the informers behind
// authentication and authorization, and the upkeep of kube-dns. Like
// kube-apiserver's loopback client it is a member of system:masters,
// since it must work before RBAC has been read.
const apiserverUser = "system:apiserver"

// tokenCacheTTL is how long a token's verdict is reused. Revoking a
// service account token (deleting its pod or account) takes effect
// within it.
const tokenCacheTTL = 10 * time.Second

// security is what the API server authenticates and authorizes with.
type security struct {
	authenticator authn.Authenticator
	tokens        authn.TokenAuthenticator
	authorizer    authorizer.Authorizer
	rules         authorizer.RuleResolver
	nodeWrites    *noderestriction.Plugin
	// start runs the informers the above read, once the API serves.
	start func(ctx context.Context)
	// synced reports whether they have their first lists.
	synced func() bool
}

// newSecurity builds authentication (client certificates, static
// tokens, bootstrap tokens, service account tokens) and authorization
// (system:masters, the Node authorizer, then RBAC) and NodeRestriction
// over informers of this server, read
// through a loopback client.
func newSecurity(serverURL string, b *pki.Bundle, cfg Config, issuer *serviceaccount.Issuer) (*security, error) {
	rc, err := componentConfig(serverURL, b, apiserverUser, []string{user.SystemPrivilegedGroup}, "bosun-apiserver", 100, 200)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactory(client, 0)
	z := rbac.NewFromInformers(f)
	nodes := node.New(f)
	core := f.Core().V1()
	objects := liveObjects{
		Listers: authn.Listers{
			ServiceAccounts: core.ServiceAccounts().Lister(),
			Pods:            core.Pods().Lister(),
			Secrets:         core.Secrets().Lister(),
		},
		client: client,
	}
	var tokens []authn.TokenAuthenticator
	if cfg.TokenAuthFile != "" {
		static, err := authn.LoadTokenFile(cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		tokens = append(tokens, static)
	}
	tokens = append(tokens, &authn.BootstrapTokens{Secrets: core.Secrets().Lister()})
	if issuer != nil {
		tokens = append(tokens, &authn.ServiceAccountTokens{Issuer: issuer, Objects: objects})
	}
	cached := authn.NewTokenCache(authn.TokenUnion(tokens...), tokenCacheTTL, nil)
	informersSynced := []func() bool{
		core.ServiceAccounts().Informer().HasSynced,
		core.Pods().Informer().HasSynced,
		core.Secrets().Informer().HasSynced,
		z.HasSynced,
		nodes.HasSynced,
	}
	return &security{
		authenticator: authn.Union(&authn.X509{Roots: b.CAPool()}, authn.Bearer(cached)),
		tokens:        cached,
		// Nodes first: it holds an agent to its own pods' objects, and
		// RBAC's system:node role grants nodes nothing beyond that.
		authorizer: authorizer.Union(authorizer.Privileged, nodes, z),
		rules:      z,
		nodeWrites: noderestriction.New(noderestriction.Listers(f)),
		start:      func(ctx context.Context) { f.Start(ctx.Done()) },
		synced: func() bool {
			for _, s := range informersSynced {
				if !s() {
					return false
				}
			}
			return true
		},
	}, nil
}

// authorizerFor is the authorizer of mode: nil, allowing everything,
// for AlwaysAllow.
func (s *security) authorizerFor(mode string) authorizer.Authorizer {
	if mode == AuthorizationAlwaysAllow {
		return nil
	}
	return s.authorizer
}

// waitSynced waits for the informers behind authorization, so that the
// components started next are not refused while RBAC is still being
// read. It gives up after a while: a slow start must not stop the server.
func (s *security) waitSynced(ctx context.Context, log *slog.Logger) {
	deadline := time.Now().Add(30 * time.Second)
	for !s.synced() {
		if time.Now().After(deadline) {
			log.Warn("authorization caches not synced after 30s; requests other than system:masters' are refused until they are")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// liveObjects reads the objects a service account token names from the
// informer caches, and from the API when a cache has not seen them yet
// (a pod created a moment ago asking for its first token).
type liveObjects struct {
	authn.Listers
	client kubernetes.Interface
}

// liveReadTimeout bounds a read behind a cache miss.
const liveReadTimeout = 5 * time.Second

func (o liveObjects) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := o.Listers.GetServiceAccount(namespace, name)
	if apierrors.IsNotFound(err) {
		ctx, cancel := context.WithTimeout(context.Background(), liveReadTimeout)
		defer cancel()
		return o.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	return sa, err
}

func (o liveObjects) GetPod(namespace, name string) (*corev1.Pod, error) {
	p, err := o.Listers.GetPod(namespace, name)
	if apierrors.IsNotFound(err) {
		ctx, cancel := context.WithTimeout(context.Background(), liveReadTimeout)
		defer cancel()
		return o.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	return p, err
}

func (o liveObjects) GetSecret(namespace, name string) (*corev1.Secret, error) {
	s, err := o.Listers.GetSecret(namespace, name)
	if apierrors.IsNotFound(err) {
		ctx, cancel := context.WithTimeout(context.Background(), liveReadTimeout)
		defer cancel()
		return o.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	return s, err
}

// componentConfig is how one of the server's own components reaches this
// server: with a client certificate of its own identity, so that RBAC
// holds it to its role.
func componentConfig(serverURL string, b *pki.Bundle, name string, groups []string, userAgent string, qps float32, burst int) (*rest.Config, error) {
	certPEM, keyPEM, err := b.IssueClient(name, groups)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", name, err)
	}
	return &rest.Config{
		Host:            serverURL,
		TLSClientConfig: rest.TLSClientConfig{CAData: b.CAPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             qps,
		Burst:           burst,
		UserAgent:       userAgent,
	}, nil
}
