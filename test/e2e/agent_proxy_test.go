package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAgentServiceProxy: three replicas behind a Service share its
// traffic from a pod and from the node; a replica turning unready, and a
// deleted one, stop receiving traffic within seconds; a NodePort answers
// on the node's address; a LoadBalancer Service gets the node's address
// as its EXTERNAL-IP and answers there; externalTrafficPolicy Local keeps
// the client's source address where Cluster masquerades it.
func TestAgentServiceProxy(t *testing.T) {
	n := startNode(t, nodeOptions{})
	n.apply(t, `
apiVersion: v1
kind: Namespace
metadata: {name: proxy}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: proxy}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: bosun.test/testserver:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: proxy}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: proxy}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 18080, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: proxy}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: proxy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: bosun.test/busybox:1, command: ["sleep", "3600"]}
`)
	client := n.server.client
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	clientPod := n.waitPod(t, "proxy", "client", 2*time.Minute, podRunning)
	var pods []corev1.Pod
	if err := eventually(2*time.Minute, time.Second, func() error {
		l, err := client.CoreV1().Pods("proxy").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if err := podReady(&p); err != nil {
				return err
			}
		}
		if len(l.Items) != 3 {
			return fmt.Errorf("%d pods", len(l.Items))
		}
		pods = l.Items
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	svc, err := client.CoreV1().Services("proxy").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	node, err := client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeIP := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && !strings.Contains(a.Address, ":") {
			nodeIP = a.Address
		}
	}
	if nodeIP == "" {
		t.Fatalf("node has no IPv4 InternalIP: %v", node.Status.Addresses)
	}

	// fromPod asks url count times from the client pod, each on a new
	// connection, and counts the answers.
	fromPod := func(url string, count int) map[string]int {
		out := execIn(t, n, "proxy", "client", "c", "sh", "-c",
			fmt.Sprintf("for i in $(seq %d); do timeout 5 wget -q -O- %s; echo; done", count, url))
		seen := map[string]int{}
		for _, l := range strings.Split(out, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				seen[l]++
			}
		}
		return seen
	}
	// fromHost does the same from the node itself.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	fromHost := func(url string, count int) map[string]int {
		seen := map[string]int{}
		for range count {
			code, body, err := get(hc, url)
			switch {
			case err != nil:
				seen["<"+err.Error()+">"]++
			case code != http.StatusOK:
				seen[fmt.Sprintf("<%d>", code)]++
			default:
				seen[strings.TrimSpace(body)]++
			}
		}
		return seen
	}
	// allOf waits until answers from fetch come from exactly want.
	allOf := func(what string, timeout time.Duration, fetch func() map[string]int, want []string) {
		t.Helper()
		start := time.Now()
		var seen map[string]int
		err := eventually(timeout, 200*time.Millisecond, func() error {
			seen = fetch()
			got := make([]string, 0, len(seen))
			for k := range seen {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("answered by %v, want %v", seen, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %v after %s", what, seen, time.Since(start).Round(100*time.Millisecond))
	}
	slices.Sort(names)

	allOf("ClusterIP from a pod", time.Minute, func() map[string]int { return fromPod("http://"+clusterIP+"/hostname", 30) }, names)
	allOf("ClusterIP from the node", time.Minute, func() map[string]int { return fromHost("http://"+clusterIP+"/hostname", 30) }, names)
	nodePortURL := fmt.Sprintf("http://%s:%d/hostname", nodeIP, nodePort)
	allOf("NodePort from the node", time.Minute, func() map[string]int { return fromHost(nodePortURL, 30) }, names)

	// A replica turning unready leaves the rotation.
	unready := pods[0]
	if code, body, err := httpGetPod(unready.Status.PodIP, "/fail?probe=readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("failing the readiness of %s: %d %q %v", unready.Name, code, body, err)
	}
	allOf("ClusterIP with one replica unready", 20*time.Second, func() map[string]int { return fromHost("http://"+clusterIP+"/hostname", 20) }, names[1:])
	if code, body, err := httpGetPod(unready.Status.PodIP, "/heal"); err != nil || code != http.StatusOK {
		t.Fatalf("healing %s: %d %q %v", unready.Name, code, body, err)
	}
	allOf("ClusterIP with the replica ready again", 20*time.Second, func() map[string]int { return fromHost("http://"+clusterIP+"/hostname", 30) }, names)

	// A deleted replica leaves it too (its replacement joins later).
	deleted := pods[1].Name
	n.k(t, "-n", "proxy", "delete", "pod", deleted, "--wait=false")
	start := time.Now()
	if err := eventually(20*time.Second, 200*time.Millisecond, func() error {
		seen := fromHost("http://"+clusterIP+"/hostname", 20)
		if seen[deleted] > 0 {
			return fmt.Errorf("deleted %s still answers: %v", deleted, seen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted replica out of rotation after %s", time.Since(start).Round(100*time.Millisecond))

	// The LoadBalancer's address is the node's, shown as EXTERNAL-IP.
	if err := eventually(time.Minute, 500*time.Millisecond, func() error {
		lb, err := client.CoreV1().Services("proxy").Get(ctx, "lb", metav1.GetOptions{})
		if err != nil {
			return err
		}
		in := lb.Status.LoadBalancer.Ingress
		if len(in) != 1 || in[0].IP != nodeIP || in[0].IPMode == nil || *in[0].IPMode != corev1.LoadBalancerIPModeVIP {
			return fmt.Errorf("load balancer ingress %+v, want %s with ipMode VIP", in, nodeIP)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out := n.k(t, "-n", "proxy", "get", "svc", "lb"); !strings.Contains(out, nodeIP) {
		t.Errorf("kubectl get svc lb shows no EXTERNAL-IP %s:\n%s", nodeIP, out)
	}
	lbURL := fmt.Sprintf("http://%s:18080/hostname", nodeIP)
	if err := eventually(30*time.Second, 500*time.Millisecond, func() error {
		if seen := fromHost(lbURL, 3); len(seen) == 0 || strings.HasPrefix(firstKey(seen), "<") {
			return fmt.Errorf("GET %s from the node: %v", lbURL, seen)
		}
		if seen := fromPod(lbURL, 3); len(seen) == 0 {
			return fmt.Errorf("GET %s from a pod: no answer", lbURL)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// From a pod to the node's address: Cluster masquerades, Local keeps
	// the pod's address.
	local, err := client.CoreV1().Services("proxy").Get(ctx, "local", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	remote := func(port int32) string {
		out := execIn(t, n, "proxy", "client", "c", "timeout", "5", "wget", "-q", "-O-", fmt.Sprintf("http://%s:%d/echo", nodeIP, port))
		for _, l := range strings.Split(out, "\n") {
			if r, ok := strings.CutPrefix(l, "remote: "); ok {
				host, _, _ := strings.Cut(r, ":")
				return host
			}
		}
		return out
	}
	if err := eventually(30*time.Second, 500*time.Millisecond, func() error {
		if got := remote(local.Spec.Ports[0].NodePort); got != clientPod.Status.PodIP {
			return fmt.Errorf("Local NodePort: endpoint saw %q, want the client's %s", got, clientPod.Status.PodIP)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := remote(nodePort); got == clientPod.Status.PodIP || strings.HasPrefix(got, "<") {
		t.Errorf("Cluster NodePort: endpoint saw %q, want a masqueraded address", got)
	}
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
