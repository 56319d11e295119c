package controller

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
)

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func ownedPod(name string, lbls map[string]string, owner *appsv1.ReplicaSet) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: lbls, UID: types.UID("uid-" + name)}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, rsKind)}
	}
	return p
}

func TestClaim(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid"}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", UID: "other-uid"}}
	app := map[string]string{"app": "web"}
	pods := []*corev1.Pod{
		ownedPod("mine", app, rs),
		ownedPod("strayed", map[string]string{"app": "db"}, rs),
		ownedPod("orphan", app, nil),
		ownedPod("unrelated", map[string]string{"app": "db"}, nil),
		ownedPod("theirs", app, other),
	}
	sel := labels.SelectorFromSet(app)
	cases := []struct {
		name      string
		liveUID   types.UID
		wantOwned []string
		wantOwner map[string]types.UID // after the claim; "" for none
	}{
		{"adopts and releases", "rs-uid", []string{"mine", "orphan"},
			map[string]types.UID{"mine": "rs-uid", "strayed": "", "orphan": "rs-uid", "theirs": "other-uid"}},
		{"a recreated owner adopts nothing", "new-uid", []string{"mine"},
			map[string]types.UID{"mine": "rs-uid", "strayed": "", "orphan": "", "theirs": "other-uid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, p := range pods {
				objs = append(objs, p.DeepCopy())
			}
			client := fake.NewClientset(objs...)
			lives := 0
			cl := Claim{
				Client:    client,
				Owner:     rs,
				Kind:      rsKind,
				Matches:   func(p *corev1.Pod) bool { return sel.Matches(labels.Set(p.Labels)) },
				Adoptable: PodActive,
				Live: func(context.Context) (types.UID, bool, error) {
					lives++
					return tc.liveUID, false, nil
				},
			}
			got, err := cl.Pods(context.Background(), pods)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			sort.Strings(names)
			if !slices.Equal(names, tc.wantOwned) {
				t.Errorf("owned %v, want %v", names, tc.wantOwned)
			}
			if lives != 1 {
				t.Errorf("the owner was read %d times from the server, want once", lives)
			}
			for name, want := range tc.wantOwner {
				p, err := client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var have types.UID
				if ref := metav1.GetControllerOf(p); ref != nil {
					have = ref.UID
				}
				if have != want {
					t.Errorf("pod %s controlled by %q, want %q", name, have, want)
				}
			}
		})
	}
}

func TestPodEvents(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid"}}
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	exp := NewExpectations(clk)
	q := NewQueue("test")
	e := &PodEvents{Queue: q, Kind: rsKind, Creates: exp, Deletes: exp,
		Adopters: func(*corev1.Pod) []string { return []string{"ns/adopter"} }}
	h := e.Handler()

	exp.ExpectCreates("ns/web", 1)
	h.OnAdd(ownedPod("a", nil, rs), false)
	if !exp.Satisfied("ns/web") {
		t.Error("an observed create did not settle the expectation")
	}
	orphan := ownedPod("o", map[string]string{"app": "web"}, nil)
	h.OnAdd(orphan, false)
	relabelled := orphan.DeepCopy()
	relabelled.ResourceVersion = "2"
	relabelled.Labels = map[string]string{"app": "db"}
	h.OnUpdate(orphan, relabelled)

	p := ownedPod("b", nil, rs)
	exp.ExpectDeletes("ns/web", []types.UID{p.UID})
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/b", Obj: p})
	if !exp.Satisfied("ns/web") {
		t.Error("an observed delete (tombstone) did not settle the expectation")
	}
	got := map[string]bool{}
	for q.Len() > 0 {
		k, _ := q.q.Get()
		got[k] = true
		q.q.Done(k)
	}
	if !got["ns/web"] || !got["ns/adopter"] || len(got) != 2 {
		t.Errorf("queued %v, want ns/web and ns/adopter", got)
	}
}
