package server

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bosun-sh/bosun/internal/pki"
)

func TestEnsureBootstrapToken(t *testing.T) {
	tok := pki.JoinToken{CAHash: strings.Repeat("ab", 32), Secret: strings.Repeat("0f", 24)}
	id, secret := tok.BootstrapToken()
	name := "bootstrap-token-" + id
	stale := func(typ corev1.SecretType, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}, Type: typ, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	cases := []struct {
		name     string
		existing *corev1.Secret
	}{
		{name: "missing"},
		{name: "wrong secret", existing: stale(corev1.SecretTypeBootstrapToken, map[string]string{"token-id": id, "token-secret": "x"})},
		{name: "wrong type", existing: stale(corev1.SecretTypeOpaque, map[string]string{"token-id": id, "token-secret": secret, "usage-bootstrap-authentication": "true"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tc.existing != nil {
				client = fake.NewClientset(tc.existing)
			}
			for range 2 { // the second run finds it right
				if err := ensureBootstrapToken(context.Background(), client, tok); err != nil {
					t.Fatal(err)
				}
			}
			s, err := client.CoreV1().Secrets("kube-system").Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Type != corev1.SecretTypeBootstrapToken || string(s.Data["token-id"]) != id || string(s.Data["token-secret"]) != secret ||
				string(s.Data["usage-bootstrap-authentication"]) != "true" || s.Data["expiration"] != nil {
				t.Errorf("secret = %s %v", s.Type, s.Data)
			}
		})
	}
}
