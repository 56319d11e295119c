// Package agent runs a node: it starts (or connects to) the container
// runtime, makes the images the node needs available without a registry,
// registers the Node, configures the pod network from the node's pod
// range, serves logs and streaming to the API server, and runs the kubelet
// until its context ends.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent/image"
	"github.com/bosun-sh/bosun/internal/agent/ingress"
	"github.com/bosun-sh/bosun/internal/agent/kubelet"
	"github.com/bosun-sh/bosun/internal/agent/proxy"
	"github.com/bosun-sh/bosun/internal/agent/runtime"
	agentserver "github.com/bosun-sh/bosun/internal/agent/server"
)

// Config is an agent's configuration.
type Config struct {
	// DataDir is the node's data directory; the agent keeps everything
	// under DataDir/agent.
	DataDir  string
	NodeName string
	// NodeIP is the address the node is reached at.
	NodeIP string
	// Port is the agent's HTTPS port for logs and streaming (10250).
	Port int
	// RuntimeEndpoint, when set, is an existing CRI socket to use instead
	// of starting containerd.
	RuntimeEndpoint string
	ClusterDomain   string
	// ClusterDNS are the nameservers of ClusterFirst pods; when empty the
	// agent uses the ClusterIP of kube-system/kube-dns.
	ClusterDNS []string
	// IngressHTTPPort and IngressHTTPSPort are where the node's Ingress
	// controller listens, on all addresses; 0 turns that listener off.
	IngressHTTPPort, IngressHTTPSPort int
	Labels                            map[string]string
	Version                           string
	Client                            kubernetes.Interface
	// ServingCert and ClientCAs secure the agent's HTTPS endpoint: the
	// API server must present a certificate from ClientCAs.
	ServingCert tls.Certificate
	ClientCAs   *x509.CertPool
	Log         *slog.Logger
}

// Dir is the agent's directory under a data directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// ImagesDir holds image tarballs imported when the agent starts.
func ImagesDir(dataDir string) string { return filepath.Join(Dir(dataDir), "images") }

// ContainerdDir holds the supervised containerd's files and socket.
func ContainerdDir(dataDir string) string { return filepath.Join(Dir(dataDir), "containerd") }

