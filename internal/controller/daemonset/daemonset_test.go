package daemonset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/history"
)

// dsTestController returns a controller over a fake clientset whose
// listers hold objs, and the recorder its events go to.
func dsTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	var named atomic.Int32
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok && p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, named.Add(1))
		}
		return false, nil, nil // the fake does not generate names
	})
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	dss, pods, nodes, revs := idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *appsv1.DaemonSet:
			err = dss.Add(o)
		case *corev1.Pod:
			err = pods.Add(o)
		case *corev1.Node:
			err = nodes.Add(o)
		case *appsv1.ControllerRevision:
			err = revs.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(100)
	c := &Controller{
		client:     client,
		recorder:   rec,
		clock:      clk,
		log:        nil,
		dsLister:   appslisters.NewDaemonSetLister(dss),
		podLister:  corelisters.NewPodLister(pods),
		nodeLister: corelisters.NewNodeLister(nodes),
		revLister:  appslisters.NewControllerRevisionLister(revs),
		queue:      controller.NewQueue("daemonset-test"),
		creates:    controller.NewExpectations(clk),
		deletes:    controller.NewExpectations(clk),
		backoff:    newBackoff(),
	}
	return c, client, rec
}

func testDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 2},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func drainEvents(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestReconcileCreatesPinnedPods(t *testing.T) {
	c, client, rec := dsTestController(t, testDaemonSet(), node("n1", nil), node("n2", nil),
		node("n3", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}))
	if err := c.reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	pods, err := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 1 || revs.Items[0].Revision != 1 || revs.Items[0].Labels["app"] != "agent" {
		t.Fatalf("revisions = %+v", revs.Items)
	}
	hash := revs.Items[0].Labels["controller-revision-hash"]
	targets := map[string]bool{}
	for _, p := range pods.Items {
		targets[targetNode(&p)] = true
		if p.Spec.NodeName != "" {
			t.Errorf("pod %s bound by the controller", p.Name)
		}
		if p.Labels["controller-revision-hash"] != hash || p.Labels["pod-template-generation"] != "2" {
			t.Errorf("pod labels %v, want hash %s", p.Labels, hash)
		}
	}
	if len(pods.Items) != 2 || !targets["n1"] || !targets["n2"] {
		t.Errorf("pods for %v, want n1 and n2", targets)
	}
	ds, err := client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The listers did not see the creates yet: the status reports the
	// state the reconcile started from.
	if st := ds.Status; st.ObservedGeneration != 2 || st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 0 || st.NumberUnavailable != 2 {
		t.Errorf("status = %+v", st)
	}
	events := drainEvents(rec)
	if len(events) != 2 || !strings.HasPrefix(events[0], "Normal SuccessfulCreate Created pod: ") {
		t.Errorf("events = %q", events)
	}
	// Until the creates are observed, a second pass creates nothing.
	if err := c.reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	if pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{}); len(pods.Items) != 2 {
		t.Errorf("second pass made %d pods, want still 2", len(pods.Items))
	}
}

func TestReconcileFailedCreate(t *testing.T) {
	c, client, rec := dsTestController(t, testDaemonSet(), node("n1", nil), node("n2", nil), node("n3", nil), node("n4", nil))
	attempts := 0
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		attempts++
		return true, nil, errors.New("quota exceeded")
	})
	if err := c.reconcile(context.Background(), "ns/agent"); err == nil {
		t.Fatal("reconcile succeeded, want the create error")
	}
	if attempts != 1 {
		t.Errorf("%d create attempts, want 1 (slow start)", attempts)
	}
	events := drainEvents(rec)
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning FailedCreate Error creating: ") {
		t.Errorf("events = %q", events)
	}
	if !c.creates.Satisfied("ns/agent") {
		t.Error("failed creates are still expected")
	}
}

func TestReconcileHashCollision(t *testing.T) {
	ds := testDaemonSet()
	data, err := history.Data(&ds.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	var zero int32
	squatter := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-" + history.Hash(data, &zero), Namespace: "ns"},
		Data:       runtime.RawExtension{Raw: []byte(`{"other":true}`)},
		Revision:   1,
	}
	c, client, _ := dsTestController(t, ds, node("n1", nil), squatter)
	if err := c.reconcile(context.Background(), "ns/agent"); err == nil {
		t.Fatal("reconcile succeeded over a revision name taken by other content")
	}
	got, err := client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.CollisionCount == nil || *got.Status.CollisionCount != 1 {
		t.Fatalf("collisionCount = %v, want 1", got.Status.CollisionCount)
	}
	if pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("%d pods created without a revision", len(pods.Items))
	}

	// With the count persisted the revision gets another name.
	c, client, _ = dsTestController(t, got, node("n1", nil), squatter)
	if err := c.reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	revs, _ := client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 2 || len(pods.Items) != 1 {
		t.Fatalf("%d revisions and %d pods, want 2 and 1", len(revs.Items), len(pods.Items))
	}
	if h := pods.Items[0].Labels["controller-revision-hash"]; h == "" || "agent-"+h == squatter.Name {
		t.Errorf("pod hash %q, want the new revision's", h)
	}
}

func TestReconcileDeletesPodsOfGoneNodes(t *testing.T) {
	ds := testDaemonSet()
	gone := newPod(ds, "h", "2", "n9")
	gone.Name, gone.UID = "agent-gone", "pod-uid"
	gone.Spec.NodeName = "n9"
	c, client, rec := dsTestController(t, ds, gone)
	if err := c.reconcile(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	if pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("pods left: %d", len(pods.Items))
	}
	if events := drainEvents(rec); len(events) != 1 || events[0] != "Normal SuccessfulDelete Deleted pod: agent-gone" {
		t.Errorf("events = %q", events)
	}
	got, _ := client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if st := got.Status; st.DesiredNumberScheduled != 0 || st.NumberMisscheduled != 0 {
		t.Errorf("status = %+v", st)
	}
}
