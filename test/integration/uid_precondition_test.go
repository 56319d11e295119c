package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestUIDPrecondition: an update or patch whose body names another UID is
// refused with 409, as Kubernetes does; the node agent relies on it not to
// write one pod's status onto a new pod of the same name.
func TestUIDPrecondition(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1().ConfigMaps(ns)
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "u"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Patch(ctx, "u", types.StrategicMergePatchType, []byte(`{"metadata":{"uid":"00000000-0000-0000-0000-000000000000"},"data":{"a":"b"}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("patch with another uid: %v, want 409 Conflict", err)
	}
	if _, err := c.Patch(ctx, "u", types.StrategicMergePatchType, []byte(`{"metadata":{"uid":"`+string(cm.UID)+`"},"data":{"a":"b"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch with its own uid: %v", err)
	}
	cm.UID = "00000000-0000-0000-0000-000000000001"
	cm.ResourceVersion = ""
	if _, err := c.Update(ctx, cm, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update with another uid: %v, want 409 Conflict", err)
	}
	got, err := c.Get(ctx, "u", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "b" {
		t.Fatalf("after: %v %v", got.Data, err)
	}
}