// Run runs the node until ctx ends. Containers keep running after it
// returns; the next Run adopts them.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "agent")
	dir := Dir(cfg.DataDir)
	for _, d := range []string{dir, ImagesDir(cfg.DataDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("agent directory: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// Listen first: the port is reported in the Node's status.
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("agent port: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	endpoint := cfg.RuntimeEndpoint
	own := endpoint == ""
	cniConfDir := filepath.Join(dir, "cni", "net.d")
	if own {
		cd := runtime.NewContainerd(runtime.Options{
			Paths:               runtime.Paths{Dir: ContainerdDir(cfg.DataDir), CNIConfDir: cniConfDir, CNIBinDirs: runtime.DefaultCNIBinDirs},
			SandboxImage:        image.PauseImage,
			RestrictOOMScoreAdj: !runtime.CanLowerOOMScore(),
		}, log)
		done, err := cd.Start(ctx)
		if err != nil {
			return err
		}
		defer func() { cancel(); <-done }()
		endpoint = runtime.Socket(ContainerdDir(cfg.DataDir))
		if err := image.EnsurePause(ctx, endpoint, ContainerdDir(cfg.DataDir)); err != nil {
			return fmt.Errorf("sandbox image: %w", err)
		}
		if err := image.ImportDir(ctx, endpoint, ImagesDir(cfg.DataDir)); err != nil {
			// A bad tarball must not keep the node down; say which.
			log.Error("importing images", "dir", ImagesDir(cfg.DataDir), "err", err)
		}
	}
	conn, err := runtime.Dial(endpoint)
	if err != nil {
		return fmt.Errorf("container runtime %s: %w", endpoint, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	images := runtimeapi.NewImageServiceClient(conn)

	clusterDNS := cfg.ClusterDNS
	if len(clusterDNS) == 0 {
		clusterDNS = discoverClusterDNS(ctx, cfg.Client, 30*time.Second, log)
	}
	k := kubelet.New(kubelet.Config{
		NodeName:      cfg.NodeName,
		NodeIP:        cfg.NodeIP,
		Port:          port,
		RootDir:       dir,
		Labels:        cfg.Labels,
		Version:       cfg.Version,
		ClusterDomain: cfg.ClusterDomain,
		ClusterDNS:    clusterDNS,
	}, cfg.Client, rt, images, log)
	node, err := k.Register(ctx)
	if err != nil {
		return err
	}
	if own {
		cidr, err := waitPodCIDR(ctx, cfg.Client, node)
		if err != nil {
			return err
		}
		if err := writeCNIConfig(cniConfDir, cidr); err != nil {
			return err
		}
		if err := ensureMasquerade(cidr); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
		log.Info("pod network configured", "podCIDR", cidr.String(), "bridge", BridgeName(cidr))
	}
	if ip, err := netip.ParseAddr(cfg.NodeIP); err == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := proxy.Run(ctx, cfg.Client, cfg.NodeName, []netip.Addr{ip}, log.With("component", "proxy")); err != nil && ctx.Err() == nil {
				log.Error("service proxy stopped", "err", err)
			}
		}()
	}
	if cfg.IngressHTTPPort != 0 || cfg.IngressHTTPSPort != 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runIngress(ctx, cfg, log)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := agentserver.New(k, rt, log)
		if err := agentserver.Serve(ctx, ln, h, cfg.ServingCert, cfg.ClientCAs); err != nil && ctx.Err() == nil {
			log.Error("agent endpoint stopped", "err", err)
			cancel()
		}
	}()
	log.Info("node agent running", "node", cfg.NodeName, "runtime", endpoint)
	return k.Run(ctx)
}

// runIngress serves the cluster's Ingresses of the default class on the
// node's ingress ports until ctx ends. A port taken by another program
// costs the node its Ingress controller, not its pods: the failure is
// logged and the agent goes on.
func runIngress(ctx context.Context, cfg Config, log *slog.Logger) {
	addr := func(port int) string {
		if port == 0 {
			return ""
		}
		return ":" + strconv.Itoa(port)
	}
	var status []netip.Addr
	if ip, err := netip.ParseAddr(cfg.NodeIP); err == nil {
		status = append(status, ip)
	}
	err := ingress.Run(ctx, cfg.Client, ingress.Config{
		HTTPAddr:        addr(cfg.IngressHTTPPort),
		HTTPSAddr:       addr(cfg.IngressHTTPSPort),
		StatusAddresses: status,
		Logger:          log,
	})
	if err != nil && ctx.Err() == nil {
		log.Error("Ingresses are not served on this node; free the port or choose another with --ingress-http-port / --ingress-https-port", "err", err)
	}
}

// discoverClusterDNS reads the ClusterIP of kube-system/kube-dns, which
// the server creates at start, waiting up to patience for it. Without it
// ClusterFirst pods use the host's resolver, as the kubelet does when no
// cluster DNS is configured.
func discoverClusterDNS(ctx context.Context, client kubernetes.Interface, patience time.Duration, log *slog.Logger) []string {
	deadline := time.Now().Add(patience)
	for {
		svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err == nil {
			if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil {
				log.Info("cluster DNS", "service", "kube-system/kube-dns", "clusterIP", ip.String())
				return []string{ip.String()}
			}
			err = fmt.Errorf("kube-system/kube-dns has no ClusterIP (%q)", svc.Spec.ClusterIP)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			log.Warn("no cluster DNS: ClusterFirst pods use the host's resolver; set --cluster-dns", "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// waitPodCIDR waits until the node has been given a pod range.
func waitPodCIDR(ctx context.Context, client kubernetes.Interface, node *corev1.Node) (netip.Prefix, error) {
	for {
		if node != nil && node.Spec.PodCIDR != "" {
			p, err := netip.ParsePrefix(node.Spec.PodCIDR)
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("node %s: pod range %q: %w", node.Name, node.Spec.PodCIDR, err)
			}
			return p, nil
		}
		select {
		case <-ctx.Done():
			return netip.Prefix{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		n, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err == nil {
			node = n
		}
	}
}
