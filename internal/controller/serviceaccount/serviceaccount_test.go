package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestReconcile(t *testing.T) {
	deleting := metav1.NewTime(time.Unix(100, 0))
	cases := []struct {
		name       string
		ns         *corev1.Namespace
		existing   bool
		wantCreate bool
	}{
		{"active namespace without one", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, false, true},
		{"already there", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, true, false},
		{"terminating phase", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, false, false},
		{"being deleted", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &deleting}}, false, false},
		{"namespace gone", nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			nsIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			saIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			if tc.ns != nil {
				_ = nsIdx.Add(tc.ns)
			}
			if tc.existing {
				_ = saIdx.Add(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "a"}})
			}
			c := &Controller{client: client, nsLister: corelisters.NewNamespaceLister(nsIdx), saLister: corelisters.NewServiceAccountLister(saIdx)}
			if err := c.reconcile(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			created := 0
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
					created++
				}
			}
			if (created == 1) != tc.wantCreate || created > 1 {
				t.Errorf("%d creates, want create=%v", created, tc.wantCreate)
			}
		})
	}
}
