package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// testNode is the node testNetns sets up.
var testNode = Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}

// testNetns creates a network namespace with lo up and a veth pair whose
// end veth0 holds the node address 10.0.0.1 and the endpoint addresses
// 10.0.0.2 and 10.0.0.3, points nft into it, and removes it all when the
// test ends.
func testNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("requires nft")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "bosun-proxytest-" + hex.EncodeToString(b)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run("-n", name, "link", "set", "lo", "up")
	run("-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	run("-n", name, "addr", "add", "10.0.0.1/24", "dev", "veth0")
	run("-n", name, "addr", "add", "10.0.0.2/24", "dev", "veth0")
	run("-n", name, "addr", "add", "10.0.0.3/24", "dev", "veth0")
	run("-n", name, "link", "set", "veth0", "up")
	// ClusterIPs need a route, or connect fails before nft sees a packet.
	run("-n", name, "route", "add", "10.96.0.0/16", "dev", "veth0")

	saved := nftCommand
	nftCommand = []string{"ip", "netns", "exec", name, "nft"}
	t.Cleanup(func() { nftCommand = saved })
	return name
}

// inNetns runs f on a thread moved into the namespace, so sockets f
// opens belong to it; the thread moves back before it is released.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	runtime.LockOSThread()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	f()
	if err := setns(self); err != nil {
		// The thread stays locked and dies with the goroutine rather
		// than serve others from the wrong namespace.
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
}

func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	return nil
}

func TestApplyListsTable(t *testing.T) {
	ns := testNetns(t)
	ctx := context.Background()
	svcs, slices := webService("10.96.0.20", 30080, "10.0.0.2", "10.0.0.3")
	rs := Ruleset(svcs, slices, testNode)
	// Twice: the second load replaces the first table.
	for range 2 {
		if err := Apply(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", Table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	for _, want := range []string{"chain svc-default/web/tcp/80", "10.96.0.20 . tcp . 80 : goto svc-default/web/tcp/80", "dnat to 10.0.0.3:8080"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if err := Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", Table).Run() == nil {
		t.Error("table still there after Remove")
	}
}

// TestGoldenRulesetsLoad loads every golden scenario's ruleset with the
// real nft, so the golden files cannot drift into syntax nft refuses.
func TestGoldenRulesetsLoad(t *testing.T) {
	testNetns(t)
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		input, _, _ := strings.Cut(string(data), "----\n")
		sc, err := parseScenario(input)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := Apply(context.Background(), sc.model().render()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestApplyInvalid(t *testing.T) {
	testNetns(t)
	if err := Apply(context.Background(), "table ip bosun-proxy { chain x { bogus } }"); err == nil {
		t.Fatal("Apply of a bad ruleset succeeded")
	}
}

// TestTraffic sends locally generated connections through the output
// chains: a ClusterIP spreads over both endpoints unless it has ClientIP
// affinity, a UDP ClusterIP answers from its own address, a NodePort
// reaches its endpoints, and a service without endpoints refuses at once.
func TestTraffic(t *testing.T) {
	ns := testNetns(t)
	svcs, slices := webService("10.96.0.20", 30080, "10.0.0.2", "10.0.0.3")
	empty, _ := webService("10.96.0.21", 0)
	empty[0].Name = "empty"
	rs := Ruleset(append(svcs, empty...), slices, testNode)
	if err := Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}

	var listeners []net.Listener
	inNetns(t, ns, func() {
		for _, a := range []string{"10.0.0.2:8080", "10.0.0.3:8080"} {
			l, err := net.Listen("tcp4", a)
			if err != nil {
				t.Fatal(err)
			}
			listeners = append(listeners, l)
		}
	})
	for _, l := range listeners {
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, l.Addr())
				c.Close()
			}
		}()
	}

	dial := func(addr string) (string, error) {
		var (
			c   net.Conn
			err error
		)
		inNetns(t, ns, func() { c, err = net.DialTimeout("tcp4", addr, 2*time.Second) })
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}

	seen := map[string]int{}
	for range 40 {
		got, err := dial("10.96.0.20:80")
		if err != nil {
			t.Fatalf("ClusterIP: %v", err)
		}
		seen[got]++
	}
	if len(seen) != 2 {
		t.Errorf("40 connections reached %v, want both endpoints", seen)
	}
	sticky, stickySlices := webService("10.96.0.22", 0, "10.0.0.2", "10.0.0.3")
	sticky[0].Name, stickySlices[0].Labels[discoveryv1.LabelServiceName] = "sticky", "sticky"
	sticky[0].Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	if err := Apply(context.Background(), Ruleset(append(append(svcs, empty...), sticky...), append(slices, stickySlices...), testNode)); err != nil {
		t.Fatal(err)
	}
	seen = map[string]int{}
	for range 20 {
		got, err := dial("10.96.0.22:80")
		if err != nil {
			t.Fatalf("ClientIP affinity: %v", err)
		}
		seen[got]++
	}
	if len(seen) != 1 {
		t.Errorf("ClientIP affinity: 20 connections from one client reached %v, want one endpoint", seen)
	}
	udpSvcs, udpSlices := webService("10.96.0.10", 0, "10.0.0.3")
	udpSvcs[0].Name, udpSlices[0].Labels[discoveryv1.LabelServiceName] = "dns", "dns"
	udpSvcs[0].Spec.Ports[0].Port, udpSvcs[0].Spec.Ports[0].Protocol = 53, corev1.ProtocolUDP
	udpPort, udpProto := int32(5353), corev1.ProtocolUDP
	udpSlices[0].Ports = []discoveryv1.EndpointPort{{Port: &udpPort, Protocol: &udpProto}}
	all := append(append(append(svcs, empty...), sticky...), udpSvcs...)
	allSlices := append(append(slices, stickySlices...), udpSlices...)
	if err := Apply(context.Background(), Ruleset(all, allSlices, testNode)); err != nil {
		t.Fatal(err)
	}
	var pc, uc net.PacketConn
	inNetns(t, ns, func() {
		var err error
		if pc, err = net.ListenPacket("udp4", "10.0.0.3:5353"); err != nil {
			t.Fatal(err)
		}
		if uc, err = net.ListenPacket("udp4", "10.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	defer pc.Close()
	defer uc.Close()
	go func() {
		buf := make([]byte, 64)
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	_ = uc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := uc.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(10, 96, 0, 10), Port: 53}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, from, err := uc.ReadFrom(buf); err != nil || string(buf[:n]) != "ping" || from.String() != "10.96.0.10:53" {
		t.Errorf("UDP ClusterIP: got %q from %v, %v; want ping from 10.96.0.10:53", buf[:n], from, err)
	}

	if got, err := dial("10.0.0.1:30080"); err != nil || !strings.HasSuffix(got, ":8080") {
		t.Errorf("NodePort: %q, %v", got, err)
	}
	start := time.Now()
	_, err := dial("10.96.0.21:80")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service without endpoints: %v, want connection refused", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
}

// webService is default/web on clusterIP:80 (and nodePort if not 0) with
// ready endpoints at port 8080 of addrs.
func webService(clusterIP string, nodePort int32, addrs ...string) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Ports:     []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: nodePort}},
		},
	}
	port, proto, ready := int32(8080), corev1.ProtocolTCP, true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}},
	}
	for _, a := range addrs {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return []*corev1.Service{svc}, []*discoveryv1.EndpointSlice{slice}
}

