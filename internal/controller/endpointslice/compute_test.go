package endpointslice

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func sliceService(mod ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	for _, m := range mod {
		m(s)
	}
	return s
}

func slicePod(name, ip string, ready bool, mod ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	for _, m := range mod {
		m(p)
	}
	return p
}

func zoneA(string) string { return "zone-a" }

func terminating(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Unix(100, 0)} }

// onlyGroup returns the single group of d.
func onlyGroup(t *testing.T, d map[string]*Group) *Group {
	t.Helper()
	if len(d) != 1 {
		t.Fatalf("%d groups, want 1", len(d))
	}
	for _, g := range d {
		return g
	}
	return nil
}

func TestDesiredConditions(t *testing.T) {
	type cond struct{ ready, serving, terminating bool }
	cases := []struct {
		name string
		svc  *corev1.Service
		pod  *corev1.Pod
		want *cond // nil: no endpoint
	}{
		{"ready", sliceService(), slicePod("a", "10.0.0.1", true), &cond{true, true, false}},
		{"not ready", sliceService(), slicePod("a", "10.0.0.1", false), &cond{false, false, false}},
		{"ready and terminating still serves", sliceService(), slicePod("a", "10.0.0.1", true, terminating), &cond{false, true, true}},
		{"not ready and terminating", sliceService(), slicePod("a", "10.0.0.1", false, terminating), &cond{false, false, true}},
		{"publishNotReadyAddresses", sliceService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			slicePod("a", "10.0.0.1", false, terminating), &cond{true, true, true}},
		{"no IP", sliceService(), slicePod("a", "", true), nil},
		{"finished", sliceService(), slicePod("a", "10.0.0.1", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), nil},
		{"named port missing", sliceService(), slicePod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Desired(tc.svc, []*corev1.Pod{tc.pod}, zoneA)
			if tc.want == nil {
				if len(d) != 0 {
					t.Fatalf("got %d groups, want none", len(d))
				}
				return
			}
			ep := onlyGroup(t, d).Endpoints["a"]
			c := ep.Conditions
			if got := (cond{*c.Ready, *c.Serving, *c.Terminating}); got != *tc.want {
				t.Errorf("conditions %+v, want %+v", got, *tc.want)
			}
			if ep.Zone == nil || *ep.Zone != "zone-a" || ep.NodeName == nil || *ep.NodeName != "n1" {
				t.Errorf("zone %v node %v", ep.Zone, ep.NodeName)
			}
			if ep.TargetRef == nil || ep.TargetRef.UID != "uid-a" || ep.Addresses[0] != "10.0.0.1" {
				t.Errorf("endpoint %+v", ep)
			}
		})
	}
}

func TestDesiredGroups(t *testing.T) {
	svc := sliceService(func(s *corev1.Service) {
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	})
	pods := []*corev1.Pod{
		slicePod("a", "10.0.0.1", true),
		slicePod("b", "10.0.0.2", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }),
		slicePod("c", "10.0.0.3", true, func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::3"}) }),
	}
	d := Desired(svc, pods, zoneA)
	sizes := map[string]int{}
	for k, g := range d {
		sizes[k] = len(g.Endpoints)
	}
	want := map[string]int{"IPv4|http/8080/TCP,": 2, "IPv4|http/9090/TCP,": 1, "IPv6|http/8080/TCP,": 1}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("groups %v, want %v", sizes, want)
	}
}

