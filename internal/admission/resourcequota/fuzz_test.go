package resourcequota

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzTracked parses fuzzed quota resource names: no panic, and a name
// said to count objects of a kind must be one that kind's usage can
// produce, or an object count.
func FuzzTracked(f *testing.F) {
	for _, s := range []string{"pods", "count/deployments.apps", "count/", "count/.", "gold.storageclass.storage.k8s.io/requests.storage",
		".storageclass.storage.k8s.io/", "requests.example.com/gpu", "requests.", "hugepages-", "services.nodeports"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gr, ok := Tracked(corev1.ResourceName(s))
		if !ok {
			return
		}
		if gr.Resource == "" {
			t.Fatalf("Tracked(%q) = %v with no resource", s, gr)
		}
		if strings.HasPrefix(s, "count/") && CountName(gr) != corev1.ResourceName(s) {
			t.Fatalf("Tracked(%q) = %v, whose count name is %q", s, gr, CountName(gr))
		}
	})
}

// FuzzCheck runs Check over quotas and a pod built from fuzzed quantities
// and names: no panic, and an admitted pod never leaves a charged quota
// above its hard limit.
func FuzzCheck(f *testing.F) {
	f.Add("pods", "2", "1", "500m", "requests.cpu")
	f.Add("limits.memory", "1Gi", "0", "-1", "cpu")
	f.Add("count/pods", "0", "", "1e3", "hugepages-2Mi")
	f.Fuzz(func(t *testing.T, name, hard, used, req, other string) {
		q := func(s string) (resource.Quantity, bool) {
			v, err := resource.ParseQuantity(s)
			return v, err == nil
		}
		h, ok := q(hard)
		if !ok {
			return
		}
		rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"},
			Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceName(name): h}},
			Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourceName(name): h}}}
		if u, ok := q(used); ok {
			rq.Status.Used = corev1.ResourceList{corev1.ResourceName(name): u}
		}
		reqs := corev1.ResourceList{}
		if r, ok := q(req); ok {
			reqs[corev1.ResourceCPU] = r
			reqs[corev1.ResourceName(other)] = r
		}
		p := pod("p", container("c", reqs, reqs))
		charges, err := Check([]*corev1.ResourceQuota{rq}, Pods, p, nil, now)
		if err != nil {
			return
		}
		for _, c := range charges {
			for n, v := range c.Used {
				if lim, ok := c.Quota.Status.Hard[n]; ok && v.Cmp(lim) > 0 {
					if prev, had := c.Quota.Status.Used[n]; had && prev.Cmp(v) == 0 {
						continue // already over before, and not charged more
					}
					t.Fatalf("admitted with %s=%s over hard %s", n, v.String(), lim.String())
				}
			}
		}
	})
}
