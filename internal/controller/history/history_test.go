package history

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// kubectl rolls back by sending a revision's data to the owner as a
// strategic merge patch: that must give back the recorded template.
func TestDataPatchesTemplateBack(t *testing.T) {
	old := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}
	data, err := Data(&old)
	if err != nil {
		t.Fatal(err)
	}
	cur := appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: *old.DeepCopy()}}
	cur.Spec.Template.Labels["extra"] = "x"
	cur.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	cur.Spec.Template.Spec.Containers = append(cur.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "s"})
	curJSON, _ := json.Marshal(cur)
	out, err := strategicpatch.StrategicMergePatch(curJSON, data, appsv1.DaemonSet{})
	if err != nil {
		t.Fatal(err)
	}
	var got appsv1.DaemonSet
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	tm := got.Spec.Template
	if len(tm.Spec.Containers) != 1 || tm.Spec.Containers[0].Image != "busybox:1" || tm.Labels["extra"] != "" {
		t.Errorf("template after rollback patch: %+v", tm)
	}
}

func TestHash(t *testing.T) {
	one := int32(1)
	if Hash([]byte("a"), nil) != Hash([]byte("a"), nil) {
		t.Error("hash is not stable")
	}
	if Hash([]byte("a"), nil) == Hash([]byte("a"), &one) || Hash([]byte("a"), nil) == Hash([]byte("b"), nil) {
		t.Error("hash does not separate contents or collision counts")
	}
}