// applyChanges plays the API server: it returns the slices after ch.
func applyChanges(t *testing.T, existing []*discoveryv1.EndpointSlice, ch Changes, seq *int) []*discoveryv1.EndpointSlice {
	t.Helper()
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range ch.Delete {
		delete(byName, s.Name)
	}
	for _, s := range ch.Update {
		if _, ok := byName[s.Name]; !ok {
			t.Fatalf("update of unknown slice %s", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range ch.Create {
		s = s.DeepCopy()
		*seq++
		s.Name = s.GenerateName + strconv.Itoa(*seq)
		byName[s.Name] = s
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range byName {
		out = append(out, s)
	}
	return out
}

func countEndpoints(slices []*discoveryv1.EndpointSlice) (total, ready int) {
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			total++
			if *ep.Conditions.Ready {
				ready++
			}
		}
	}
	return total, ready
}

func TestPlan(t *testing.T) {
	svc := sliceService(func(s *corev1.Service) { s.Labels = map[string]string{"team": "a"} })
	var pods []*corev1.Pod
	for i := range 250 {
		pods = append(pods, slicePod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, i%200+1), true))
	}
	seq := 0
	plan := func(pods []*corev1.Pod, slices []*discoveryv1.EndpointSlice) Changes {
		return Plan(svc, Desired(svc, pods, zoneA), slices, MaxEndpointsPerSlice)
	}

	// 250 endpoints need three slices of at most 100.
	ch := plan(pods, nil)
	if len(ch.Create) != 3 || len(ch.Update)+len(ch.Delete) != 0 {
		t.Fatalf("first plan: %d creates %d updates %d deletes", len(ch.Create), len(ch.Update), len(ch.Delete))
	}
	for _, s := range ch.Create {
		if len(s.Endpoints) > MaxEndpointsPerSlice || s.AddressType != discoveryv1.AddressTypeIPv4 ||
			s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["team"] != "a" ||
			s.GenerateName != "web-" || metav1.GetControllerOf(s) == nil || metav1.GetControllerOf(s).UID != "svc-uid" {
			t.Fatalf("bad slice %+v", s.ObjectMeta)
		}
		if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
			t.Fatalf("ports %+v", s.Ports)
		}
	}
	slices := applyChanges(t, nil, ch, &seq)
	if n, _ := countEndpoints(slices); n != 250 {
		t.Fatalf("%d endpoints, want 250", n)
	}

	// Stable: nothing changed, nothing written.
	if ch := plan(pods, slices); !ch.Empty() {
		t.Fatalf("second plan not empty: %+v", ch)
	}

	// One pod turns not ready: one slice is updated, no other.
	pods[7] = slicePod("p007", pods[7].Status.PodIP, false)
	ch = plan(pods, slices)
	if len(ch.Update) != 1 || len(ch.Create)+len(ch.Delete) != 0 {
		t.Fatalf("readiness change: %d creates %d updates %d deletes", len(ch.Create), len(ch.Update), len(ch.Delete))
	}
	slices = applyChanges(t, slices, ch, &seq)
	if n, ready := countEndpoints(slices); n != 250 || ready != 249 {
		t.Fatalf("%d endpoints %d ready, want 250, 249", n, ready)
	}
	if ch := plan(pods, slices); !ch.Empty() {
		t.Fatalf("plan after update not empty")
	}

	// A new pod goes into a slice with room, not a new slice.
	pods = append(pods, slicePod("p999", "10.0.9.9", true))
	ch = plan(pods, slices)
	if len(ch.Update) != 1 || len(ch.Create)+len(ch.Delete) != 0 {
		t.Fatalf("new pod: %d creates %d updates %d deletes", len(ch.Create), len(ch.Update), len(ch.Delete))
	}
	slices = applyChanges(t, slices, ch, &seq)

	// A slice of another manager is left alone; one owned by an older
	// Service of the same name is deleted.
	foreign := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: "old-uid", Controller: new(true)}}},
		AddressType: discoveryv1.AddressTypeIPv4}
	ch = plan(pods, append(slices, foreign))
	if len(ch.Delete) != 1 || ch.Delete[0].Name != "old" || len(ch.Create)+len(ch.Update) != 0 {
		t.Fatalf("stale owner: %d creates %d updates %d deletes", len(ch.Create), len(ch.Update), len(ch.Delete))
	}

	// Scaling to zero leaves one empty placeholder slice.
	ch = plan(nil, slices)
	slices = applyChanges(t, slices, ch, &seq)
	if len(slices) != 1 || len(slices[0].Endpoints) != 0 || len(slices[0].Ports) != 0 {
		t.Fatalf("after scale to zero: %d slices", len(slices))
	}
	if ch := plan(nil, slices); !ch.Empty() {
		t.Fatalf("placeholder plan not empty")
	}

	// Back up: the placeholder goes, pods land in a fresh slice.
	ch = plan(pods[:3], slices)
	slices = applyChanges(t, slices, ch, &seq)
	if n, _ := countEndpoints(slices); len(slices) != 1 || n != 3 {
		t.Fatalf("after scale up: %d slices with %d endpoints", len(slices), n)
	}
}

func TestPlanPlaceholderForNewService(t *testing.T) {
	ch := Plan(sliceService(), nil, nil, MaxEndpointsPerSlice)
	if len(ch.Create) != 1 || len(ch.Create[0].Endpoints) != 0 || ch.Create[0].AddressType != discoveryv1.AddressTypeIPv4 {
		t.Fatalf("want one empty IPv4 slice, got %+v", ch)
	}
}
