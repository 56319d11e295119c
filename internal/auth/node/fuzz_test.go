package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// FuzzIndex builds pods and a volume from fuzzed names, indexes them,
// rebinds and removes them: every reference a bound pod names must be
// reachable from its node and from no other, and once everything is
// gone the index must hold nothing (no count leaked or went negative).
func FuzzIndex(f *testing.F) {
	f.Add("team", "web", "n1", "n2", "tls", "cfg", "data", "sa", "storage", "pv-s", "scratch", false)
	f.Add("", "", "", "", "", "", "", "", "", "", "", true)
	f.Add("a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", false)
	f.Fuzz(func(t *testing.T, ns, name, node, other, secret, cm, claim, sa, pvNS, pvSecret, vol string, mirror bool) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "1"},
			Spec: corev1.PodSpec{
				NodeName:           node,
				ServiceAccountName: sa,
				ImagePullSecrets:   []corev1.LocalObjectReference{{Name: secret}, {Name: secret}},
				Containers:         []corev1.Container{{Env: secretEnv(secret), EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}}},
				Volumes: []corev1.Volume{
					{Name: vol, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
					{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}},
					{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: cm}}},
				},
			},
		}
		if mirror {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: ""}
		}
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: vol}, Spec: corev1.PersistentVolumeSpec{
			ClaimRef: &corev1.ObjectReference{Namespace: ns, Name: claim},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				NodePublishSecretRef: &corev1.SecretReference{Namespace: pvNS, Name: pvSecret},
				NodeStageSecretRef:   &corev1.SecretReference{Namespace: pvNS, Name: pvSecret},
			}},
		}}
		x := newIndex()
		x.setPV(pv)
		x.setPod(p)
		x.setPod(p) // an update with nothing new
		refs := podRefs(p)
		if mirror && len(refs) > 0 {
			t.Fatalf("mirror pod names %v", refs)
		}
		for _, r := range refs {
			if node != "" && !x.reaches(node, r) {
				t.Fatalf("%v unreachable from %q", r, node)
			}
			if other != node && x.reaches(other, r) {
				t.Fatalf("%v reachable from %q, pod is on %q", r, other, node)
			}
		}
		// Rebinding under a new UID moves every reference.
		moved := p.DeepCopy()
		moved.UID = "2"
		moved.Spec.NodeName = other
		x.setPod(moved)
		for _, r := range refs {
			if other != node && node != "" && x.reaches(node, r) {
				t.Fatalf("%v still reachable from %q after the pod moved", r, node)
			}
		}
		x.deletePod(types.NamespacedName{Namespace: ns, Name: name})
		x.deletePV(vol)
		if !x.empty() {
			t.Fatalf("index not empty: %d pods, %d users, %d volumes, %d volume secrets", len(x.pods), len(x.users), len(x.pvs), len(x.pvsBySecret))
		}
	})
}
