package agent

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDiscoverClusterDNS(t *testing.T) {
	kubeDNS := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.43.0.10"},
	}
	cases := []struct {
		name     string
		existing bool
		later    bool // created after the first look
		patience time.Duration
		want     []string
	}{
		{name: "present", existing: true, want: []string{"10.43.0.10"}},
		{name: "created while waiting", later: true, patience: 10 * time.Second, want: []string{"10.43.0.10"}},
		{name: "absent: the host's resolver", patience: 0, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tc.existing {
				client = fake.NewSimpleClientset(kubeDNS)
			}
			if tc.later {
				go func() {
					time.Sleep(500 * time.Millisecond)
					_, _ = client.CoreV1().Services("kube-system").Create(ctx, kubeDNS, metav1.CreateOptions{})
				}()
			}
			got := discoverClusterDNS(ctx, client, tc.patience, slog.New(slog.DiscardHandler))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
