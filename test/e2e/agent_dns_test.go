package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/test/images"
)

// TestAgentClusterDNS: a ClusterFirst pod resolves Services by short,
// namespaced and full name through the kube-dns Service, fetches from one
// by name, finds a headless Service's pods, a StatefulSet pod's stable
// name and an ExternalName's target, and names outside the cluster go to
// the host's resolver.
func TestAgentClusterDNS(t *testing.T) {
	n := startNode(t, nodeOptions{})
	client := n.server.client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dnsSvc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kube-dns Service: %v", err)
	}
	if dnsSvc.Spec.ClusterIP != "10.43.0.10" {
		t.Fatalf("kube-dns ClusterIP %s, want 10.43.0.10 (the 10th address of the service range)", dnsSvc.Spec.ClusterIP)
	}

	n.apply(t, `
apiVersion: v1
kind: Namespace
metadata: {name: dns}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: dns}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: bosun.test/testserver:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: dns}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: dns}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: dns}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: bosun.test/testserver:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: dns}
spec:
  type: ExternalName
  externalName: web.dns.svc.cluster.local
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: dns}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: bosun.test/busybox:1, command: ["sleep", "3600"]}
`)
	n.waitPod(t, "dns", "client", 2*time.Minute, podRunning)
	db := n.waitPod(t, "dns", "db-0", 2*time.Minute, podReady)
	web, err := client.CoreV1().Services("dns").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	webIP, dbIP := web.Spec.ClusterIP, db.Status.PodIP

	resolv := execIn(t, n, "dns", "client", "c", "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.43.0.10", "search dns.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("pod resolv.conf lacks %q:\n%s", want, resolv)
		}
	}

	// nslookup prints the address after the name it resolved.
	resolves := func(name, want string) {
		t.Helper()
		if err := eventually(time.Minute, time.Second, func() error {
			out := execIn(t, n, "dns", "client", "c", "nslookup", name)
			if !strings.Contains(out, "Address: "+want) {
				return fmt.Errorf("nslookup %s: want %s in:\n%s", name, want, out)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	// busybox's nslookup applies the search path to single-label names
	// only; the dotted partial names are checked with wget below, which
	// resolves through the C library (search path and ndots:5).
	resolves("web", webIP)
	resolves("web.dns.svc.cluster.local", webIP)
	resolves("db.dns.svc.cluster.local", dbIP)
	resolves("db-0.db.dns.svc.cluster.local", dbIP)
	resolves("alias.dns.svc.cluster.local", webIP)

	// By name, through the service proxy.
	fetches := func(url string, want ...string) {
		t.Helper()
		if err := eventually(time.Minute, time.Second, func() error {
			out := execIn(t, n, "dns", "client", "c", "timeout", "5", "wget", "-q", "-O-", url)
			for _, w := range want {
				if strings.Contains(out, w) {
					return nil
				}
			}
			return fmt.Errorf("wget %s: want one of %q in %s", url, want, out)
		}); err != nil {
			t.Error(err)
		}
	}
	fetches("http://web/hostname", "web-")
	fetches("http://web.dns/hostname", "web-")
	fetches("http://web.dns.svc.cluster.local/hostname", "web-")
	// kubernetes.default resolved if wget got as far as its address: the
	// API server answers plain HTTP with a 400, or (bound to loopback, as
	// the test server is) refuses the connection to its ClusterIP.
	fetches("http://kubernetes.default:443/", "400 Bad Request", "(10.43.0.1)")

	// A name outside the cluster is forwarded to the host's resolver. This
	// machine is offline and its resolver answers NXDOMAIN for every name,
	// so the check is that the cluster DNS relays that answer (not
	// authoritative, same rcode as the host's resolver gives) instead of
	// failing, as it does when no upstream answers.
	upstream, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(upstream.Servers) == 0 {
		t.Fatalf("host resolv.conf: %v", err)
	}
	direct, err := dnsExchange(net.JoinHostPort(upstream.Servers[0], upstream.Port), "example.com.")
	if err != nil {
		t.Fatalf("host resolver: %v", err)
	}
	if err := eventually(30*time.Second, time.Second, func() error {
		viaCluster, err := dnsExchange("10.43.0.10:53", "example.com.")
		if err != nil {
			return err
		}
		if viaCluster.Authoritative || viaCluster.Rcode != direct.Rcode || len(viaCluster.Answer) != len(direct.Answer) {
			return fmt.Errorf("via cluster DNS: aa=%v %s %d answers; host resolver: %s %d answers",
				viaCluster.Authoritative, mdns.RcodeToString[viaCluster.Rcode], len(viaCluster.Answer), mdns.RcodeToString[direct.Rcode], len(direct.Answer))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	out := execIn(t, n, "dns", "client", "c", "nslookup", "example.com.")
	if direct.Rcode == mdns.RcodeNameError && !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("nslookup example.com. in the pod: want the upstream's NXDOMAIN, got:\n%s", out)
	}

	// Deleting a Service removes its name.
	n.k(t, "-n", "dns", "delete", "service", "web")
	if err := eventually(30*time.Second, time.Second, func() error {
		out := execIn(t, n, "dns", "client", "c", "nslookup", "web.dns.svc.cluster.local")
		if !strings.Contains(out, "NXDOMAIN") {
			return fmt.Errorf("deleted service still resolves:\n%s", out)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestAgentJoinedClusterDNS: a `bosun agent` joined without --cluster-dns
// finds the kube-dns address itself, and its pods resolve through it.
func TestAgentJoinedClusterDNS(t *testing.T) {
	requireAgentHost(t)
	lockAgentHost(t)
	tarball := testImages(t)
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	dataDir := t.TempDir()
	n := &node{name: "dns-joined", dataDir: dataDir, t: t, server: s}
	a := startAgentProcess(t, "--server", s.url, "--token-file", filepath.Join(s.dataDir, "token"), "--data-dir", dataDir, "--node-name", n.name, "--agent-port", "0")
	t.Cleanup(func() {
		var sb []sandbox
		select {
		case <-a.done:
		default:
			sb = sandboxes(t, dataDir)
		}
		if err := a.signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		if err := a.wait(30 * time.Second); err != nil {
			t.Errorf("stopping the agent: %v", err)
			a.kill()
		}
		if t.Failed() {
			t.Logf("bosun agent output:\n%s", a.output.tail(8<<10))
		}
		uninstall(t, dataDir, n.bridge, sb)
	})
	if err := eventually(90*time.Second, 200*time.Millisecond, func() error {
		nd, err := s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && nd.Spec.PodCIDR != "" {
				cidr, err := netip.ParsePrefix(nd.Spec.PodCIDR)
				if err != nil {
					return err
				}
				n.bridge = agent.BridgeName(cidr)
				return nil
			}
		}
		return fmt.Errorf("node not Ready with a pod range: %+v", nd.Status.Conditions)
	}); err != nil {
		t.Fatalf("%v\nagent output:\n%s", err, a.output.tail(8<<10))
	}
	if code, stdout, stderr := runBosunFor(t, 2*time.Minute, "image", "import", "--data-dir", dataDir, tarball); code != 0 {
		t.Fatalf("bosun image import: exit %d\n%s%s", code, stdout, stderr)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "asker"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "c", Image: images.Busybox, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "3600"}}},
		},
	}
	if _, err := s.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitPod(t, "default", "asker", 90*time.Second, podRunning)
	if resolv := execIn(t, n, "default", "asker", "c", "cat", "/etc/resolv.conf"); !strings.Contains(resolv, "nameserver 10.43.0.10") ||
		!strings.Contains(resolv, "search default.svc.cluster.local svc.cluster.local cluster.local") {
		t.Errorf("pod resolv.conf on the joined node:\n%s", resolv)
	}
	if err := eventually(time.Minute, time.Second, func() error {
		out := execIn(t, n, "default", "asker", "c", "nslookup", "kubernetes")
		if !strings.Contains(out, "Address: 10.43.0.1") {
			return fmt.Errorf("nslookup kubernetes: %s", out)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if !strings.Contains(a.output.String(), "clusterIP=10.43.0.10") {
		t.Errorf("the agent did not say which cluster DNS it found:\n%s", a.output.tail(4<<10))
	}
}

// dnsExchange asks server for the A records of name over UDP.
func dnsExchange(server, name string) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, mdns.TypeA)
	c := &mdns.Client{Net: "udp", Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, fmt.Errorf("asking %s for %s: %w", server, name, err)
	}
	return r, nil
}
