package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// fuzzPods builds pods from data: each byte is one pod, its bits choosing
// readiness, termination, IP family, port and whether it has an IP.
func fuzzPods(data []byte) []*corev1.Pod {
	var pods []*corev1.Pod
	for i, b := range data {
		name := fmt.Sprintf("p%04d", i)
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256)
		if b&4 != 0 {
			ip = fmt.Sprintf("fd00::%x", i+1)
		}
		p := slicePod(name, ip, b&1 != 0)
		if b&2 != 0 {
			terminating(p)
		}
		if b&8 != 0 {
			p.Spec.Containers[0].Ports[0].ContainerPort = 9090
		}
		if b&16 != 0 {
			p.Spec.Containers[0].Ports = nil
		}
		if b&32 != 0 {
			p.Status.PodIP, p.Status.PodIPs = "", nil
		}
		pods = append(pods, p)
	}
	return pods
}

// FuzzPlan checks Plan's invariants: from any starting slices, one plan
// reaches the desired endpoints, in slices no larger than the limit, and
// a second plan writes nothing.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{1, 1, 1}, []byte{}, uint8(3))
	f.Add([]byte{1, 0, 3, 5, 9, 17, 33}, []byte{1, 1, 1, 1, 1, 1, 1, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, before, after []byte, max uint8) {
		limit := int(max%8) + 1
		svc := sliceService(func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		})
		seq := 0
		var slices []*discoveryv1.EndpointSlice
		for _, data := range [][]byte{before, after} {
			desired := Desired(svc, fuzzPods(data), zoneA)
			slices = applyChanges(t, slices, Plan(svc, desired, slices, limit), &seq)
			want := 0
			for _, g := range desired {
				want += len(g.Endpoints)
			}
			got := map[string]bool{}
			for _, s := range slices {
				if len(s.Endpoints) > limit {
					t.Fatalf("slice %s holds %d endpoints, limit %d", s.Name, len(s.Endpoints), limit)
				}
				for _, ep := range s.Endpoints {
					k := string(s.AddressType) + "/" + ep.TargetRef.Name
					if got[k] {
						t.Fatalf("endpoint %s twice", k)
					}
					got[k] = true
				}
			}
			if len(got) != want {
				t.Fatalf("%d endpoints in slices, want %d", len(got), want)
			}
			if want == 0 && len(slices) != 1 {
				t.Fatalf("no endpoints but %d slices, want one placeholder", len(slices))
			}
			if ch := Plan(svc, desired, slices, limit); !ch.Empty() {
				t.Fatalf("second plan writes: %d creates %d updates %d deletes", len(ch.Create), len(ch.Update), len(ch.Delete))
			}
		}
	})
}
