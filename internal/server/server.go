// Package server assembles the control plane: key material, etcd, the API
// server, the compactor and the built-in control loops, and runs them
// under one context until it ends.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-sh/bosun/internal/apiserver"
	"github.com/bosun-sh/bosun/internal/apiserver/openapi"
	"github.com/bosun-sh/bosun/internal/audit"
	"github.com/bosun-sh/bosun/internal/auth/serviceaccount"
	"github.com/bosun-sh/bosun/internal/encryption"
	"github.com/bosun-sh/bosun/internal/pki"
	"github.com/bosun-sh/bosun/internal/registry"
	"github.com/bosun-sh/bosun/internal/storage"
)

// Config is the server's configuration, filled from flags.
type Config struct {
	DataDir         string
	BindAddress     string
	Port            int
	DisableAgent    bool
	WriteKubeconfig string
	EtcdEndpoints   []string
	EtcdCAFile      string
	EtcdCertFile    string
	EtcdKeyFile     string
	NodeName        string
	ClusterCIDR     string
	ServiceCIDR     string
	ClusterDomain   string
	// ClusterDNS is the ClusterIP of the kube-dns Service pods resolve
	// through; the tenth address of ServiceCIDR when empty.
	ClusterDNS string
	// DNSPort is where the cluster DNS server listens, UDP and TCP, on all
	// addresses; 0 picks a free port.
	DNSPort      int
	IngressHTTP  int
	IngressHTTPS int
	// AgentPort is the node agent's HTTPS port (logs, exec, port-forward).
	AgentPort int
	// RuntimeEndpoint is an existing CRI socket for the agent to use
	// instead of starting its own containerd.
	RuntimeEndpoint string
	// CompactionInterval is how often history older than one interval is
	// compacted away.
	CompactionInterval time.Duration
	// DisableControllers turns off the built-in control loops (tests of
	// the bare API use it).
	DisableControllers bool
	// NodeMonitorGracePeriod is how long a node may go without a
	// heartbeat before it is marked Unknown and tainted unreachable.
	NodeMonitorGracePeriod time.Duration
	// DefaultTolerationSeconds is how long a pod with no toleration for
	// the unreachable or not-ready taint stays on such a node.
	DefaultTolerationSeconds int
	// MaxRequestsInflight and MaxMutatingRequestsInflight bound the
	// read-only and mutating requests served at once (429 beyond); 0
	// means the default, a negative number no bound.
	MaxRequestsInflight, MaxMutatingRequestsInflight int
	// AuditLogPath is where requests are recorded, JSON lines of
	// audit.k8s.io/v1 Events: DATA_DIR/audit.log when empty, standard
	// output for "-". AuditPolicyFile, when set, says what is recorded
	// (the default: every request at Metadata level, health checks
	// apart). The log is rotated at AuditLogMaxSizeMB, keeping
	// AuditLogMaxBackups old files.
	AuditLogPath, AuditPolicyFile         string
	AuditLogMaxSizeMB, AuditLogMaxBackups int
	// SecretsEncryptionKeyFile holds the keys Secrets are encrypted with
	// at rest; DATA_DIR/secrets-encryption.key, generated on first start,
	// when empty.
	SecretsEncryptionKeyFile string
	// TokenAuthFile, when set, holds static bearer tokens: CSV lines of
	// token,user,uid[,"group1,group2"], as kube-apiserver reads them.
	TokenAuthFile string
	// AuthorizationMode is "Node,RBAC" (the default, also when empty) or
	// "AlwaysAllow", which lets every authenticated request through and
	// exists to measure what authorization costs.
	AuthorizationMode string
	Logger            *slog.Logger
	// Ready, when set, is closed once the server accepts requests.
	Ready chan<- struct{}
}

// The authorization modes.
const (
	AuthorizationNodeRBAC    = "Node,RBAC"
	AuthorizationAlwaysAllow = "AlwaysAllow"
)

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		DataDir:                  "/var/lib/bosun",
		BindAddress:              "0.0.0.0",
		Port:                     6443,
		ClusterCIDR:              "10.42.0.0/16",
		ServiceCIDR:              "10.43.0.0/16",
		ClusterDomain:            "cluster.local",
		DNSPort:                  10053,
		IngressHTTP:              80,
		IngressHTTPS:             443,
		AuditLogMaxSizeMB:        100,
		AuditLogMaxBackups:       10,
		AgentPort:                10250,
		CompactionInterval:       5 * time.Minute,
		NodeMonitorGracePeriod:   40 * time.Second,
		DefaultTolerationSeconds: 300,
	}
}

