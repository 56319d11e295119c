package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceAccountWrites(t *testing.T) {
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "builder", Namespace: "default"},
		Secrets:          []corev1.ObjectReference{{Name: "builder-token"}, {Name: "other"}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: ""}},
	}
	runCoreCases(t, serviceAccounts(), []coreCase{{name: "valid, empty pull secret name tolerated", obj: sa}})
	k := serviceAccounts()
	if row := k.Row(sa); row[1] != int64(2) || len(row) != len(k.Columns) {
		t.Errorf("row = %v", row)
	}
}
