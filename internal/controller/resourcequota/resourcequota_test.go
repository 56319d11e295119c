package resourcequota

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller"
)

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "ns"} }

func pod(name string, phase corev1.PodPhase, req corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: meta(name),
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}},
		Status: corev1.PodStatus{Phase: phase}}
}

func TestReconcile(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objects := []runtime.Object{
		pod("running", corev1.PodRunning, list("cpu", "250m")),
		pod("besteffort", corev1.PodPending, nil),
		pod("done", corev1.PodSucceeded, list("cpu", "1")),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}},
		&corev1.Service{ObjectMeta: meta("np"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}},
		&corev1.Service{ObjectMeta: meta("ip")},
		&corev1.PersistentVolumeClaim{ObjectMeta: meta("c"), Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "1Gi")}}},
	}
	cases := []struct {
		name  string
		quota *corev1.ResourceQuota
		want  *corev1.ResourceQuotaStatus // nil: no write
	}{
		{name: "new quota gets hard and used",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "10", "count/pods", "10", "requests.cpu", "2")}},
			want:  &corev1.ResourceQuotaStatus{Hard: list("pods", "10", "count/pods", "10", "requests.cpu", "2"), Used: list("pods", "2", "count/pods", "3", "requests.cpu", "250m")}},
		{name: "overcharge corrected",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "10")},
				Status: corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "5")}},
			want: &corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "2")}},
		{name: "up to date, nothing written",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "10")},
				Status: corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "2")}}},
		{name: "best-effort scope",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "10"),
				Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}},
			want: &corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "1")}},
		{name: "services and claims",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("services", "5", "services.nodeports", "5", "requests.storage", "10Gi", "persistentvolumeclaims", "3")}},
			want: &corev1.ResourceQuotaStatus{Hard: list("services", "5", "services.nodeports", "5", "requests.storage", "10Gi", "persistentvolumeclaims", "3"),
				Used: list("services", "2", "services.nodeports", "2", "requests.storage", "1Gi", "persistentvolumeclaims", "1")}},
		{name: "names nothing counts and kinds not served stay without usage",
			quota: &corev1.ResourceQuota{ObjectMeta: meta("q"), Spec: corev1.ResourceQuotaSpec{Hard: list("bogus", "1", "count/widgets.example.com", "1", "pods", "3")}},
			want:  &corev1.ResourceQuotaStatus{Hard: list("bogus", "1", "count/widgets.example.com", "1", "pods", "3"), Used: list("pods", "2")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.quota)
			idx := func() cache.Indexer {
				return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			}
			qIdx, podIdx, svcIdx, pvcIdx := idx(), idx(), idx(), idx()
			_ = qIdx.Add(tc.quota)
			for _, o := range objects {
				switch o.(type) {
				case *corev1.Pod:
					_ = podIdx.Add(o)
				case *corev1.Service:
					_ = svcIdx.Add(o)
				case *corev1.PersistentVolumeClaim:
					_ = pvcIdx.Add(o)
				}
			}
			clk := clocktesting.NewFakeClock(now)
			c := &Controller{
				ctx: &controller.Context{Clock: clk}, client: client,
				quotas: corelisters.NewResourceQuotaLister(qIdx), pods: corelisters.NewPodLister(podIdx),
				svcs: corelisters.NewServiceLister(svcIdx), pvcs: corelisters.NewPersistentVolumeClaimLister(pvcIdx),
				counts: newCounter(context.Background(), client.Discovery(), nil, clk, nil),
			}
			if err := c.reconcile(context.Background(), "ns/q"); err != nil {
				t.Fatal(err)
			}
			var wrote *corev1.ResourceQuota
			for _, a := range client.Actions() {
				if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
					wrote = u.GetObject().(*corev1.ResourceQuota)
				}
			}
			switch {
			case tc.want == nil && wrote != nil:
				t.Fatalf("wrote status %+v, want no write", wrote.Status)
			case tc.want == nil:
			case wrote == nil:
				t.Fatalf("no status written, want %+v", tc.want)
			case !sameList(wrote.Status.Hard, tc.want.Hard) || !sameList(wrote.Status.Used, tc.want.Used):
				t.Errorf("status = hard %v used %v\nwant       hard %v used %v", wrote.Status.Hard, wrote.Status.Used, tc.want.Hard, tc.want.Used)
			}
		})
	}
}

func TestNeedsSync(t *testing.T) {
	synced := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "2")},
		Status: corev1.ResourceQuotaStatus{Hard: list("pods", "2"), Used: list("pods", "0")}}
	charged := synced.DeepCopy()
	charged.Status.Used = list("pods", "1")
	raised := synced.DeepCopy()
	raised.Spec.Hard = list("pods", "3")
	fresh := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "2")}}
	cases := []struct {
		name     string
		old, cur *corev1.ResourceQuota
		want     bool
	}{
		{"a charge", synced, charged, false},
		{"spec raised", synced, raised, true},
		{"never measured", fresh, fresh, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsSync(tc.old, tc.cur); got != tc.want {
				t.Errorf("needsSync = %v, want %v", got, tc.want)
			}
		})
	}
}