// KubeconfigPath is where the admin kubeconfig is always written.
func KubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "kubeconfig.yaml") }

// Run starts the control plane and blocks until ctx ends, then shuts down
// gracefully: in-flight requests finish, watches end, etcd closes.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := Validate(&cfg); err != nil {
		return err
	}
	_, serviceNet, _ := net.ParseCIDR(cfg.ServiceCIDR)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// Listen first: the port is the one thing another process may hold.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w", cfg.BindAddress, cfg.Port, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	advertise := advertiseAddress(cfg.BindAddress)
	names := pki.DefaultNames(nthIP(serviceNet, 1))
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() {
		names.IPs = append(names.IPs, ip)
	}
	bundle, err := pki.Ensure(filepath.Join(cfg.DataDir, "tls"), names)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	token, err := ensureToken(filepath.Join(cfg.DataDir, "token"), bundle.CA)
	if err != nil {
		return err
	}

	// The API server reaches node agents (logs, exec, port-forward) as an
	// administrator, verifying their serving certificates against the CA.
	adminPair, err := tls.X509KeyPair(bundle.AdminCertPEM, bundle.AdminKeyPEM)
	if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	nodeTLS := &tls.Config{Certificates: []tls.Certificate{adminPair}, RootCAs: bundle.CAPool(), MinVersion: tls.VersionTLS12}

	// A bad key file stops the start before etcd is touched.
	secretsTransformer, err := loadSecretsEncryption(cfg, log)
	if err != nil {
		return err
	}
	client, closeEtcd, err := openEtcd(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeEtcd()
	store := storage.NewTransforming(client, secretsPrefix, secretsTransformer)
	if err := reencryptSecrets(ctx, store, secretsTransformer.Primary(), log); err != nil {
		return err
	}

	auditLog, auditPolicy, err := openAudit(cfg)
	if err != nil {
		return err
	}
	defer auditLog.Close()

	// Service account tokens outlive restarts, so their key is kept with
	// the certificates.
	saKey, err := serviceaccount.LoadOrCreateKey(filepath.Join(cfg.DataDir, "tls", "service-account.key"))
	if err != nil {
		return err
	}
	tokenIssuer, err := serviceaccount.NewIssuer(saKey, "https://kubernetes.default.svc."+cfg.ClusterDomain)
	if err != nil {
		return err
	}

	serverURL := "https://" + net.JoinHostPort(loopbackFor(cfg.BindAddress), strconv.Itoa(port))
	sec, err := newSecurity(serverURL, bundle, cfg, tokenIssuer)
	if err != nil {
		return err
	}

	kinds := registry.Kinds()
	docs, err := openapi.Build(kinds)
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	api := apiserver.New(apiserver.Config{
		Store:            store,
		Kinds:            kinds,
		ServiceCIDR:      serviceNet,
		NodePortMin:      30000,
		NodePortMax:      32767,
		AdvertiseAddress: advertise,
		Port:             port,
		OpenAPI:          openapiHandler(docs),
		Logger:           log,
		NodeTLS:          nodeTLS,

		MaxRequestsInflight:         cfg.MaxRequestsInflight,
		MaxMutatingRequestsInflight: cfg.MaxMutatingRequestsInflight,
		Audit:                       auditLog,
		AuditPolicy:                 auditPolicy,
		TokenIssuer:                 tokenIssuer,
		Authenticator:               sec.authenticator,
		TokenAuthenticator:          sec.tokens,
		Authorizer:                  sec.authorizerFor(cfg.AuthorizationMode),
		RuleResolver:                sec.rules,
		NodeRestriction:             sec.nodeWrites,
	})
	if err := bootstrap(ctx, api); err != nil {
		return err
	}

	for _, p := range []string{KubeconfigPath(cfg.DataDir), cfg.WriteKubeconfig} {
		if p == "" {
			continue
		}
		if err := pki.WriteKubeconfig(p, serverURL, bundle.CAPEM, bundle.AdminCertPEM, bundle.AdminKeyPEM); err != nil {
			return fmt.Errorf("kubeconfig %s: %w", p, err)
		}
	}

	srv := &http.Server{
		Handler:           joinHandler(bundle, token, api.Handler(bundle.CAPool())),
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{bundle.Serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    bundle.CAPool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()

	loops, cancelLoops := context.WithCancel(ctx)
	defer cancelLoops()
	sec.start(loops)
	sec.waitSynced(loops, log)
	// A stop asked for during start-up cancels this; that is a clean stop,
	// not a failure.
	if err := publishBootstrapToken(loops, serverURL, bundle, token); err != nil && loops.Err() == nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		compact(loops, store, cfg.CompactionInterval, log)
	}()
	if !cfg.DisableControllers {
		if err := startControllers(loops, &wg, serverURL, bundle, cfg, log); err != nil {
			return err
		}
		if err := startScheduler(loops, &wg, serverURL, bundle, log); err != nil {
			return err
		}
	}
	if err := startDNS(loops, &wg, serverURL, bundle, cfg, advertise, log); err != nil {
		return err
	}
	if !cfg.DisableAgent {
		if err := startAgent(loops, &wg, serverURL, bundle, cfg, advertise, log); err != nil {
			return err
		}
	}
	// Start-up (certificates, OpenAPI documents) leaves garbage behind;
	// hand it back to the OS so an idle server stays small.
	debug.FreeOSMemory()
	log.Info("bosun server ready", "url", serverURL, "kubeconfig", KubeconfigPath(cfg.DataDir))
	if cfg.Ready != nil {
		close(cfg.Ready)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancelLoops()
		wg.Wait()
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("shutting down")
	cancelLoops()
	// The loops hand back their leader leases on the way out, which needs
	// the API still serving; otherwise the next start waits for the
	// leases to expire before it schedules anything.
	loopsDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(loopsDone)
	}()
	select {
	case <-loopsDone:
	case <-time.After(10 * time.Second):
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api.Shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-loopsDone
	return nil
}

// Validate checks the configuration and fills in defaults for zero values.
func Validate(cfg *Config) error {
	if cfg.Port < 0 || cfg.Port > 65535 {
		return fmt.Errorf("--https-listen-port %d: must be between 0 and 65535", cfg.Port)
	}
	if net.ParseIP(cfg.BindAddress) == nil {
		return fmt.Errorf("--bind-address %q: not an IP address", cfg.BindAddress)
	}
	for flag, v := range map[string]string{"--service-cidr": cfg.ServiceCIDR, "--cluster-cidr": cfg.ClusterCIDR} {
		ip, n, err := net.ParseCIDR(v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", flag, v, err)
		}
		if ones, bits := n.Mask.Size(); bits-ones < 4 || !ip.Equal(n.IP) {
			return fmt.Errorf("%s %q: must be a network address with at least 16 addresses", flag, v)
		}
	}
	switch cfg.AuthorizationMode {
	case "":
		cfg.AuthorizationMode = AuthorizationNodeRBAC
	case AuthorizationNodeRBAC, AuthorizationAlwaysAllow:
	default:
		return fmt.Errorf("--authorization-mode %q: must be %s or %s", cfg.AuthorizationMode, AuthorizationNodeRBAC, AuthorizationAlwaysAllow)
	}
	_, serviceNet, _ := net.ParseCIDR(cfg.ServiceCIDR)
	if cfg.ClusterDNS == "" {
		cfg.ClusterDNS = nthIP(serviceNet, 10).String()
	}
	if ip := net.ParseIP(cfg.ClusterDNS); ip == nil || !serviceNet.Contains(ip) {
		return fmt.Errorf("--cluster-dns %q: must be an address in --service-cidr %s", cfg.ClusterDNS, cfg.ServiceCIDR)
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--dns-port", cfg.DNSPort}, {"--ingress-http-port", cfg.IngressHTTP}, {"--ingress-https-port", cfg.IngressHTTPS}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s %d: must be between 0 and 65535", p.flag, p.port)
		}
	}
	if cfg.IngressHTTP != 0 && cfg.IngressHTTP == cfg.IngressHTTPS {
		return fmt.Errorf("--ingress-http-port and --ingress-https-port are both %d", cfg.IngressHTTP)
	}
	if cfg.CompactionInterval <= 0 {
		cfg.CompactionInterval = 5 * time.Minute
	}
	if cfg.NodeMonitorGracePeriod < 0 {
		return fmt.Errorf("--node-monitor-grace-period %s: must not be negative", cfg.NodeMonitorGracePeriod)
	}
	if cfg.NodeMonitorGracePeriod == 0 {
		cfg.NodeMonitorGracePeriod = 40 * time.Second
	}
	if cfg.DefaultTolerationSeconds < 0 {
		return fmt.Errorf("--default-toleration-seconds %d: must not be negative", cfg.DefaultTolerationSeconds)
	}
	if cfg.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	return nil
}

