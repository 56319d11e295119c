package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/apiserver"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/server"
)

func newAgentCommand(stderr io.Writer) *cobra.Command {
	var (
		serverURL, token, tokenFile, dataDir, nodeName, nodeIP, runtimeEndpoint, logLevel string
		clusterDNS, clusterDomain                                                         string
		port, ingressHTTP, ingressHTTPS                                                   int
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Join this machine to a cluster as a node and run its pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			if token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = string(b)
			}
			tok, err := pki.ParseJoinToken(token)
			if err != nil {
				return fmt.Errorf("--token: %w", err)
			}
			if serverURL == "" {
				return errors.New("--server is required (https://HOST:PORT of a bosun server)")
			}
			if nodeName == "" {
				nodeName = server.DefaultNodeName()
			}
			var ip net.IP
			if nodeIP != "" {
				if ip = net.ParseIP(nodeIP); ip == nil {
					return fmt.Errorf("--node-ip %q: not an IP address", nodeIP)
				}
			} else if ip, err = agent.OutboundIP(serverURL); err != nil {
				return fmt.Errorf("finding this node's address (set --node-ip): %w", err)
			}
			creds, err := agent.Join(cmd.Context(), serverURL, tok, dataDir, nodeName, []net.IP{ip})
			if err != nil {
				return err
			}
			rc := &rest.Config{
				Host:            serverURL,
				TLSClientConfig: rest.TLSClientConfig{CAData: creds.CAPEM, CertData: creds.ClientCertPEM, KeyData: creds.ClientKeyPEM},
				QPS:             50, Burst: 100,
				UserAgent: "bosun-agent/" + nodeName,
			}
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			serving, err := tls.X509KeyPair(creds.ServingCertPEM, creds.ServingKeyPEM)
			if err != nil {
				return fmt.Errorf("serving certificate: %w", err)
			}
			for _, p := range []struct {
				flag string
				port int
			}{{"--agent-port", port}, {"--ingress-http-port", ingressHTTP}, {"--ingress-https-port", ingressHTTPS}} {
				if p.port < 0 || p.port > 65535 {
					return fmt.Errorf("%s %d: must be between 0 and 65535", p.flag, p.port)
				}
			}
			var dnsServers []string
			if clusterDNS != "" {
				if net.ParseIP(clusterDNS) == nil {
					return fmt.Errorf("--cluster-dns %q: not an IP address", clusterDNS)
				}
				dnsServers = []string{clusterDNS}
			}
			cas := x509.NewCertPool()
			cas.AppendCertsFromPEM(creds.CAPEM)
			err = agent.Run(cmd.Context(), agent.Config{
				DataDir:          dataDir,
				NodeName:         nodeName,
				NodeIP:           ip.String(),
				Port:             port,
				RuntimeEndpoint:  runtimeEndpoint,
				ClusterDomain:    clusterDomain,
				ClusterDNS:       dnsServers,
				IngressHTTPPort:  ingressHTTP,
				IngressHTTPSPort: ingressHTTPS,
				Version:          apiserver.Version.GitVersion,
				Client:           client,
				ServingCert:      serving,
				ClientCAs:        cas,
				Log:              log,
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "URL of the cluster's API server (https://HOST:PORT)")
	f.StringVar(&token, "token", "", "join token: the content of DATA_DIR/token on the server")
	f.StringVar(&tokenFile, "token-file", "", "read the join token from this file")
	f.StringVar(&dataDir, "data-dir", "/var/lib/bosun", "directory for the node's state, containers and certificates")
	f.StringVar(&nodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&nodeIP, "node-ip", "", "address of this node (default: the one used to reach the server)")
	f.IntVar(&port, "agent-port", 10250, "HTTPS port for logs, exec and port-forward")
	f.StringVar(&runtimeEndpoint, "container-runtime-endpoint", "", "CRI socket of a running container runtime (default: start containerd under the data directory)")
	f.StringVar(&clusterDNS, "cluster-dns", "", "nameserver for ClusterFirst pods (default: the ClusterIP of kube-system/kube-dns)")
	f.StringVar(&clusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain, as the server's --cluster-domain")
	f.IntVar(&ingressHTTP, "ingress-http-port", 80, "port of the node's Ingress controller for HTTP (0: off)")
	f.IntVar(&ingressHTTPS, "ingress-https-port", 443, "port of the node's Ingress controller for HTTPS (0: off)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
