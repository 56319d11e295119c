package volume

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkSetupUnchanged measures a resync of a pod whose volumes did not change, the
// common case that runs for every pod on every sync.
func BenchmarkSetupUnchanged(b *testing.B) {
	m := NewManager(b.TempDir(), volumeSources(), nil)
	m.mount = &fakeMounter{}
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	ctx := context.Background()
	if err := m.Setup(ctx, pod); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Setup(ctx, pod); err != nil {
			b.Fatal(err)
		}
	}
}
