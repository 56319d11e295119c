package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestAgentServiceAccountInCluster: a program in a pod builds client-go's
// in-cluster configuration from the mounted service account token, CA and
// namespace and the KUBERNETES_SERVICE_* variables, and calls the API with
// exactly its account's rights: a RoleBinding to "view" in its namespace
// lets it list pods there, and listing kube-system is 403 Forbidden. A pod
// with automounting off has no token to find.
func TestAgentServiceAccountInCluster(t *testing.T) {
	// The kubernetes Service points at the host's address, which a
	// server bound to loopback only (the tests' default) does not answer.
	n := startNode(t, nodeOptions{args: []string{"--bind-address", "0.0.0.0"}})
	n.apply(t, `
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-view, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: reader, namespace: team}]
---
apiVersion: v1
kind: Pod
metadata: {name: incluster, namespace: team}
spec:
  serviceAccountName: reader
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: bosun.test/testserver:1
    command:
    - sh
    - -c
    - |
      d=/var/run/secrets/kubernetes.io/serviceaccount
      echo "files: $(ls $d | tr '\n' ' ')"
      echo "namespace: $(cat $d/namespace)"
      echo "token-bytes: $(wc -c < $d/token)"
      echo "ca: $(head -1 $d/ca.crt)"
      echo "service: $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
      exec /incluster kube-system
---
apiVersion: v1
kind: Pod
metadata: {name: no-token, namespace: team}
spec:
  serviceAccountName: reader
  automountServiceAccountToken: false
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: bosun.test/testserver:1
    command: [/incluster]
`)
	finished := func(p *corev1.Pod) error {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("phase %q, statuses %s", p.Status.Phase, describeStatuses(p))
	}
	p := n.waitPod(t, "team", "incluster", 3*time.Minute, finished)
	logs := n.k(t, "-n", "team", "logs", "incluster")
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the in-cluster client pod %s:\n%s\nevents:\n%s", p.Status.Phase, logs, n.k(t, "-n", "team", "get", "events"))
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^files: ca\.crt namespace token $`),
		regexp.MustCompile(`(?m)^namespace: team$`),
		regexp.MustCompile(`(?m)^token-bytes: [1-9][0-9]{2,}$`),
		regexp.MustCompile(`(?m)^ca: -----BEGIN CERTIFICATE-----$`),
		regexp.MustCompile(`(?m)^service: 10\.43\.0\.1:443$`),
		// Its own pod at least.
		regexp.MustCompile(`(?m)^list team: ok [1-9][0-9]* pods$`),
		regexp.MustCompile(`(?m)^list kube-system: status 403 Forbidden: pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" in API group "" in the namespace "kube-system"$`),
	} {
		if !want.MatchString(logs) {
			t.Errorf("the in-cluster client's output lacks %s:\n%s", want, logs)
		}
	}

	p = n.waitPod(t, "team", "no-token", 3*time.Minute, finished)
	logs = n.k(t, "-n", "team", "logs", "no-token")
	if p.Status.Phase != corev1.PodFailed || !strings.Contains(logs, "serviceaccount/token: no such file or directory") {
		t.Errorf("a pod without its token: phase %s, output:\n%s", p.Status.Phase, logs)
	}
	for _, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			t.Errorf("a pod with automounting off got volume %s", v.Name)
		}
	}
}
