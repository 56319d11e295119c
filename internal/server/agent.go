package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/apiserver"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/pki"
)

// startAgent runs this machine's node agent as an API client of this
// server, as a separately started `bosun agent` would.
func startAgent(ctx context.Context, wg *sync.WaitGroup, serverURL string, b *pki.Bundle, cfg Config, nodeIP net.IP, log *slog.Logger) error {
	name := cfg.NodeName
	if name == "" {
		name = DefaultNodeName()
	}
	// The agent is a node like any joined one, and acts as that node.
	rc, err := componentConfig(serverURL, b, user.NodeUserPrefix+name, []string{user.NodesGroup}, "bosun-agent", 50, 100)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	cert, err := b.IssueServing(name, pki.Names{DNS: []string{name, hostname, "localhost"}, IPs: []net.IP{nodeIP, net.ParseIP("127.0.0.1")}})
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := agent.Run(ctx, agent.Config{
			DataDir:          cfg.DataDir,
			NodeName:         name,
			NodeIP:           nodeIP.String(),
			Port:             cfg.AgentPort,
			RuntimeEndpoint:  cfg.RuntimeEndpoint,
			ClusterDomain:    cfg.ClusterDomain,
			ClusterDNS:       []string{cfg.ClusterDNS},
			IngressHTTPPort:  cfg.IngressHTTP,
			IngressHTTPSPort: cfg.IngressHTTPS,
			Version:          apiserver.Version.GitVersion,
			Client:           client,
			ServingCert:      cert,
			ClientCAs:        b.CAPool(),
			Log:              log,
		})
		if err != nil && ctx.Err() == nil {
			log.Error("node agent stopped", "err", err)
		}
	}()
	return nil
}

// DefaultNodeName is the host name, lower-cased as node names must be.
func DefaultNodeName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "bosun-node"
	}
	return strings.ToLower(h)
}
