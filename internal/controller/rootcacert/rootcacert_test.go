package rootcacert

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

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestReconcile(t *testing.T) {
	deleting := metav1.NewTime(time.Unix(100, 0))
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	cm := func(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "a", ResourceVersion: "7"}, Data: data, BinaryData: binary}
	}
	cases := []struct {
		name     string
		ns       *corev1.Namespace
		existing *corev1.ConfigMap
		want     string // the verb written, or ""
	}{
		{name: "new namespace", ns: active, want: "create"},
		{name: "already right", ns: active, existing: cm(map[string]string{Key: testCA}, nil)},
		{name: "edited value", ns: active, existing: cm(map[string]string{Key: "forged"}, nil), want: "update"},
		{name: "extra key", ns: active, existing: cm(map[string]string{Key: testCA, "x": "y"}, nil), want: "update"},
		{name: "binary data added", ns: active, existing: cm(map[string]string{Key: testCA}, map[string][]byte{"b": {1}}), want: "update"},
		{name: "terminating phase", ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}},
		{name: "being deleted", ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &deleting}}},
		{name: "namespace gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			nsIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			cmIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			if tc.ns != nil {
				_ = nsIdx.Add(tc.ns)
			}
			if tc.existing != nil {
				_ = cmIdx.Add(tc.existing)
				if _, err := client.CoreV1().ConfigMaps("a").Create(context.Background(), tc.existing, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				client.ClearActions()
			}
			c := &Controller{client: client, ca: testCA, nsLister: corelisters.NewNamespaceLister(nsIdx), cmLister: corelisters.NewConfigMapLister(cmIdx)}
			if err := c.reconcile(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			var verbs []string
			for _, a := range client.Actions() {
				if a.GetResource().Resource == "configmaps" && (a.GetVerb() == "create" || a.GetVerb() == "update") {
					verbs = append(verbs, a.GetVerb())
				}
			}
			switch {
			case tc.want == "" && len(verbs) > 0:
				t.Fatalf("wrote %v, want nothing", verbs)
			case tc.want != "" && (len(verbs) != 1 || verbs[0] != tc.want):
				t.Fatalf("wrote %v, want one %s", verbs, tc.want)
			case tc.want == "":
				return
			}
			got, err := client.CoreV1().ConfigMaps("a").Get(context.Background(), Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Data) != 1 || got.Data[Key] != testCA || len(got.BinaryData) != 0 {
				t.Errorf("ConfigMap holds %v / %v, want only %s", got.Data, got.BinaryData, Key)
			}
		})
	}
}
