package nodelifecycle

import (
	"context"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)

func node(name string, ready corev1.ConditionStatus, heartbeat time.Time, taints ...corev1.Taint) *corev1.Node {
	memory := corev1.ConditionFalse
	if ready == corev1.ConditionUnknown {
		memory = corev1.ConditionUnknown
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: memory, LastHeartbeatTime: metav1.NewTime(heartbeat)},
			{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
		}},
	}
}

func lease(name string, renew time.Time) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace}, Spec: coordinationv1.LeaseSpec{RenewTime: &r}}
}

func TestDecide(t *testing.T) {
	grace := 40 * time.Second
	cases := []struct {
		name        string
		node        *corev1.Node
		lease       *coordinationv1.Lease
		now         time.Time
		wantUnknown bool
		wantRecheck time.Duration
	}{
		{"fresh lease", node("n", corev1.ConditionTrue, t0.Add(-5*time.Minute)), lease("n", t0), t0.Add(10 * time.Second), false, 30*time.Second + time.Millisecond},
		{"lease at the limit", node("n", corev1.ConditionTrue, t0.Add(-5*time.Minute)), lease("n", t0), t0.Add(grace), false, time.Millisecond},
		{"lease overdue", node("n", corev1.ConditionTrue, t0.Add(-5*time.Minute)), lease("n", t0), t0.Add(grace + time.Second), true, 0},
		{"no lease, fresh status", node("n", corev1.ConditionTrue, t0), nil, t0.Add(time.Second), false, 39*time.Second + time.Millisecond},
		{"no lease, stale status", node("n", corev1.ConditionTrue, t0), nil, t0.Add(time.Minute), true, 0},
		{"already unknown", node("n", corev1.ConditionUnknown, t0), lease("n", t0), t0.Add(time.Hour), false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.node, tc.lease, tc.now, grace)
			if (d.Conditions != nil) != tc.wantUnknown || d.Recheck != tc.wantRecheck {
				t.Fatalf("Decide = %+v, want unknown %v, recheck %s", d, tc.wantUnknown, tc.wantRecheck)
			}
			for _, c := range d.Conditions {
				if c.Status != corev1.ConditionUnknown {
					t.Errorf("condition %s is %s", c.Type, c.Status)
				}
				if c.Type == corev1.NodeReady {
					if c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." || !c.LastTransitionTime.Time.Equal(tc.now) || !c.LastHeartbeatTime.Equal(&tc.node.Status.Conditions[1].LastHeartbeatTime) {
						t.Errorf("Ready condition %+v", c)
					}
				}
			}
		})
	}
}

