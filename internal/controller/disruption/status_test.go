package disruption

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
)

const ns = "default"

func ptr[T any](v T) *T { return &v }

// pdbPod is a pod controlled by owner (kind/name, uid = name), ready or not.
func pdbPod(name, kind, owner string, ready bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}}}
	if kind != "" {
		apiVersion := "apps/v1"
		if kind == "ReplicationController" {
			apiVersion = "v1"
		}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: owner, UID: types.UID(owner), Controller: ptr(true)}}
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}
	return p
}

func deleting(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	return p
}

// testScales holds ReplicaSet rs-a (3 replicas, of Deployment dep, 5
// replicas), ReplicaSet rs-b (4 replicas, no owner) and StatefulSet db
// (2 replicas).
func testScales(t *testing.T) scales {
	t.Helper()
	rsIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	dIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	ssIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	add := func(idx cache.Indexer, obj any) {
		if err := idx.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	add(dIdx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dep", Namespace: ns, UID: "dep"}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(5))}})
	add(rsIdx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs-a", Namespace: ns, UID: "rs-a",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "dep", UID: "dep", Controller: ptr(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3))}})
	add(rsIdx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs-b", Namespace: ns, UID: "rs-b"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(4))}})
	add(ssIdx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, UID: "db"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(2))}})
	return scales{rs: appslisters.NewReplicaSetLister(rsIdx), deploy: appslisters.NewDeploymentLister(dIdx), sts: appslisters.NewStatefulSetLister(ssIdx)}
}

func TestCompute(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	sc := testScales(t)
	rsb := func(name string, ready bool) *corev1.Pod { return pdbPod(name, "ReplicaSet", "rs-b", ready) }
	minInt := func(n int) policyv1.PodDisruptionBudgetSpec {
		return policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(int32(n)))}
	}
	minPct := func(p string) policyv1.PodDisruptionBudgetSpec {
		return policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString(p))}
	}
	maxInt := func(n int) policyv1.PodDisruptionBudgetSpec {
		return policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(int32(n)))}
	}
	maxPct := func(p string) policyv1.PodDisruptionBudgetSpec {
		return policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString(p))}
	}
	cases := []struct {
		name                                string
		spec                                policyv1.PodDisruptionBudgetSpec
		disrupted                           map[string]metav1.Time
		pods                                []*corev1.Pod
		expected, desired, current, allowed int32
		kept                                []string
		recheck                             time.Duration
		unmanaged                           int
		err                                 string
	}{
		{name: "minAvailable int counts pods", spec: minInt(2),
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", true), rsb("c", true)},
			expected: 3, desired: 2, current: 3, allowed: 1},
		{name: "minAvailable int ignores controllers", spec: minInt(1),
			pods:     []*corev1.Pod{pdbPod("a", "", "", true), pdbPod("b", "Foo", "x", true)},
			expected: 2, desired: 1, current: 2, allowed: 1},
		{name: "unready and deleting pods are not healthy", spec: minInt(2),
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", false), deleting(rsb("c", true))},
			expected: 3, desired: 2, current: 1, allowed: 0},
		{name: "minAvailable percent of scale rounds up", spec: minPct("50%"),
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", true), rsb("c", true)},
			expected: 4, desired: 2, current: 3, allowed: 1},
		{name: "maxUnavailable int", spec: maxInt(1),
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", true), rsb("c", true), rsb("d", true)},
			expected: 4, desired: 3, current: 4, allowed: 1},
		{name: "maxUnavailable percent rounds up", spec: maxPct("30%"),
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", true), rsb("c", false), rsb("d", true)},
			expected: 4, desired: 2, current: 3, allowed: 1},
		{name: "maxUnavailable larger than scale", spec: maxInt(9),
			pods:     []*corev1.Pod{rsb("a", true)},
			expected: 4, desired: 0, current: 1, allowed: 1},
		{name: "deployment scale through its replicaset", spec: maxInt(1),
			pods:     []*corev1.Pod{pdbPod("a", "ReplicaSet", "rs-a", true), pdbPod("b", "ReplicaSet", "rs-a", true)},
			expected: 5, desired: 4, current: 2, allowed: 0},
		{name: "controllers' scales add up once each", spec: maxInt(2),
			pods: []*corev1.Pod{pdbPod("a", "StatefulSet", "db", true), pdbPod("b", "StatefulSet", "db", true),
				rsb("c", true), pdbPod("d", "ReplicaSet", "rs-a", true)},
			expected: 11, desired: 9, current: 4, allowed: 0},
		{name: "pods without a controller add no scale", spec: maxInt(1),
			pods:     []*corev1.Pod{pdbPod("a", "StatefulSet", "db", true), pdbPod("b", "StatefulSet", "db", true), pdbPod("c", "", "", true)},
			expected: 2, desired: 1, current: 3, allowed: 2, unmanaged: 1},
		{name: "no pods allows nothing", spec: maxInt(1), expected: 0, desired: 0, current: 0, allowed: 0},
		{name: "unknown controller fails", spec: maxInt(1),
			pods: []*corev1.Pod{pdbPod("a", "Foo", "x", true)},
			err:  `found no controllers for pod "a"`},
		{name: "missing replicaset fails", spec: minPct("10%"),
			pods: []*corev1.Pod{pdbPod("a", "ReplicaSet", "gone", true)},
			err:  `found no controllers for pod "a"`},
		{name: "replication controller not served", spec: maxInt(1),
			pods: []*corev1.Pod{pdbPod("a", "ReplicationController", "rc", true)},
			err:  `found no controllers for pod "a"`},
		{name: "disrupted pods are not healthy until they expire", spec: minInt(1),
			disrupted: map[string]metav1.Time{
				"a":    metav1.NewTime(now.Add(-30 * time.Second)),
				"b":    metav1.NewTime(now.Add(-3 * time.Minute)),
				"c":    metav1.NewTime(now.Add(-10 * time.Second)),
				"gone": metav1.NewTime(now),
			},
			pods:     []*corev1.Pod{rsb("a", true), rsb("b", true), deleting(rsb("c", true)), rsb("d", true)},
			expected: 4, desired: 1, current: 2, allowed: 1,
			kept: []string{"a"}, recheck: 90 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: ns, Generation: 2},
				Spec:       tc.spec,
				Status:     policyv1.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted},
			}
			b, err := compute(pdb, tc.pods, sc.of, clk.Now())
			st := nextStatus(pdb, b, err)
			cond := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			if cond == nil {
				t.Fatal("no DisruptionAllowed condition")
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if cond.Status != metav1.ConditionFalse || cond.Reason != reasonSyncFailed || cond.Message != err.Error() || st.DisruptionsAllowed != 0 {
					t.Errorf("failed sync: condition %+v, allowed %d", cond, st.DisruptionsAllowed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.ExpectedPods != tc.expected || st.DesiredHealthy != tc.desired || st.CurrentHealthy != tc.current || st.DisruptionsAllowed != tc.allowed {
				t.Errorf("expected/desired/current/allowed = %d/%d/%d/%d, want %d/%d/%d/%d",
					st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy, st.DisruptionsAllowed, tc.expected, tc.desired, tc.current, tc.allowed)
			}
			if st.ObservedGeneration != 2 {
				t.Errorf("observedGeneration = %d, want 2", st.ObservedGeneration)
			}
			wantStatus, wantReason := metav1.ConditionTrue, reasonSufficientPods
			if tc.allowed == 0 {
				wantStatus, wantReason = metav1.ConditionFalse, reasonInsufficientPods
			}
			if cond.Status != wantStatus || cond.Reason != wantReason {
				t.Errorf("condition %s/%s, want %s/%s", cond.Status, cond.Reason, wantStatus, wantReason)
			}
			if len(st.DisruptedPods) != len(tc.kept) {
				t.Errorf("disruptedPods = %v, want %v", st.DisruptedPods, tc.kept)
			}
			for _, k := range tc.kept {
				if _, ok := st.DisruptedPods[k]; !ok {
					t.Errorf("disruptedPods = %v, want %v", st.DisruptedPods, tc.kept)
				}
			}
			if b.unmanaged != tc.unmanaged {
				t.Errorf("unmanaged = %d, want %d", b.unmanaged, tc.unmanaged)
			}
			var wantRecheck time.Time
			if tc.recheck > 0 {
				wantRecheck = now.Add(tc.recheck)
			}
			if !b.recheck.Equal(wantRecheck) {
				t.Errorf("recheck = %v, want %v", b.recheck, wantRecheck)
			}
		})
	}
}

