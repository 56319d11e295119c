package statefulset

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller"
)

// stsController returns a controller over a fake client holding objs,
// with its caches filled, recording events in the returned recorder.
func stsController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c := &Controller{
		client:      client,
		recorder:    rec,
		clock:       clocktesting.NewFakeClock(stsNow),
		log:         slog.New(slog.DiscardHandler),
		setLister:   inf.Apps().V1().StatefulSets().Lister(),
		podLister:   inf.Core().V1().Pods().Lister(),
		claimLister: inf.Core().V1().PersistentVolumeClaims().Lister(),
		revLister:   inf.Apps().V1().ControllerRevisions().Lister(),
		queue:       controller.NewQueue("statefulset-test"),
	}
	c.exp = controller.NewExpectations(c.clock)
	synced := []cache.InformerSynced{
		inf.Apps().V1().StatefulSets().Informer().HasSynced,
		inf.Core().V1().Pods().Informer().HasSynced,
		inf.Core().V1().PersistentVolumeClaims().Informer().HasSynced,
		inf.Apps().V1().ControllerRevisions().Informer().HasSynced,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		t.Fatal("caches did not sync")
	}
	return c, client, rec
}

func stsEvents(rec *record.FakeRecorder) []string {
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

// A first reconcile records the template as revision 1, creates the
// claim and then web-0, and says so in events and status.
func TestReconcileCreatesFirstPod(t *testing.T) {
	set := stsClaimSet(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	set.Spec.VolumeClaimTemplates = set.Spec.VolumeClaimTemplates[:1]
	set.Generation = 1
	c, client, rec := stsController(t, set)
	if err := c.reconcile(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pods, _ := client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 1 || pods.Items[0].Name != "web-0" {
		t.Fatalf("pods after the first reconcile: %v", pods.Items)
	}
	revs, _ := client.AppsV1().ControllerRevisions("ns").List(ctx, metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Revision != 1 || pods.Items[0].Labels["controller-revision-hash"] != revs.Items[0].Name {
		t.Fatalf("revisions %v for pod labels %v", revs.Items, pods.Items[0].Labels)
	}
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data-web-0", metav1.GetOptions{}); err != nil {
		t.Errorf("claim: %v", err)
	}
	got, _ := client.AppsV1().StatefulSets("ns").Get(ctx, "web", metav1.GetOptions{})
	if st := got.Status; st.ObservedGeneration != 1 || st.Replicas != 0 || st.UpdateRevision != revs.Items[0].Name || st.CurrentRevision != st.UpdateRevision {
		t.Errorf("status %+v", st)
	}
	events := strings.Join(stsEvents(rec), "\n")
	for _, want := range []string{
		"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful",
	} {
		if !strings.Contains(events, want) {
			t.Errorf("event %q missing from:\n%s", want, events)
		}
	}
}

// A refused pod creation is reported as a FailedCreate event on the set
// and retried; with the Parallel policy the slow start stops after the
// first refusal.
func TestReconcileFailedCreate(t *testing.T) {
	set := stsSet(5, parallel, func(s *appsv1.StatefulSet) {
		s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		s.Spec.Template.Labels = map[string]string{"app": "web"}
	})
	c, client, rec := stsController(t, set)
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	err := c.reconcile(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("reconcile: %v, want the create error", err)
	}
	events := strings.Join(stsEvents(rec), "\n")
	if want := "Warning FailedCreate create Pod web-0 in StatefulSet web failed error: quota exceeded"; !strings.Contains(events, want) {
		t.Errorf("event %q missing from:\n%s", want, events)
	}
	if !c.exp.Satisfied("ns/web") {
		t.Error("a failed create is still expected")
	}
	creates := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("%d pod creations tried, want 1", creates)
	}
}

// While the set is being deleted nothing is created.
func TestReconcileDeletingSet(t *testing.T) {
	set := stsSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		s.Spec.Template.Labels = map[string]string{"app": "web"}
		now := metav1.NewTime(stsNow)
		s.DeletionTimestamp = &now
		s.Finalizers = []string{"foregroundDeletion"}
	})
	c, client, _ := stsController(t, set)
	if err := c.reconcile(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("%s %s while the set is being deleted", a.GetVerb(), a.GetResource().Resource)
		}
	}
}
