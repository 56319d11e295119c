package integration

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestClusterDNS checks that the server publishes itself as kube-dns and
// answers for Services created through the API.
func TestClusterDNS(t *testing.T) {
	ctx := testContext(t)
	s := testserver.Start(t, testserver.Options{Controllers: true, Configure: func(c *server.Config) {
		// A free port, so tests and a running server never collide.
		c.DNSPort = 0
		c.ClusterDNS = "10.43.0.53"
	}})
	client := s.Client

	var port int32
	pollUntil(t, 30*time.Second, "kube-dns Service, Endpoints and EndpointSlice", func() (bool, error) {
		svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if svc.Spec.ClusterIP != "10.43.0.53" || len(svc.Spec.Selector) != 0 || svc.Labels["k8s-app"] != "kube-dns" || len(svc.Spec.Ports) != 2 {
			return false, fmt.Errorf("service: clusterIP %s, selector %v, labels %v, ports %v", svc.Spec.ClusterIP, svc.Spec.Selector, svc.Labels, svc.Spec.Ports)
		}
		ep, err := client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || len(ep.Subsets[0].Ports) != 2 {
			return false, fmt.Errorf("endpoints: %+v", ep.Subsets)
		}
		port = ep.Subsets[0].Ports[0].Port
		for _, p := range svc.Spec.Ports {
			if p.Port != 53 || p.TargetPort != intstr.FromInt32(port) {
				return false, fmt.Errorf("service port %+v, want 53 -> %d", p, port)
			}
		}
		sl, err := client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if sl.Labels[discoveryv1.LabelServiceName] != "kube-dns" || sl.Labels[discoveryv1.LabelManagedBy] == "endpointslice-controller.k8s.io" ||
			len(sl.Endpoints) != 1 || sl.Endpoints[0].Addresses[0] != ep.Subsets[0].Addresses[0].IP || *sl.Ports[0].Port != port {
			return false, fmt.Errorf("endpointslice: labels %v, endpoints %+v", sl.Labels, sl.Endpoints)
		}
		return true, nil
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))

	ns := newNamespace(t, s)
	web, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := true
	pg, tcp, pgPort := "pg", corev1.ProtocolTCP, int32(5432)
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db", discoveryv1.LabelManagedBy: "test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.42.0.8"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
		},
		Ports: []discoveryv1.EndpointPort{{Name: &pg, Protocol: &tcp, Port: &pgPort}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "search"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "search.example.com"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		qtype uint16
		want  []string // answer records, rendered without TTL
	}{
		{"web." + ns + ".svc.cluster.local.", mdns.TypeA, []string{"A " + web.Spec.ClusterIP}},
		{"db." + ns + ".svc.cluster.local.", mdns.TypeA, []string{"A 10.42.0.7", "A 10.42.0.8"}},
		{"db-0.db." + ns + ".svc.cluster.local.", mdns.TypeA, []string{"A 10.42.0.8"}},
		{"_pg._tcp.db." + ns + ".svc.cluster.local.", mdns.TypeSRV, []string{"SRV 0 50 5432 10-42-0-7.db." + ns + ".svc.cluster.local.", "SRV 0 50 5432 db-0.db." + ns + ".svc.cluster.local."}},
		// Asked for the CNAME itself, so the answer does not depend on
		// reaching the host's resolver for the target.
		{"search." + ns + ".svc.cluster.local.", mdns.TypeCNAME, []string{"CNAME search.example.com."}},
		{"kube-dns.kube-system.svc.cluster.local.", mdns.TypeA, []string{"A 10.43.0.53"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pollUntil(t, 10*time.Second, tc.name, func() (bool, error) {
				got, rcode, err := dnsQuery(addr, tc.name, tc.qtype)
				if err != nil {
					return false, err
				}
				if rcode != mdns.RcodeSuccess || !slices.Equal(got, tc.want) {
					return false, fmt.Errorf("rcode %s, answers %q, want %q", mdns.RcodeToString[rcode], got, tc.want)
				}
				return true, nil
			})
		})
	}

	// Over TCP too, as resolvers retry there after a truncated answer.
	c := &mdns.Client{Net: "tcp", Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion("web."+ns+".svc.cluster.local.", mdns.TypeA)
	if r, _, err := c.ExchangeContext(ctx, m, addr); err != nil || len(r.Answer) != 1 {
		t.Fatalf("TCP query: %v %v", r, err)
	}

	if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "deleted service answers NXDOMAIN", func() (bool, error) {
		got, rcode, err := dnsQuery(addr, "web."+ns+".svc.cluster.local.", mdns.TypeA)
		if err != nil {
			return false, err
		}
		if rcode != mdns.RcodeNameError || len(got) != 0 {
			return false, fmt.Errorf("rcode %s, answers %q", mdns.RcodeToString[rcode], got)
		}
		return true, nil
	})
}

// TestClusterDNSAddressTaken checks that a --cluster-dns address held by
// another Service leaves the server up and serving.
func TestClusterDNSAddressTaken(t *testing.T) {
	ctx := testContext(t)
	s := testserver.Start(t, testserver.Options{Configure: func(c *server.Config) { c.DNSPort = 0 }})
	if err := s.Client.CoreV1().Services("kube-system").Delete(ctx, "kube-dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "squatter"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.43.0.10", Ports: []corev1.ServicePort{{Port: 53}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := s.DataDir
	s.Stop(t)
	s = testserver.Start(t, testserver.Options{DataDir: dir, Configure: func(c *server.Config) { c.DNSPort = 0 }})
	// The server is up; the API answers and kube-dns stays absent.
	time.Sleep(time.Second)
	if _, err := s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil {
		t.Fatal("kube-dns was created although its ClusterIP is taken")
	}
}

// dnsQuery asks addr over UDP and renders the answers as "TYPE rdata".
func dnsQuery(addr, name string, qtype uint16) ([]string, int, error) {
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		h := rr.Header()
		out = append(out, mdns.TypeToString[h.Rrtype]+" "+rr.String()[len(h.String()):])
	}
	slices.Sort(out)
	return out, r.Rcode, nil
}

// TestClusterDNSRestartIsQuiet checks that a restarted server finds the
// kube-dns objects as they should be and leaves them unwritten.
func TestClusterDNSRestartIsQuiet(t *testing.T) {
	ctx := testContext(t)
	conf := func(c *server.Config) { c.DNSPort = 0 }
	s := testserver.Start(t, testserver.Options{Configure: conf})
	versions := func() []string {
		svc, err1 := s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		ep, err2 := s.Client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		sl, err3 := s.Client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err1 != nil || err2 != nil || err3 != nil {
			return nil
		}
		return []string{svc.ResourceVersion, ep.ResourceVersion, sl.ResourceVersion}
	}
	var before []string
	pollUntil(t, 30*time.Second, "kube-dns objects", func() (bool, error) {
		before = versions()
		return before != nil, nil
	})
	// Port 0 gives the restart another port; pin the one it had.
	ep, err := s.Client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := int(ep.Subsets[0].Ports[0].Port)
	dir := s.DataDir
	s.Stop(t)
	s = testserver.Start(t, testserver.Options{DataDir: dir, Configure: func(c *server.Config) { c.DNSPort = port }})
	time.Sleep(2 * time.Second)
	if after := versions(); !slices.Equal(before, after) {
		t.Fatalf("resource versions of kube-dns Service, Endpoints, EndpointSlice: %v before the restart, %v after", before, after)
	}
}
