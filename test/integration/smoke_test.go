package integration

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func TestSystemNamespacesExist(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	list, err := s.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ns := range list.Items {
		got[ns.Name] = true
	}
	for _, want := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !got[want] {
			t.Errorf("namespace %s missing; have %v", want, got)
		}
	}
}
