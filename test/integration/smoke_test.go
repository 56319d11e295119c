package integration

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/apiserver"
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

func TestDefaultIngressClass(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	class, err := s.Client.NetworkingV1().IngressClasses().Get(ctx, apiserver.IngressClass, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if class.Spec.Controller != apiserver.IngressController || class.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "true" {
		t.Errorf("IngressClass %s: controller %q, annotations %v; want the default class of %s",
			class.Name, class.Spec.Controller, class.Annotations, apiserver.IngressController)
	}

	// An administrator's change survives the next start's bootstrap.
	class.Annotations[networkingv1.AnnotationIsDefaultIngressClass] = "false"
	if _, err := s.Client.NetworkingV1().IngressClasses().Update(ctx, class, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	s = testserver.Start(t, testserver.Options{DataDir: s.DataDir})
	got, err := s.Client.NetworkingV1().IngressClasses().Get(ctx, apiserver.IngressClass, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "false" {
		t.Errorf("bootstrap overwrote the administrator's IngressClass: %v", got.Annotations)
	}
}