// TestTrafficThroughNode routes traffic through the node the way pods
// and outside clients reach it: a client namespace behind veth 10.0.0.9
// and a pod namespace at 10.244.0.5 behind the node's 10.244.0.1. The
// prerouting chain must DNAT the client's connections to the pod, the
// forward hook must refuse a service without endpoints, and a pod
// reaching itself through its service (hairpin) must be masqueraded or
// its own kernel drops the packet as a martian.
func TestTrafficThroughNode(t *testing.T) {
	node := testNetns(t)
	client, pod := node+"-c", node+"-p"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{client, pod} {
		run("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", node, "link", "set", "veth1", "netns", client)
	run("-n", client, "addr", "add", "10.0.0.9/24", "dev", "veth1")
	run("-n", client, "link", "set", "veth1", "up")
	run("-n", client, "route", "add", "default", "via", "10.0.0.1")
	run("-n", node, "link", "add", "veth2", "type", "veth", "peer", "name", "veth3")
	run("-n", node, "link", "set", "veth3", "netns", pod)
	run("-n", node, "addr", "add", "10.244.0.1/24", "dev", "veth2")
	run("-n", node, "link", "set", "veth2", "up")
	run("-n", pod, "addr", "add", "10.244.0.5/24", "dev", "veth3")
	run("-n", pod, "link", "set", "veth3", "up")
	run("-n", pod, "route", "add", "default", "via", "10.244.0.1")
	// As on a real node, traffic for ClusterIPs leaves by another link
	// than the client's; back out of veth0 the kernel would first send the
	// client a redirect, which uses up the ICMP rate limit the reject needs.
	run("-n", node, "route", "replace", "10.96.0.0/16", "dev", "veth2")
	if out, err := exec.Command("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward: %v: %s", err, out)
	}

	svcs, slices := webService("10.96.0.20", 30080, "10.244.0.5")
	empty, _ := webService("10.96.0.21", 0)
	empty[0].Name = "empty"
	// local and remote have externalTrafficPolicy Local, with the
	// endpoint on this node and on another.
	local, localSlices := localService("local", "10.96.0.23", 30081, "node-a")
	remote, remoteSlices := localService("remote", "10.96.0.24", 30082, "node-b")
	rs := Ruleset(append(append(append(svcs, empty...), local...), remote...),
		append(append(slices, localSlices...), remoteSlices...), Node{Name: testNode.Name, IPs: testNode.IPs, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24")}})
	if err := Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}

	var l net.Listener
	inNetns(t, pod, func() {
		var err error
		if l, err = net.Listen("tcp4", "10.244.0.5:8080"); err != nil {
			t.Fatal(err)
		}
	})
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()

	// dial returns the source address the endpoint saw.
	dial := func(from, addr string) (string, error) {
		var (
			c   net.Conn
			err error
		)
		inNetns(t, from, func() { c, err = net.DialTimeout("tcp4", addr, 2*time.Second) })
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}

	cases := []struct {
		name, from, addr, wantSource string
	}{
		{"client to ClusterIP keeps its source", client, "10.96.0.20:80", "10.0.0.9"},
		{"client to NodePort is masqueraded", client, "10.0.0.1:30080", "10.244.0.1"},
		{"hairpin is masqueraded", pod, "10.96.0.20:80", "10.244.0.1"},
		{"client to Local NodePort keeps its source", client, "10.0.0.1:30081", "10.0.0.9"},
		{"node to Local NodePort without local endpoint is served", node, "10.0.0.1:30082", "10.244.0.1"},
		// The pod is the endpoint: hairpin masquerade still applies.
		{"pod to Local NodePort without local endpoint is served", pod, "10.0.0.1:30082", "10.244.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dial(tc.from, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantSource {
				t.Errorf("endpoint saw %s, want %s", got, tc.wantSource)
			}
		})
	}
	t.Run("client to Local NodePort without local endpoint is dropped", func(t *testing.T) {
		var ne net.Error
		if _, err := dial(client, "10.0.0.1:30082"); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("got %v, want a timeout", err)
		}
	})
	t.Run("client to service without endpoints is refused", func(t *testing.T) {
		start := time.Now()
		if _, err := dial(client, "10.96.0.21:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("refusal took %v", d)
		}
	})
}