func TestTaints(t *testing.T) {
	now := t0
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	unreachable := corev1.Taint{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	notReady := corev1.Taint{Key: TaintNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	unschedulable := corev1.Taint{Key: TaintUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	other := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name    string
		taints  []corev1.Taint
		ready   corev1.ConditionStatus
		cordon  bool
		want    []string
		changed bool
	}{
		{"healthy stays clean", []corev1.Taint{other}, corev1.ConditionTrue, false, []string{"dedicated"}, false},
		{"unknown adds unreachable", []corev1.Taint{other}, corev1.ConditionUnknown, false, []string{"dedicated", TaintUnreachable}, true},
		{"false adds not-ready", nil, corev1.ConditionFalse, false, []string{TaintNotReady}, true},
		{"unknown already tainted", []corev1.Taint{unreachable}, corev1.ConditionUnknown, false, []string{TaintUnreachable}, false},
		{"false replaces unreachable", []corev1.Taint{unreachable}, corev1.ConditionFalse, false, []string{TaintNotReady}, true},
		{"recovery removes both", []corev1.Taint{unreachable, other, notReady}, corev1.ConditionTrue, false, []string{"dedicated"}, true},
		{"cordon adds unschedulable", []corev1.Taint{other}, corev1.ConditionTrue, true, []string{"dedicated", TaintUnschedulable}, true},
		{"cordoned already tainted", []corev1.Taint{unschedulable}, corev1.ConditionTrue, true, []string{TaintUnschedulable}, false},
		{"uncordon removes it", []corev1.Taint{unschedulable, other}, corev1.ConditionTrue, false, []string{"dedicated"}, true},
		{"a NoExecute taint with that key is not ours", []corev1.Taint{{Key: TaintUnschedulable, Effect: corev1.TaintEffectNoExecute}}, corev1.ConditionTrue, false, []string{TaintUnschedulable}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := Taints(tc.taints, tc.ready, tc.cordon, now)
			var keys []string
			for _, g := range got {
				keys = append(keys, g.Key)
				if g.Key == TaintUnreachable && !changed && !g.TimeAdded.Equal(&earlier) {
					t.Error("existing taint's timeAdded changed")
				}
			}
			if changed != tc.changed || len(keys) != len(tc.want) {
				t.Fatalf("Taints = %v (changed %v), want %v (changed %v)", keys, changed, tc.want, tc.changed)
			}
			for i := range keys {
				if keys[i] != tc.want[i] {
					t.Fatalf("Taints = %v, want %v", keys, tc.want)
				}
			}
		})
	}
}

func TestEvictionTime(t *testing.T) {
	added := metav1.NewTime(t0)
	unreachable := corev1.Taint{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	custom := corev1.Taint{Key: "maintenance", Value: "yes", Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	secs := func(n int64) *int64 { return &n }
	def := 300 * time.Second
	cases := []struct {
		name   string
		taints []corev1.Taint
		tols   []corev1.Toleration
		evict  bool
		after  time.Duration
	}{
		{"no toleration: default", []corev1.Taint{unreachable}, nil, true, def},
		{"toleration seconds", []corev1.Taint{unreachable}, []corev1.Toleration{{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(30)}}, true, 30 * time.Second},
		{"tolerate forever", []corev1.Taint{unreachable}, []corev1.Toleration{{Key: TaintUnreachable, Operator: corev1.TolerationOpExists}}, false, 0},
		{"wildcard forever", []corev1.Taint{unreachable, custom}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, false, 0},
		{"forever and limited: limited wins", []corev1.Taint{unreachable}, []corev1.Toleration{
			{Operator: corev1.TolerationOpExists}, {Key: TaintUnreachable, Operator: corev1.TolerationOpExists, TolerationSeconds: secs(60)}}, true, time.Minute},
		{"negative seconds: at once", []corev1.Taint{unreachable}, []corev1.Toleration{{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, TolerationSeconds: secs(-5)}}, true, 0},
		{"other effect does not match", []corev1.Taint{unreachable}, []corev1.Toleration{{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, true, def},
		{"untolerated custom taint: at once", []corev1.Taint{unreachable, custom}, nil, true, 0},
		{"custom taint tolerated by value", []corev1.Taint{custom}, []corev1.Toleration{{Key: "maintenance", Value: "yes", TolerationSeconds: secs(10)}}, true, 10 * time.Second},
		{"custom taint, wrong value", []corev1.Taint{custom}, []corev1.Toleration{{Key: "maintenance", Value: "no"}}, true, 0},
		{"no taints", nil, nil, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := EvictionTime(tc.taints, tc.tols, def)
			if evict != tc.evict || (evict && !at.Equal(t0.Add(tc.after))) {
				t.Fatalf("EvictionTime = %s, %v; want %v after %s", at, evict, tc.evict, tc.after)
			}
		})
	}
}

// fixture is a controller whose caches are refreshed from a fake client
// after each reconcile, and a fake clock.
type fixture struct {
	t                   *testing.T
	c                   *Controller
	client              *fake.Clientset
	clock               *testclock.FakeClock
	nodes, leases, pods cache.Indexer
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{t: t, client: fake.NewClientset(), clock: testclock.NewFakeClock(t0)}
	f.nodes = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	f.leases = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	f.pods = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	f.c = New(f.client, informers.NewSharedInformerFactory(f.client, 0), f.clock, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler), opts)
	f.c.nodes = corelisters.NewNodeLister(f.nodes)
	f.c.leases = coordinationlisters.NewLeaseLister(f.leases)
	f.c.pods = f.pods
	return f
}

func (f *fixture) create(objs ...any) {
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Node:
			_, err = f.client.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
		case *coordinationv1.Lease:
			_, err = f.client.CoordinationV1().Leases(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = f.client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
	f.sync()
}

// sync copies the fake API's state into the caches, as informers would.
func (f *fixture) sync() {
	ctx := context.Background()
	nodes, _ := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	leases, _ := f.client.CoordinationV1().Leases(LeaseNamespace).List(ctx, metav1.ListOptions{})
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var n, l, p []any
	for i := range nodes.Items {
		n = append(n, &nodes.Items[i])
	}
	for i := range leases.Items {
		l = append(l, &leases.Items[i])
	}
	for i := range pods.Items {
		p = append(p, &pods.Items[i])
	}
	_ = f.nodes.Replace(n, "")
	_ = f.leases.Replace(l, "")
	_ = f.pods.Replace(p, "")
}

func (f *fixture) reconcile(name string) time.Duration {
	f.t.Helper()
	after, err := f.c.reconcile(context.Background(), name)
	if err != nil {
		f.t.Fatalf("reconcile %s: %v", name, err)
	}
	f.sync()
	return after
}

func (f *fixture) node(name string) *corev1.Node {
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) podNames() map[string]bool {
	pods, _ := f.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	out := map[string]bool{}
	for _, p := range pods.Items {
		out[p.Name] = true
	}
	return out
}

func pod(name, node string, tolerationSeconds *int64) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)}, Spec: corev1.PodSpec{NodeName: node}}
	if tolerationSeconds != nil {
		p.Spec.Tolerations = []corev1.Toleration{{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: tolerationSeconds}}
	}
	return p
}

