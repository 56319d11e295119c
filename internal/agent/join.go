package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bosun-sh/bosun/internal/atomicfile"
	"github.com/bosun-sh/bosun/internal/pki"
)

// Paths of the join protocol, served next to the Kubernetes API on the
// same port. The CA is public; the join call, which signs the agent's
// serving certificate, needs the token's secret. The agent's client
// certificate comes from a CertificateSigningRequest (see
// requestClientCertificate).
const (
	JoinCAPath = "/bosun/v1/ca"
	JoinPath   = "/bosun/v1/join"
)

// Credentials are a node's identity in the cluster: the cluster CA, a
// client certificate for the API (system:node:NAME) and a serving
// certificate for the agent's own endpoint.
type Credentials struct {
	CAPEM                         []byte
	ClientCertPEM, ClientKeyPEM   []byte
	ServingCertPEM, ServingKeyPEM []byte
}

// JoinRequest is what an agent sends to join: its node name and
// addresses and a certificate request for its own HTTPS endpoint.
type JoinRequest struct {
	NodeName   string   `json:"nodeName"`
	NodeIPs    []string `json:"nodeIPs"`
	ServingCSR string   `json:"servingCSR"`
}

// JoinResponse carries the signed serving certificate and the cluster CA.
type JoinResponse struct {
	CA          string `json:"ca"`
	ServingCert string `json:"servingCert"`
}

// joinTimeout bounds a join, which waits for the server to approve and
// sign the node's client certificate.
const joinTimeout = 90 * time.Second

var credentialFiles = []string{"ca.crt", "client.crt", "client.key", "serving.crt", "serving.key"}

// Join returns the node's credentials: those saved under dataDir by an
// earlier join to the same cluster, or new ones from the server. The
// server is trusted only if its CA's key hash is the token's.
func Join(ctx context.Context, server string, token pki.JoinToken, dataDir, nodeName string, nodeIPs []net.IP) (*Credentials, error) {
	dir := filepath.Join(Dir(dataDir), "pki")
	if c, err := loadCredentials(dir); err == nil && caMatches(c.CAPEM, token.CAHash) {
		return c, nil
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: must be an https:// URL", server)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()

	// The CA is public; fetch it without trusting anything yet, then
	// check it against the hash in the token.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	caPEM, err := fetch(ctx, insecure, http.MethodGet, strings.TrimRight(server, "/")+JoinCAPath, nil, "")
	if err != nil {
		return nil, fmt.Errorf("fetching the cluster CA from %s: %w", server, err)
	}
	if !caMatches(caPEM, token.CAHash) {
		return nil, fmt.Errorf("the server at %s does not have the CA named in the join token: refusing to send it the token", server)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	trusted := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	// The serving certificate first: the server checks the join secret
	// there and says so plainly when it is wrong.
	servingKey, servingCSR, err := pki.NewCSR()
	if err != nil {
		return nil, err
	}
	req := JoinRequest{NodeName: nodeName, ServingCSR: string(servingCSR)}
	for _, ip := range nodeIPs {
		req.NodeIPs = append(req.NodeIPs, ip.String())
	}
	body, _ := json.Marshal(req)
	out, err := fetch(ctx, trusted, http.MethodPost, strings.TrimRight(server, "/")+JoinPath, body, token.Secret)
	if err != nil {
		return nil, fmt.Errorf("joining %s: %w", server, err)
	}
	var resp JoinResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("joining %s: reading the answer: %w", server, err)
	}
	clientKey, clientCert, err := requestClientCertificate(ctx, server, caPEM, token, nodeName)
	if err != nil {
		return nil, fmt.Errorf("joining %s: the node's client certificate: %w", server, err)
	}
	c := &Credentials{
		CAPEM:          []byte(resp.CA),
		ClientCertPEM:  clientCert,
		ClientKeyPEM:   clientKey,
		ServingCertPEM: []byte(resp.ServingCert),
		ServingKeyPEM:  servingKey,
	}
	if !caMatches(c.CAPEM, token.CAHash) {
		return nil, errors.New("joining: the server answered with a different CA")
	}
	if err := saveCredentials(dir, c); err != nil {
		return nil, err
	}
	return c, nil
}

func fetch(ctx context.Context, hc *http.Client, method, url string, body []byte, bearer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func caMatches(caPEM []byte, hash string) bool {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return false
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	return err == nil && pki.CAHash(ca) == hash
}

func loadCredentials(dir string) (*Credentials, error) {
	var data [5][]byte
	for i, f := range credentialFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		data[i] = b
	}
	return &Credentials{CAPEM: data[0], ClientCertPEM: data[1], ClientKeyPEM: data[2], ServingCertPEM: data[3], ServingKeyPEM: data[4]}, nil
}

func saveCredentials(dir string, c *Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, b := range [][]byte{c.CAPEM, c.ClientCertPEM, c.ClientKeyPEM, c.ServingCertPEM, c.ServingKeyPEM} {
		if err := atomicfile.WriteFile(filepath.Join(dir, credentialFiles[i]), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// OutboundIP is the local address this machine uses to reach server: the
// node's address as the cluster sees it.
func OutboundIP(server string) (net.IP, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), "443"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP, nil
}
