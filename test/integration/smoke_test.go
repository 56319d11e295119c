package integration

import (
	"context"
	"testing"
	"time"

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

	// An Ingress naming no class gets the default one; one that names a
	// class, or the legacy annotation, keeps its choice.
	prefix := networkingv1.PathTypePrefix
	ingress := func(name string, class *string, annotations map[string]string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: networkingv1.IngressSpec{IngressClassName: class, Rules: []networkingv1.IngressRule{{
				Host: "a.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		}
	}
	other := "other"
	for _, tc := range []struct {
		ing  *networkingv1.Ingress
		want string
	}{
		{ingress("plain", nil, nil), apiserver.IngressClass},
		{ingress("chosen", &other, nil), other},
		{ingress("legacy", nil, map[string]string{"kubernetes.io/ingress.class": "nginx"}), ""},
	} {
		got, err := s.Client.NetworkingV1().Ingresses("default").Create(ctx, tc.ing, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		class := ""
		if got.Spec.IngressClassName != nil {
			class = *got.Spec.IngressClassName
		}
		if class != tc.want {
			t.Errorf("Ingress %s got class %q, want %q", tc.ing.Name, class, tc.want)
		}
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

func TestDefaultRBACPolicy(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := context.Background()
	c := s.Client.RbacV1()
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user", "system:node"} {
		if _, err := c.ClusterRoles().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole %s: %v", name, err)
		}
	}
	b, err := c.ClusterRoleBindings().Get(ctx, "cluster-admin", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.RoleRef.Name != "cluster-admin" || len(b.Subjects) != 1 || b.Subjects[0].Name != "system:masters" {
		t.Errorf("cluster-admin binding: %+v %+v", b.RoleRef, b.Subjects)
	}
	// The aggregation loop fills the aggregated roles.
	deadline := time.Now().Add(30 * time.Second)
	for {
		view, err := c.ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(view.Rules) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view ClusterRole was never filled by aggregation")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// At the next start, a default role missing a rule gets it back; one
	// an administrator marked autoupdate=false is left alone.
	disc, err := c.ClusterRoles().Get(ctx, "system:discovery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	discRules := len(disc.Rules)
	disc.Rules = disc.Rules[:0]
	if _, err := c.ClusterRoles().Update(ctx, disc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	basic, err := c.ClusterRoles().Get(ctx, "system:basic-user", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	basic.Annotations["rbac.authorization.kubernetes.io/autoupdate"] = "false"
	basic.Rules = basic.Rules[:0]
	if _, err := c.ClusterRoles().Update(ctx, basic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	s = testserver.Start(t, testserver.Options{DataDir: s.DataDir})
	c = s.Client.RbacV1()
	if disc, err = c.ClusterRoles().Get(ctx, "system:discovery", metav1.GetOptions{}); err != nil || len(disc.Rules) != discRules {
		t.Errorf("system:discovery after a restart: %d rules (%v), want %d back", len(disc.Rules), err, discRules)
	}
	if basic, err = c.ClusterRoles().Get(ctx, "system:basic-user", metav1.GetOptions{}); err != nil || len(basic.Rules) != 0 {
		t.Errorf("system:basic-user with autoupdate=false was reconciled: %d rules (%v)", len(basic.Rules), err)
	}
}
