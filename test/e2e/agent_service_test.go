package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAgentServiceClusterIP: the node's service proxy sends traffic for a
// Service's ClusterIP — from a pod and from the node itself — to its ready
// pods, all of them, and refuses it once none is ready.
func TestAgentServiceClusterIP(t *testing.T) {
	n := startNode(t, nodeOptions{})
	n.apply(t, `
apiVersion: v1
kind: Namespace
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: svc}
spec:
  replicas: 2
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
metadata: {name: web, namespace: svc}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: svc}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: bosun.test/busybox:1, command: ["sleep", "3600"]}
`)
	client := n.server.client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n.waitPod(t, "svc", "client", 2*time.Minute, podRunning)
	svc, err := client.CoreV1().Services("svc").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	// Both replicas ready, as the endpoints say.
	var pods []corev1.Pod
	if err := eventually(2*time.Minute, time.Second, func() error {
		l, err := client.CoreV1().Pods("svc").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if err := podReady(&p); err != nil {
				return err
			}
		}
		if len(l.Items) != 2 {
			return fmt.Errorf("%d pods", len(l.Items))
		}
		pods = l.Items
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// From a pod, by ClusterIP: every ready replica answers, within a
	// bounded number of requests.
	seen := map[string]bool{}
	if err := eventually(time.Minute, 200*time.Millisecond, func() error {
		out := execIn(t, n, "svc", "client", "c", "timeout", "5", "wget", "-q", "-O-", "http://"+ip+"/hostname")
		if strings.HasPrefix(out, "<") {
			return fmt.Errorf("wget through %s: %s", ip, out)
		}
		seen[out] = true
		if len(seen) < 2 {
			return fmt.Errorf("answered by %v so far", seen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if !seen[p.Name] {
			t.Errorf("replica %s never answered through the service (answers: %v)", p.Name, seen)
		}
	}

	// From the node itself.
	if err := eventually(30*time.Second, 200*time.Millisecond, func() error {
		hc := insecureClient(3 * time.Second)
		defer hc.CloseIdleConnections()
		code, body, err := get(hc, "http://"+ip+"/hostname")
		if err != nil || code != 200 {
			return fmt.Errorf("GET from the node: %d %q %v", code, body, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// No ready endpoint: refused at once, not left to time out.
	n.k(t, "-n", "svc", "scale", "deployment/web", "--replicas=0")
	if err := eventually(time.Minute, 500*time.Millisecond, func() error {
		start := time.Now()
		out := execIn(t, n, "svc", "client", "c", "timeout", "5", "wget", "-q", "-O-", "http://"+ip+"/hostname")
		if !strings.HasPrefix(out, "<") {
			return fmt.Errorf("still answered: %s", out)
		}
		if !strings.Contains(out, "refused") {
			return fmt.Errorf("failed without a refusal after %s: %s", time.Since(start).Round(time.Millisecond), out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
