package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService(mod ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http"),
			}},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	for _, m := range mod {
		m(s)
	}
	return s
}

// testPod is a running pod of the web app on node n1 with a named port.
func testPod(name, ip string, ready bool, mod ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			PodIPs:     []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
	for _, m := range mod {
		m(p)
	}
	return p
}

func addr(name, ip string) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: ip, NodeName: new("n1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

var httpPort = []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}

func TestSubsets(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Unix(100, 0)} }
	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{
			name: "ready and not ready, sorted by IP",
			svc:  testService(),
			pods: []*corev1.Pod{testPod("b", "10.0.0.2", true), testPod("a", "10.0.0.3", true), testPod("c", "10.0.0.1", false)},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("b", "10.0.0.2"), addr("a", "10.0.0.3")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("c", "10.0.0.1")},
				Ports:             httpPort,
			}},
		},
		{
			name: "no IP, finished and deleting pods are left out",
			svc:  testService(),
			pods: []*corev1.Pod{
				testPod("a", "10.0.0.1", true),
				testPod("noip", "", true),
				testPod("done", "10.0.0.2", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				testPod("failed", "10.0.0.3", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
				testPod("gone", "10.0.0.4", true, deleting),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: httpPort}},
		},
		{
			name: "publishNotReadyAddresses puts everyone under addresses, terminating too",
			svc:  testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{testPod("a", "10.0.0.1", false), testPod("b", "10.0.0.2", true, deleting)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2")}, Ports: httpPort}},
		},
		{
			name: "named port resolved per pod; pods group by port set",
			svc: testService(func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9000, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100), AppProtocol: new("http")})
			}),
			pods: []*corev1.Pod{
				testPod("a", "10.0.0.1", true),
				testPod("b", "10.0.0.2", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8081 }),
				testPod("noname", "10.0.0.3", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }),
				testPod("udp", "10.0.0.4", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolUDP }),
			},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: []corev1.EndpointPort{
					{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, AppProtocol: new("http")}}},
				{Addresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")}, Ports: []corev1.EndpointPort{
					{Name: "http", Port: 8081, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, AppProtocol: new("http")}}},
				{Addresses: []corev1.EndpointAddress{addr("noname", "10.0.0.3"), addr("udp", "10.0.0.4")}, Ports: []corev1.EndpointPort{
					{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, AppProtocol: new("http")}}},
			},
		},
		{
			name: "hostname only under the pod's subdomain",
			svc:  testService(),
			pods: []*corev1.Pod{
				testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a-host", "web" }),
				testPod("b", "10.0.0.2", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "b-host", "other" }),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{
				func() corev1.EndpointAddress { a := addr("a", "10.0.0.1"); a.Hostname = "a-host"; return a }(),
				addr("b", "10.0.0.2"),
			}, Ports: httpPort}},
		},
		{
			name: "headless without ports lists addresses",
			svc:  testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
			pods: []*corev1.Pod{testPod("a", "10.0.0.1", true)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}}},
		},
		{
			name: "IPv6 service takes the pod's IPv6 address",
			svc:  testService(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }),
			pods: []*corev1.Pod{
				testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::1"}) }),
				testPod("v4only", "10.0.0.2", true),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "fd00::1")}, Ports: httpPort}},
		},
		{
			name: "no pods, no subsets",
			svc:  testService(),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := Subsets(tc.svc, tc.pods)
			if truncated {
				t.Error("truncated")
			}
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("subsets:\n got %+v\nwant %+v", got, tc.want)
			}
			// The same pods in another order give the same answer.
			rev := make([]*corev1.Pod, len(tc.pods))
			for i, p := range tc.pods {
				rev[len(rev)-1-i] = p
			}
			again, _ := Subsets(tc.svc, rev)
			if !apiequality.Semantic.DeepEqual(got, again) {
				t.Errorf("order-dependent:\n%+v\n%+v", got, again)
			}
		})
	}
}

func TestSubsetsTruncated(t *testing.T) {
	var pods []*corev1.Pod
	for i := range 1100 {
		pods = append(pods, testPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250), i%10 != 0))
	}
	got, truncated := Subsets(testService(), pods)
	if !truncated {
		t.Fatal("not truncated")
	}
	ready, notReady := 0, 0
	for _, s := range got {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	// 990 ready pods all fit; the 110 not ready share the last 10 places.
	if ready != 990 || notReady != 10 {
		t.Errorf("kept %d ready, %d not ready; want 990, 10", ready, notReady)
	}
}

func TestUpToDate(t *testing.T) {
	svc := testService()
	subsets, _ := Subsets(svc, []*corev1.Pod{testPod("a", "10.0.0.1", true)})
	cur := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"team": "a"},
			Annotations: map[string]string{TriggerTimeAnnotation: "2020-01-01T00:00:00Z"}},
		Subsets: subsets,
	}
	if !upToDate(cur, svc, subsets, false) {
		t.Error("identical content should need no write")
	}
	if upToDate(cur, svc, subsets, true) {
		t.Error("newly truncated content should be written")
	}
	svc.Labels["team"] = "b"
	if upToDate(cur, svc, subsets, false) {
		t.Error("changed Service labels should be written")
	}
}