// TestDisruptedPodExpiry moves the fake clock past the deletion timeout
// and checks that the entry stops holding the pod out of currentHealthy.
func TestDisruptedPodExpiry(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: ns, Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1))},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptedPods: map[string]metav1.Time{"a": metav1.NewTime(t0)}},
	}
	pods := []*corev1.Pod{pdbPod("a", "", "", true), pdbPod("b", "", "", true)}
	for _, step := range []struct {
		advance time.Duration
		current int32
		kept    int
	}{{0, 1, 1}, {deletionTimeout - time.Second, 1, 1}, {time.Second, 2, 0}} {
		clk.Step(step.advance)
		b, err := compute(pdb, pods, nil, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if b.current != step.current || len(b.disrupted) != step.kept {
			t.Errorf("at +%v: current %d, kept %v; want %d, %d entries", clk.Since(t0), b.current, b.disrupted, step.current, step.kept)
		}
	}
}

func TestSelects(t *testing.T) {
	set := map[string]string{"app": "web"}
	cases := []struct {
		name string
		sel  *metav1.LabelSelector
		want bool
	}{
		{"nil matches nothing", nil, false},
		{"empty matches everything", &metav1.LabelSelector{}, true},
		{"match", &metav1.LabelSelector{MatchLabels: set}, true},
		{"no match", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{Selector: tc.sel}}
			if got := selects(pdb, set); got != tc.want {
				t.Errorf("selects = %v, want %v", got, tc.want)
			}
		})
	}
}
