package registry

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func corePV(mutate func(*corev1.PersistentVolumeSpec)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv1"}},
			StorageClassName:       "manual",
		},
	}
	if mutate != nil {
		mutate(&pv.Spec)
	}
	return pv
}

func TestPersistentVolumeWrites(t *testing.T) {
	runCoreCases(t, persistentVolumes(), []coreCase{
		{name: "valid", obj: corePV(nil)},
		{name: "no capacity, no modes", obj: corePV(func(s *corev1.PersistentVolumeSpec) { s.Capacity, s.AccessModes = nil, nil }),
			paths: []string{"spec.accessModes", "spec.capacity"}},
		{name: "other capacity", obj: corePV(func(s *corev1.PersistentVolumeSpec) {
			s.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		}), paths: []string{"spec.capacity"}},
		{name: "bad modes and policy", obj: corePV(func(s *corev1.PersistentVolumeSpec) {
			s.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
			s.PersistentVolumeReclaimPolicy = "Shred"
		}), paths: []string{"spec.accessModes", "spec.persistentVolumeReclaimPolicy"}},
		{name: "no source", obj: corePV(func(s *corev1.PersistentVolumeSpec) { s.HostPath = nil }), paths: []string{"spec"}},
		{name: "two sources", obj: corePV(func(s *corev1.PersistentVolumeSpec) {
			s.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/export"}
		}), paths: []string{"spec.nfs"}},
		{name: "local needs affinity", obj: corePV(func(s *corev1.PersistentVolumeSpec) {
			s.HostPath, s.Local = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}), paths: []string{"spec.nodeAffinity"}},
		{name: "update claim ref", old: corePV(nil), obj: corePV(func(s *corev1.PersistentVolumeSpec) {
			s.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
		})},
		{name: "update source", old: corePV(nil), obj: corePV(func(s *corev1.PersistentVolumeSpec) { s.HostPath.Path = "/srv/other" }),
			paths: []string{"spec.persistentvolumesource"}},
	})
}

func TestPersistentVolumeCreateAndRow(t *testing.T) {
	k := persistentVolumes()
	pv := corePV(nil)
	pv.Status.Phase = corev1.VolumeBound
	k.PrepareForCreate(pv)
	k.Defaults(pv)
	if pv.Status.Phase != corev1.VolumePending || pv.Status.LastPhaseTransitionTime == nil {
		t.Errorf("status = %+v", pv.Status)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("spec defaults: %+v", pv.Spec)
	}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
	row := k.Row(pv)
	want := []any{"pv1", "10Gi", "RWO,ROX", "Retain", "Pending", "default/data", "manual", "<unset>", "", row[9], "Filesystem"}
	if !slices.Equal(row, want) {
		t.Errorf("row = %v, want %v", row, want)
	}
}