// secretsPrefix is where Secrets are stored; values under it are
// encrypted at rest.
const secretsPrefix = "/registry/core/secrets/"

// openAudit opens the audit log and reads the audit policy cfg names.
func openAudit(cfg Config) (*audit.Logger, *audit.Policy, error) {
	policy := audit.DefaultPolicy()
	if cfg.AuditPolicyFile != "" {
		p, err := audit.LoadPolicyFile(cfg.AuditPolicyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--audit-policy-file: %w", err)
		}
		policy = p
	}
	path := cfg.AuditLogPath
	if path == "" {
		path = filepath.Join(cfg.DataDir, "audit.log")
	}
	l, err := audit.New(path, cfg.AuditLogMaxSizeMB, cfg.AuditLogMaxBackups)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	return l, policy, nil
}

// SecretsEncryptionKeyFile is the key file cfg uses.
func SecretsEncryptionKeyFile(cfg Config) string {
	if cfg.SecretsEncryptionKeyFile != "" {
		return cfg.SecretsEncryptionKeyFile
	}
	return filepath.Join(cfg.DataDir, encryption.DefaultKeyFile)
}

func loadSecretsEncryption(cfg Config, log *slog.Logger) (*encryption.Transformer, error) {
	path := SecretsEncryptionKeyFile(cfg)
	var keys []encryption.Key
	var err error
	if cfg.SecretsEncryptionKeyFile != "" {
		// A key file named by the operator is never made up: a typo
		// would otherwise encrypt under a key nobody keeps.
		keys, err = encryption.ReadKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--secrets-encryption-key-file: %w (bosun secrets-encrypt rotate --secrets-encryption-key-file %s writes a new one)", err, path)
		}
	} else {
		var created bool
		keys, created, err = encryption.LoadOrCreate(path)
		if created {
			log.Info("generated the secrets encryption key", "file", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--secrets-encryption-key-file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("the secrets encryption key file is readable by other users; it should be mode 0600", "file", path, "mode", st.Mode().Perm().String())
	}
	return encryption.NewTransformer(keys)
}

// reencryptSecrets seals every Secret not yet under the primary key
// (plain text from before encryption, or an older key after a rotation),
// retrying while etcd is still electing a leader. A Secret under a key
// missing from the key file stops the start.
func reencryptSecrets(ctx context.Context, store *storage.Store, primary string, log *slog.Logger) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := store.RewriteStale(ctx)
		if n > 0 {
			log.Info("re-encrypted secrets", "count", n, "key", primary)
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, encryption.ErrUnknownKey) || errors.Is(err, encryption.ErrCorrupt) {
			return fmt.Errorf("secrets encryption: %w (is the key file the one this cluster's Secrets were written with?)", err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("re-encrypting secrets: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// bootstrap creates the cluster's fixed objects, retrying while etcd is
// still electing a leader.
func bootstrap(ctx context.Context, api *apiserver.Server) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := api.Bootstrap(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func openEtcd(ctx context.Context, cfg Config) (*clientv3.Client, func(), error) {
	if len(cfg.EtcdEndpoints) == 0 {
		e, err := storage.StartEmbedded(ctx, filepath.Join(cfg.DataDir, "etcd"))
		if err != nil {
			return nil, nil, err
		}
		return e.Client, e.Close, nil
	}
	var tlsCfg *tls.Config
	if cfg.EtcdCAFile != "" || cfg.EtcdCertFile != "" {
		var err error
		tlsCfg, err = pki.ClientTLS(cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("etcd TLS: %w", err)
		}
	}
	c, err := storage.Dial(ctx, cfg.EtcdEndpoints, tlsCfg)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// compact discards etcd history older than one interval, as the
// Kubernetes API server does: each tick compacts to the revision seen at
// the previous tick.
func compact(ctx context.Context, store *storage.Store, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, err := store.Rev(ctx)
		if err != nil {
			continue
		}
		if last > 0 {
			if err := store.Compact(ctx, last); err != nil && ctx.Err() == nil {
				log.Warn("compaction failed", "revision", last, "err", err)
			}
		}
		last = rev
	}
}

// advertiseAddress is the address other nodes and pods reach the API
// server at: the bind address if specific, else the host's first
// non-loopback address.
func advertiseAddress(bind string) net.IP {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return ip
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() && n.IP.To4() != nil {
				return n.IP
			}
		}
	}
	return net.ParseIP("127.0.0.1")
}

func loopbackFor(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return bind
	}
	return "127.0.0.1"
}

func nthIP(n *net.IPNet, i byte) net.IP {
	ip := append(net.IP(nil), n.IP.To4()...)
	if ip == nil {
		ip = append(net.IP(nil), n.IP...)
	}
	ip[len(ip)-1] += i
	return ip
}
