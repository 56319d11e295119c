package registry

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func corePVC(mutate func(*corev1.PersistentVolumeClaimSpec)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if mutate != nil {
		mutate(&pvc.Spec)
	}
	return pvc
}

func TestPersistentVolumeClaimWrites(t *testing.T) {
	storage := func(q string) func(*corev1.PersistentVolumeClaimSpec) {
		return func(s *corev1.PersistentVolumeClaimSpec) {
			s.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
		}
	}
	runCoreCases(t, persistentVolumeClaims(), []coreCase{
		{name: "valid", obj: corePVC(nil)},
		{name: "no modes", obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) { s.AccessModes = nil }), paths: []string{"spec.accessModes"}},
		{name: "RWOP with others", obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) {
			s.AccessModes = append(s.AccessModes, corev1.ReadWriteOncePod)
		}), paths: []string{"spec.accessModes"}},
		{name: "no storage", obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) { s.Resources.Requests = nil }),
			paths: []string{"spec.resources[storage]"}},
		{name: "zero storage", obj: corePVC(storage("0")), paths: []string{"spec.resources[storage]"}},
		{name: "grow", old: corePVC(nil), obj: corePVC(storage("2Gi"))},
		{name: "shrink", old: corePVC(nil), obj: corePVC(storage("500Mi")), paths: []string{"spec.resources.requests.storage"}},
		{name: "bind", old: corePVC(nil), obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) { s.VolumeName = "pv1" })},
		{name: "rebind", old: corePVC(func(s *corev1.PersistentVolumeClaimSpec) { s.VolumeName = "pv1" }),
			obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) { s.VolumeName = "pv2" }), paths: []string{"spec"}},
		{name: "change modes", old: corePVC(nil), obj: corePVC(func(s *corev1.PersistentVolumeClaimSpec) {
			s.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), paths: []string{"spec"}},
	})
}

func TestPersistentVolumeClaimCreateAndRow(t *testing.T) {
	k := persistentVolumeClaims()
	pvc := corePVC(func(s *corev1.PersistentVolumeClaimSpec) {
		s.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "origin"}
	})
	pvc.Status.Phase = corev1.ClaimBound
	k.PrepareForCreate(pvc)
	k.Defaults(pvc)
	if pvc.Status.Phase != corev1.ClaimPending || *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("after create: %+v %+v", pvc.Status, pvc.Spec)
	}
	if r := pvc.Spec.DataSourceRef; r == nil || r.Name != "origin" {
		t.Errorf("dataSourceRef = %+v", r)
	}
	if row := k.Row(pvc); !slices.Equal(row, []any{"data", "Pending", "", "", "", "", "<unset>", row[7], "Filesystem"}) {
		t.Errorf("pending row = %v", row)
	}
	pvc.Spec.VolumeName = "pv1"
	pvc.Spec.StorageClassName = new("standard")
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}
	if row := k.Row(pvc); !slices.Equal(row, []any{"data", "Bound", "pv1", "10Gi", "RWO", "standard", "<unset>", row[7], "Filesystem"}) {
		t.Errorf("bound row = %v", row)
	}
}
