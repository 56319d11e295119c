package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-sh/bosun/internal/apiserver"
	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/simnode"
)

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "bosun",
		Short:         "A Kubernetes-compatible container orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServerCommand(stderr), newAgentCommand(stderr), newUninstallCommand(stderr), newSimNodesCommand(stderr), newImageCommand(stdout, stderr), newSecretsEncryptCommand(stdout), newVersionCommand(stdout))
	return root
}

func newServerCommand(stderr io.Writer) *cobra.Command {
	cfg := server.Defaults()
	var etcd string
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server on etcd) and, unless disabled, a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			if etcd != "" {
				cfg.EtcdEndpoints = strings.Split(etcd, ",")
			}
			if err := server.Validate(&cfg); err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for state, certificates and the admin kubeconfig")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API server listens on")
	f.IntVar(&cfg.Port, "https-listen-port", cfg.Port, "HTTPS port of the API server")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run the control plane only")
	f.StringVar(&cfg.WriteKubeconfig, "write-kubeconfig", "", "also write the admin kubeconfig to this path")
	f.StringVar(&etcd, "etcd-endpoints", "", "comma-separated URLs of an external etcd cluster (default: embedded etcd)")
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle for the external etcd")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "pod network range")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "service ClusterIP range")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", cfg.ClusterDomain, "cluster DNS domain")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", "", "ClusterIP of the kube-dns Service pods resolve names through (default: the 10th address of --service-cidr)")
	f.IntVar(&cfg.DNSPort, "dns-port", cfg.DNSPort, "UDP and TCP port the cluster DNS server listens on, on all addresses")
	f.IntVar(&cfg.IngressHTTP, "ingress-http-port", cfg.IngressHTTP, "port of the node's Ingress controller for HTTP (0: off)")
	f.IntVar(&cfg.IngressHTTPS, "ingress-https-port", cfg.IngressHTTPS, "port of the node's Ingress controller for HTTPS (0: off)")
	f.DurationVar(&cfg.CompactionInterval, "etcd-compaction-interval", cfg.CompactionInterval, "how often etcd history older than one interval is compacted")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", cfg.NodeMonitorGracePeriod, "how long a node may miss heartbeats before it is marked Unknown and tainted unreachable")
	f.IntVar(&cfg.DefaultTolerationSeconds, "default-toleration-seconds", cfg.DefaultTolerationSeconds, "how long pods without a toleration stay on an unreachable or not-ready node before eviction")
	f.IntVar(&cfg.AgentPort, "agent-port", cfg.AgentPort, "HTTPS port of the node agent (logs, exec, port-forward)")
	f.IntVar(&cfg.MaxRequestsInflight, "max-requests-inflight", apiserver.DefaultMaxRequestsInflight, "read-only requests served at once, watches and streams apart; beyond it 429 (negative: no bound)")
	f.IntVar(&cfg.MaxMutatingRequestsInflight, "max-mutating-requests-inflight", apiserver.DefaultMaxMutatingRequestsInflight, "mutating requests served at once; beyond it 429 (negative: no bound)")
	f.StringVar(&cfg.AuditLogPath, "audit-log-path", "", "audit log, JSON lines of audit.k8s.io/v1 Events; - for standard output (default: DATA_DIR/audit.log)")
	f.StringVar(&cfg.AuditPolicyFile, "audit-policy-file", "", "audit.k8s.io/v1 Policy saying what is recorded at which level (default: every request at Metadata, health checks apart)")
	f.IntVar(&cfg.AuditLogMaxSizeMB, "audit-log-maxsize", cfg.AuditLogMaxSizeMB, "size in MiB at which the audit log is rotated")
	f.IntVar(&cfg.AuditLogMaxBackups, "audit-log-maxbackup", cfg.AuditLogMaxBackups, "rotated audit logs kept")
	f.StringVar(&cfg.AuthorizationMode, "authorization-mode", server.AuthorizationNodeRBAC, "Node,RBAC, or AlwaysAllow to let every authenticated request through (for measuring what authorization costs; never in production)")
	f.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", "static bearer tokens, CSV lines of token,user,uid[,\"group1,group2\"]")
	f.StringVar(&cfg.SecretsEncryptionKeyFile, "secrets-encryption-key-file", "", "key file Secrets are encrypted at rest with, NAME:BASE64 lines, the first key encrypting (default: DATA_DIR/secrets-encryption.key, generated on first start)")
	f.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "CRI socket of a running container runtime (default: start containerd under the data directory)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func newSimNodesCommand(stderr io.Writer) *cobra.Command {
	cfg := simnode.Defaults()
	var kubeconfig, cpu, memory string
	cmd := &cobra.Command{
		Use:   "sim-nodes",
		Short: "Register simulated nodes that run pods without containers (for scale tests)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.CPU, err = resource.ParseQuantity(cpu); err != nil {
				return fmt.Errorf("--cpu %q: %w", cpu, err)
			}
			if cfg.Memory, err = resource.ParseQuantity(memory); err != nil {
				return fmt.Errorf("--memory %q: %w", memory, err)
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig %q: %w", kubeconfig, err)
			}
			// Every node writes a lease each heartbeat: thousands of
			// nodes need far more than client-go's default 5 QPS.
			rc.QPS, rc.Burst = 5000, 10000
			rc.UserAgent = "bosun-sim-nodes"
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			sim, err := simnode.New(client, cfg)
			if err != nil {
				return err
			}
			cfg.Log.Info("running simulated nodes", "count", cfg.Count, "prefix", cfg.NamePrefix)
			err = sim.Run(cmd.Context())
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to join")
	f.IntVar(&cfg.Count, "count", cfg.Count, "number of nodes")
	f.StringVar(&cpu, "cpu", cfg.CPU.String(), "CPU capacity of each node")
	f.StringVar(&memory, "memory", cfg.Memory.String(), "memory capacity of each node")
	f.IntVar(&cfg.Pods, "pods", cfg.Pods, "pod capacity of each node")
	f.StringVar(&cfg.NamePrefix, "name-prefix", cfg.NamePrefix, "node names are this prefix and an index")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "how often each node renews its lease")
	f.IntVar(&cfg.Zones, "zones", cfg.Zones, "spread the nodes round-robin over this many zones (label topology.kubernetes.io/zone=zone-N); 0 for none")
	_ = cmd.MarkFlagRequired("kubeconfig")
	_ = cmd.MarkFlagRequired("count")
	return cmd
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "bosun %s (Kubernetes API %s.%s, %s, %s)\n", buildVersion, apiserver.Version.Major, apiserver.Version.Minor, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
			return err
		},
	}
}

// buildVersion is set at link time (-X main.buildVersion=...).
var buildVersion = "dev"
