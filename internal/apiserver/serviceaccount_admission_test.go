package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAutomountToken(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name    string
		pod, sa *bool
		automnt bool
	}{
		{name: "default", automnt: true},
		{name: "account off", sa: &no, automnt: false},
		{name: "pod off", pod: &no, automnt: false},
		{name: "pod on overrides account off", pod: &yes, sa: &no, automnt: true},
		{name: "pod off overrides account on", pod: &no, sa: &yes, automnt: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{AutomountServiceAccountToken: tc.pod}}
			sa := &corev1.ServiceAccount{AutomountServiceAccountToken: tc.sa}
			if got := automountToken(sa, pod); got != tc.automnt {
				t.Errorf("automount %v, want %v", got, tc.automnt)
			}
		})
	}
}

func TestMountServiceAccountToken(t *testing.T) {
	own := corev1.VolumeMount{Name: "mine", MountPath: serviceAccountMountPath}
	cases := []struct {
		name string
		pod  corev1.PodSpec
		// wantVolume is the token volume's name, "" for none added.
		wantVolume string
		// wantMounts lists, per init container then container, the
		// volume mounted at the token path.
		wantMounts []string
	}{
		{
			name:       "every container",
			pod:        corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			wantVolume: "kube-api-access-new00",
			wantMounts: []string{"kube-api-access-new00", "kube-api-access-new00", "kube-api-access-new00"},
		},
		{
			name:       "own mount kept",
			pod:        corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}, {Name: "b"}}},
			wantVolume: "kube-api-access-new00",
			wantMounts: []string{"mine", "kube-api-access-new00"},
		},
		{
			name:       "every container has its own",
			pod:        corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}}},
			wantMounts: []string{"mine"},
		},
		{
			name: "existing token volume reused",
			pod: corev1.PodSpec{
				Volumes:    []corev1.Volume{{Name: "kube-api-access-old00"}},
				Containers: []corev1.Container{{Name: "a"}},
			},
			wantMounts: []string{"kube-api-access-old00"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: *tc.pod.DeepCopy()}
			volumesBefore := len(pod.Spec.Volumes)
			mountServiceAccountToken(pod, "kube-api-access-new00")
			var got []string
			for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
				n := 0
				for _, m := range c.VolumeMounts {
					if m.MountPath == serviceAccountMountPath {
						n++
						got = append(got, m.Name)
						if m.Name != "mine" && !m.ReadOnly {
							t.Errorf("container %s: token mount is writable", c.Name)
						}
					}
				}
				if n != 1 {
					t.Errorf("container %s has %d mounts at the token path", c.Name, n)
				}
			}
			if len(got) != len(tc.wantMounts) {
				t.Fatalf("mounts %v, want %v", got, tc.wantMounts)
			}
			for i := range got {
				if got[i] != tc.wantMounts[i] {
					t.Errorf("mounts %v, want %v", got, tc.wantMounts)
				}
			}
			added := pod.Spec.Volumes[volumesBefore:]
			switch {
			case tc.wantVolume == "" && len(added) > 0:
				t.Errorf("added volumes %+v", added)
			case tc.wantVolume != "" && (len(added) != 1 || added[0].Name != tc.wantVolume || added[0].Projected == nil):
				t.Errorf("added volumes %+v, want projected %s", added, tc.wantVolume)
			}
		})
	}
}

func TestMirrorPodRefusal(t *testing.T) {
	cases := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{name: "plain"},
		{name: "service account", spec: corev1.PodSpec{ServiceAccountName: "default"}, want: "a mirror pod may not reference service accounts"},
		{name: "secret volume", spec: corev1.PodSpec{Volumes: []corev1.Volume{{VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}},
			want: "a mirror pod may not reference secrets"},
		{name: "configmap volume", spec: corev1.PodSpec{Volumes: []corev1.Volume{{VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}},
			want: "a mirror pod may not reference configmaps"},
		{name: "projected token", spec: corev1.PodSpec{Volumes: []corev1.Volume{{VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}}}}}}}},
			want: "a mirror pod may not use ServiceAccountToken volume projections"},
		{name: "empty dir", spec: corev1.PodSpec{Volumes: []corev1.Volume{{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mirrorPodAnnotation: "x"}}, Spec: tc.spec}
			if got := mirrorPodRefusal(pod); got != tc.want {
				t.Errorf("refusal %q, want %q", got, tc.want)
			}
		})
	}
}
