package servicelb

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

func node(name string, ready bool, mod func(*corev1.Node), ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	if mod != nil {
		mod(n)
	}
	return n
}

func service(typ corev1.ServiceType, mod func(*corev1.Service), ingress ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Port: 80}}},
	}
	for _, ip := range ingress {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip, IPMode: new(corev1.LoadBalancerIPModeVIP)})
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func TestReconcile(t *testing.T) {
	nodes := []*corev1.Node{
		node("b", true, nil, "192.168.1.12"),
		node("a", true, nil, "192.168.1.11", "fd00::11"),
		node("not-ready", false, nil, "192.168.1.13"),
		node("cordoned", true, func(n *corev1.Node) { n.Spec.Unschedulable = true }, "192.168.1.14"),
		node("excluded", true, func(n *corev1.Node) { n.Labels = map[string]string{excludeLabel: ""} }, "192.168.1.15"),
		node("same-ip", true, nil, "192.168.1.12"),
	}
	class := "example.com/other"
	cases := []struct {
		name string
		svc  *corev1.Service
		// want is the ingress written, nil when nothing is written.
		want []string
	}{
		{"load balancer gets the ready nodes' addresses", service(corev1.ServiceTypeLoadBalancer, nil), []string{"192.168.1.11", "192.168.1.12"}},
		{"up to date", service(corev1.ServiceTypeLoadBalancer, nil, "192.168.1.11", "192.168.1.12"), nil},
		{"stale address replaced", service(corev1.ServiceTypeLoadBalancer, nil, "192.168.1.13"), []string{"192.168.1.11", "192.168.1.12"}},
		{"another class is left alone", service(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }, "203.0.113.1"), nil},
		{"type changed away is cleared", service(corev1.ServiceTypeClusterIP, nil, "192.168.1.11"), []string{}},
		{"cluster IP without status", service(corev1.ServiceTypeClusterIP, nil), nil},
		{"gone", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			svcIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			nodeIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for _, n := range nodes {
				_ = nodeIdx.Add(n)
			}
			if tc.svc != nil {
				_ = svcIdx.Add(tc.svc)
				if _, err := client.CoreV1().Services("default").Create(context.Background(), tc.svc, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				client.ClearActions()
			}
			c := &Controller{client: client, log: slog.New(slog.DiscardHandler),
				svcLister: corelisters.NewServiceLister(svcIdx), nodeLister: corelisters.NewNodeLister(nodeIdx)}
			if err := c.reconcile(context.Background(), "default/web"); err != nil {
				t.Fatal(err)
			}
			var got []string
			written := false
			for _, a := range client.Actions() {
				if a.GetVerb() != "update" || a.GetSubresource() != "status" {
					t.Errorf("unexpected %s %s/%s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
					continue
				}
				written = true
				got = []string{}
				for _, in := range a.(k8stesting.UpdateAction).GetObject().(*corev1.Service).Status.LoadBalancer.Ingress {
					if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
						t.Errorf("ingress %s has ipMode %v, want VIP", in.IP, in.IPMode)
					}
					got = append(got, in.IP)
				}
			}
			if written != (tc.want != nil) || (written && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("wrote %v (written=%v), want %v", got, written, tc.want)
			}
		})
	}
}

// TestRun runs the loop against a fake clientset: the status follows
// the nodes, and is cleared when the Service stops being a load
// balancer.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(node("a", true, nil, "192.168.1.11"), service(corev1.ServiceTypeLoadBalancer, nil))
	cc := controller.NewContext(client, nil, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- New(cc).Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	waitIngress := func(want ...string) {
		t.Helper()
		var got []string
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = nil
			for _, in := range svc.Status.LoadBalancer.Ingress {
				got = append(got, in.IP)
			}
			return reflect.DeepEqual(got, want), nil
		})
		if err != nil {
			t.Fatalf("ingress %v, want %v: %v", got, want, err)
		}
	}
	waitIngress("192.168.1.11")

	if _, err := client.CoreV1().Nodes().Create(ctx, node("b", true, nil, "192.168.1.10"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress("192.168.1.10", "192.168.1.11")

	if _, err := client.CoreV1().Nodes().Update(ctx, node("a", false, nil, "192.168.1.11"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress("192.168.1.10")

	svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress()
}
