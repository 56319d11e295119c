package kubelet

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestServiceEnv(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "redis-master", Namespace: "shop"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.11", Ports: []corev1.ServicePort{{Port: 6379, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "shop"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "elsewhere"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.12", Ports: []corev1.ServicePort{{Port: 80}}}},
	} {
		idx.Add(svc)
	}
	k := &Kubelet{services: corelisters.NewServiceLister(idx)}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}}
	want := map[string]string{
		"KUBERNETES_SERVICE_HOST":          "10.43.0.1",
		"KUBERNETES_SERVICE_PORT":          "443",
		"KUBERNETES_SERVICE_PORT_HTTPS":    "443",
		"KUBERNETES_PORT":                  "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP":          "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO":    "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":     "443",
		"KUBERNETES_PORT_443_TCP_ADDR":     "10.43.0.1",
		"REDIS_MASTER_SERVICE_HOST":        "10.43.0.11",
		"REDIS_MASTER_SERVICE_PORT":        "6379",
		"REDIS_MASTER_PORT":                "tcp://10.43.0.11:6379",
		"REDIS_MASTER_PORT_6379_TCP":       "tcp://10.43.0.11:6379",
		"REDIS_MASTER_PORT_6379_TCP_PROTO": "tcp",
		"REDIS_MASTER_PORT_6379_TCP_PORT":  "6379",
		"REDIS_MASTER_PORT_6379_TCP_ADDR":  "10.43.0.11",
	}
	if got := k.serviceEnv(pod); !maps.Equal(got, want) {
		t.Fatalf("service env:\n got %v\nwant %v", got, want)
	}
	pod.Spec.EnableServiceLinks = ptr.To(false)
	got := k.serviceEnv(pod)
	if _, ok := got["REDIS_MASTER_SERVICE_HOST"]; ok || got["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" {
		t.Fatalf("enableServiceLinks false: %v, want only the kubernetes service", got)
	}
}
