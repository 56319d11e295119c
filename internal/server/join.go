package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/atomicfile"
	"github.com/bosun-sh/bosun/internal/auth/authn"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/pki"
)

// maxJoinBody bounds a join request; a CSR and a name fit in a few KiB.
const maxJoinBody = 64 << 10

// joinHandler serves the CA and signs the serving certificate of an
// agent's own endpoint for holders of the join token. The agent's client
// certificate comes through a CertificateSigningRequest instead, made
// with the bootstrap token derived from the join token (TLS bootstrap).
func joinHandler(b *pki.Bundle, token pki.JoinToken, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case agent.JoinCAPath:
			if r.Method != http.MethodGet {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(b.CAPEM)
		case agent.JoinPath:
			serveJoin(w, r, b, token)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func serveJoin(w http.ResponseWriter, r *http.Request, b *pki.Bundle, token pki.JoinToken) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !token.SecretMatches(secret) {
		http.Error(w, "Unauthorized: a valid join token is required", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJoinBody+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxJoinBody {
		http.Error(w, "join request too large", http.StatusRequestEntityTooLarge)
		return
	}
	resp, err := signJoin(b, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// signJoin validates a join request and signs its serving certificate.
func signJoin(b *pki.Bundle, body []byte) (*agent.JoinResponse, error) {
	var req agent.JoinRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("join request: %w", err)
	}
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	if len(req.NodeIPs) == 0 || len(req.NodeIPs) > 16 {
		return nil, errors.New("nodeIPs: between 1 and 16 addresses are required")
	}
	names := pki.Names{DNS: []string{req.NodeName}}
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("nodeIPs: %q is not an IP address", s)
		}
		names.IPs = append(names.IPs, ip)
	}
	serving, err := b.SignCSR([]byte(req.ServingCSR), pkix.Name{CommonName: req.NodeName}, names, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("servingCSR: %w", err)
	}
	return &agent.JoinResponse{CA: string(b.CAPEM), ServingCert: string(serving)}, nil
}

// publishBootstrapToken makes sure the bootstrap token of the join token
// authenticates, through a loopback client of this server.
func publishBootstrapToken(ctx context.Context, serverURL string, b *pki.Bundle, tok pki.JoinToken) error {
	rc, err := componentConfig(serverURL, b, apiserverUser, []string{user.SystemPrivilegedGroup}, "bosun-server", 5, 10)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return ensureBootstrapToken(ctx, client, tok)
}

// ensureBootstrapToken keeps the kube-system Secret behind the bootstrap
// token derived from the join token, so that agents holding the join
// token can authenticate to ask for their client certificates. It never
// expires: it lasts as long as the join token does.
func ensureBootstrapToken(ctx context.Context, client kubernetes.Interface, tok pki.JoinToken) error {
	id, secret := tok.BootstrapToken()
	want := map[string][]byte{
		"token-id":                       []byte(id),
		"token-secret":                   []byte(secret),
		"usage-bootstrap-authentication": []byte("true"),
		"description":                    []byte("bosun agents joining with the join token (DATA_DIR/token)"),
	}
	secrets := client.CoreV1().Secrets(metav1.NamespaceSystem)
	name := authn.BootstrapTokenSecretPrefix + id
	cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem},
			Type:       corev1.SecretTypeBootstrapToken,
			Data:       want,
		}, metav1.CreateOptions{})
	case err == nil && (cur.Type != corev1.SecretTypeBootstrapToken || !maps.EqualFunc(cur.Data, want, bytes.Equal)):
		// A Secret's type cannot change: replace it.
		if err = secrets.Delete(ctx, name, metav1.DeleteOptions{}); err == nil || apierrors.IsNotFound(err) {
			return ensureBootstrapToken(ctx, client, tok)
		}
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap token %s: %w", id, err)
	}
	return nil
}

// ensureToken creates the agent join token once, and upgrades a token
// from before the CA hash was part of it, keeping its secret.
func ensureToken(path string, ca *x509.Certificate) (pki.JoinToken, error) {
	want := pki.CAHash(ca)
	if b, err := os.ReadFile(path); err == nil {
		if tok, err := pki.ParseJoinToken(string(b)); err == nil && tok.CAHash == want {
			return tok, nil
		}
		secret := strings.TrimSpace(string(b))
		if i := strings.LastIndexByte(secret, '.'); i >= 0 {
			secret = secret[i+1:]
		}
		if tok, err := pki.ParseJoinToken(pki.JoinToken{CAHash: want, Secret: secret}.String()); err == nil {
			return tok, writeToken(path, tok)
		}
	}
	buf := make([]byte, 24)
	if _, err := randRead(buf); err != nil {
		return pki.JoinToken{}, err
	}
	tok := pki.JoinToken{CAHash: want, Secret: fmt.Sprintf("%x", buf)}
	return tok, writeToken(path, tok)
}

func writeToken(path string, tok pki.JoinToken) error {
	if err := atomicfile.WriteFile(path, []byte(tok.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

var randRead = rand.Read