// TestIncrementalMatchesFull loads each scenario of
// testdata/incremental: the table before written whole, then the
// in-place update, must list exactly as the table after written whole.
func TestIncrementalMatchesFull(t *testing.T) {
	ns := testNetns(t)
	files, err := filepath.Glob("testdata/incremental/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), "----\n", 3)
			before, after, err := parseTransition(parts[0], parts[1])
			if err != nil {
				t.Fatal(err)
			}
			script, ok := after.diff(before)
			if !ok {
				t.Skip("needs a full write")
			}
			ctx := context.Background()
			if err := Apply(ctx, before.render()); err != nil {
				t.Fatal(err)
			}
			if unchanged := listTable(t, ns); (script == "") != (unchanged == listTableOf(t, ns, after)) {
				t.Fatalf("script %q, but the tables before and after differ: %v", script, script == "")
			}
			if err := Apply(ctx, before.render()); err != nil {
				t.Fatal(err)
			}
			if err := Apply(ctx, script); err != nil {
				t.Fatalf("in-place update: %v\n%s", err, script)
			}
			got := listTable(t, ns)
			if err := Apply(ctx, after.render()); err != nil {
				t.Fatal(err)
			}
			if want := listTable(t, ns); got != want {
				t.Errorf("after the in-place update the table is\n%s\nwritten whole it is\n%s", got, want)
			}
		})
	}
}

// listTableOf writes m whole and lists it.
func listTableOf(t *testing.T, ns string, m *model) string {
	t.Helper()
	if err := Apply(context.Background(), m.render()); err != nil {
		t.Fatal(err)
	}
	return listTable(t, ns)
}

// listTable returns the proxy's table in namespace ns as nft lists it in
// JSON, made independent of what differs between equal tables built in
// different orders: handles, the order of objects and of set elements.
// Rules keep their order within their chain.
func listTable(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "ip", Table).Output()
	if err != nil {
		t.Fatalf("nft list: %v", err)
	}
	var doc struct {
		Nftables []map[string]map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var objects []string
	rules := map[string][]string{}
	for _, entry := range doc.Nftables {
		for kind, o := range entry {
			if kind == "metainfo" {
				continue
			}
			delete(o, "handle")
			if elems, ok := o["elem"].([]any); ok {
				sort.Slice(elems, func(i, j int) bool { return jsonText(elems[i]) < jsonText(elems[j]) })
			}
			if kind == "rule" {
				chain, _ := o["chain"].(string)
				rules[chain] = append(rules[chain], jsonText(o))
				continue
			}
			objects = append(objects, kind+" "+jsonText(o))
		}
	}
	for chain, rs := range rules {
		objects = append(objects, "rules of "+chain+":\n  "+strings.Join(rs, "\n  "))
	}
	sort.Strings(objects)
	return strings.Join(objects, "\n")
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// localService is default/NAME of type NodePort with externalTrafficPolicy
// Local and one endpoint, 10.244.0.5:8080 on node.
func localService(name, clusterIP string, nodePort int32, node string) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	svcs, slices := webService(clusterIP, nodePort, "10.244.0.5")
	svcs[0].Name, slices[0].Name, slices[0].Labels[discoveryv1.LabelServiceName] = name, name+"-1", name
	svcs[0].Spec.Type = corev1.ServiceTypeNodePort
	svcs[0].Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	slices[0].Endpoints[0].NodeName = &node
	return svcs, slices
}