// TestReconcile walks a node through failure, eviction and recovery by
// moving the fake clock.
func TestReconcile(t *testing.T) {
	f := newFixture(t, Options{GracePeriod: 40 * time.Second, DefaultToleration: 300 * time.Second})
	thirty := int64(30)
	f.create(node("n1", corev1.ConditionTrue, t0), lease("n1", t0),
		pod("default-tol", "n1", nil), pod("short-tol", "n1", &thirty), pod("elsewhere", "n2", nil))

	if after := f.reconcile("n1"); after != 40*time.Second+time.Millisecond {
		t.Fatalf("healthy node rechecked after %s", after)
	}
	if n := f.node("n1"); readyStatus(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
		t.Fatalf("healthy node changed: %+v", n)
	}

	f.clock.Step(41 * time.Second)
	after := f.reconcile("n1")
	n := f.node("n1")
	if readyStatus(n) != corev1.ConditionUnknown || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != TaintUnreachable {
		t.Fatalf("overdue node: ready %s, taints %+v", readyStatus(n), n.Spec.Taints)
	}
	if after != 30*time.Second {
		t.Fatalf("next eviction in %s, want 30s", after)
	}

	f.clock.Step(30 * time.Second)
	f.reconcile("n1")
	if got := f.podNames(); got["short-tol"] || !got["default-tol"] || !got["elsewhere"] {
		t.Fatalf("after 30s pods are %v", got)
	}

	f.clock.Step(270 * time.Second)
	f.reconcile("n1")
	if got := f.podNames(); got["default-tol"] || !got["elsewhere"] {
		t.Fatalf("after 300s pods are %v", got)
	}

	// The node comes back: its kubelet posts Ready and renews the lease.
	f.clock.Step(time.Minute)
	back := f.node("n1")
	for i := range back.Status.Conditions {
		if back.Status.Conditions[i].Type == corev1.NodeReady {
			back.Status.Conditions[i].Status = corev1.ConditionTrue
			back.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(f.clock.Now())
		}
	}
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(context.Background(), back, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.reconcile("n1")
	if n := f.node("n1"); readyStatus(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
		t.Fatalf("recovered node: ready %s, taints %+v", readyStatus(n), n.Spec.Taints)
	}
}
