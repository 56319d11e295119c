// Command incluster is the in-cluster API client of the end-to-end tests:
// run in a pod, it builds client-go's in-cluster configuration (the
// mounted service account token, CA and the KUBERNETES_SERVICE_* variables)
// and lists the pods of its own namespace and then of each namespace given
// as an argument, printing one line per list:
//
//	list NAMESPACE: ok N pods
//	list NAMESPACE: status CODE REASON: MESSAGE
//
// It exits 0 once every list has been tried, whatever their answers, and 1
// when the configuration cannot be built. It lives apart from the test
// server so that one stays free of client-go.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run(extra []string) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	// Only the core group's client: the full clientset would triple the
	// binary and its build time for nothing.
	client, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	own, err := os.ReadFile(namespaceFile)
	if err != nil {
		return fmt.Errorf("own namespace: %w", err)
	}
	for _, ns := range append([]string{strings.TrimSpace(string(own))}, extra...) {
		fmt.Println(list(client, ns))
	}
	return nil
}

// list lists the pods of ns and describes the answer in one line.
func list(client corev1client.CoreV1Interface, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pods, err := client.Pods(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		return fmt.Sprintf("list %s: ok %d pods", ns, len(pods.Items))
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		return fmt.Sprintf("list %s: status %d %s: %s", ns, s.Code, s.Reason, s.Message)
	}
	return fmt.Sprintf("list %s: error: %v", ns, err)
}
