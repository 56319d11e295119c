package noderestriction

import (
	"slices"
	"strings"
	"testing"
)

// FuzzForbiddenLabels splits fuzzed text into label keys: the keys a node
// may not touch come back sorted and once each, the same whichever side
// of the change they are on, and none when nothing changed.
func FuzzForbiddenLabels(f *testing.F) {
	f.Add("kubernetes.io/hostname,node-restriction.kubernetes.io/a", "node-role.kubernetes.io/x,example.com/y")
	f.Add("a.k8s.io/b,kubelet.kubernetes.io/c,x.node.kubernetes.io/d", "")
	f.Add("/,//,k8s.io,kubernetes.io/", "node-restriction.kubernetes.io/")
	f.Fuzz(func(t *testing.T, a, b string) {
		m := func(s string) map[string]string {
			out := map[string]string{}
			for _, k := range strings.Split(s, ",") {
				out[k] = "v"
			}
			return out
		}
		now, old := m(a), m(b)
		if got := forbiddenLabels(now, now); len(got) != 0 {
			t.Fatalf("unchanged labels refused: %v", got)
		}
		ab, ba := forbiddenLabels(now, old), forbiddenLabels(old, now)
		if !slices.Equal(ab, ba) {
			t.Fatalf("asymmetric: %v vs %v", ab, ba)
		}
		if !slices.IsSorted(ab) || len(slices.Compact(slices.Clone(ab))) != len(ab) {
			t.Fatalf("not sorted and unique: %v", ab)
		}
		for _, k := range ab {
			if !isForbiddenLabel(k) {
				t.Fatalf("%q reported but allowed", k)
			}
			if !strings.Contains(k, "k8s.io/") && !strings.Contains(k, "kubernetes.io/") {
				t.Fatalf("%q is outside the reserved domains", k)
			}
		}
	})
}