// TestRunUpdatesInPlace runs the proxy against a fake clientset: the
// first write is whole, an endpoint change after it is applied in place
// and leaves the table as a whole write would, and the removed UDP
// endpoint's conntrack entries are deleted.
func TestRunUpdatesInPlace(t *testing.T) {
	ns := testNetns(t)
	calls := filepath.Join(t.TempDir(), "conntrack")
	saved := conntrackCommand
	conntrackCommand = []string{"/bin/sh", "-c", `echo "$@" >> ` + calls, "conntrack"}
	t.Cleanup(func() { conntrackCommand = saved })

	svcs, slices := webService("10.96.0.10", 0, "10.0.0.2", "10.0.0.3")
	udpPort, udp := int32(5353), corev1.ProtocolUDP
	svcs[0].Spec.Ports[0].Port, svcs[0].Spec.Ports[0].Protocol = 53, udp
	slices[0].Ports = []discoveryv1.EndpointPort{{Port: &udpPort, Protocol: &udp}}
	client := fake.NewClientset(svcs[0], slices[0])

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	applied := make(chan bool, 8)
	done := make(chan error, 1)
	go func() {
		done <- RunWith(ctx, client, Options{NodeName: testNode.Name, NodeIPs: testNode.IPs, Applied: func(full bool) { applied <- full }},
			slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		<-done
	}()
	next := func() bool {
		t.Helper()
		select {
		case full := <-applied:
			return full
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("nothing applied in 10s")
		}
		return false
	}
	if !next() {
		t.Error("first write was not whole")
	}

	slices[0].Endpoints = slices[0].Endpoints[1:]
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slices[0], metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if next() {
		t.Error("endpoint change rewrote the whole table")
	}
	got := listTable(t, ns)
	if want := listTableOf(t, ns, build(svcs, slices, testNode)); got != want {
		t.Errorf("after the in-place update the table is\n%s\nwritten whole it is\n%s", got, want)
	}
	data, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if want := "-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --dst-nat 10.0.0.2\n"; string(data) != want {
		t.Errorf("conntrack calls %q, want %q", data, want)
	}

	// Someone else removed the table: the in-place update fails and the
	// table is written whole again.
	if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "ip", Table).CombinedOutput(); err != nil {
		t.Fatalf("nft delete table: %v: %s", err, out)
	}
	slices[0].Endpoints = append(slices[0].Endpoints, slices[0].Endpoints[0])
	slices[0].Endpoints[1].Addresses = []string{"10.0.0.2"}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slices[0], metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !next() {
		t.Error("a failed in-place update was not followed by a whole write")
	}
	got = listTable(t, ns)
	if want := listTableOf(t, ns, build(svcs, slices, testNode)); got != want {
		t.Errorf("after the repair the table is\n%s\nwritten whole it is\n%s", got, want)
	}
}

func TestDeleteConntrack(t *testing.T) {
	cases := []struct {
		name    string
		script  string
		wantErr bool
	}{
		{"deleted", `echo "1 flow entries have been deleted."`, false},
		{"nothing to delete", `echo "0 flow entries have been deleted." >&2; exit 1`, false},
		{"failed", `echo "Operation not permitted" >&2; exit 1`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := conntrackCommand
			conntrackCommand = []string{"/bin/sh", "-c", tc.script, "conntrack"}
			t.Cleanup(func() { conntrackCommand = saved })
			err := deleteConntrack(context.Background(), [][]string{{"-D", "-p", "udp"}})
			if (err != nil) != tc.wantErr {
				t.Errorf("got %v, want error %v", err, tc.wantErr)
			}
		})
	}
	saved := conntrackCommand
	conntrackCommand = []string{"bosun-no-such-conntrack"}
	t.Cleanup(func() { conntrackCommand = saved })
	if err := deleteConntrack(context.Background(), [][]string{{"-D"}}); !errors.Is(err, errNoConntrack) {
		t.Errorf("without the tool: %v, want errNoConntrack", err)
	}
}
