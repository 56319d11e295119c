package server

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/atomicfile"
	"github.com/bosun-sh/bosun/internal/pki"
)

// maxJoinBody bounds a join request; two CSRs and a name fit in a few KiB.
const maxJoinBody = 64 << 10

// joinHandler serves the CA and signs node certificates for holders of
// the join token. A node's client identity is system:node:NAME in group
// system:nodes, as a kubelet's is.
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

// signJoin validates a join request and signs its certificates.
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
	client, err := b.SignCSR([]byte(req.ClientCSR), pkix.Name{CommonName: "system:node:" + req.NodeName, Organization: []string{"system:nodes"}}, pki.Names{}, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, fmt.Errorf("clientCSR: %w", err)
	}
	serving, err := b.SignCSR([]byte(req.ServingCSR), pkix.Name{CommonName: req.NodeName}, names, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("servingCSR: %w", err)
	}
	return &agent.JoinResponse{CA: string(b.CAPEM), ClientCert: string(client), ServingCert: string(serving)}, nil
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
