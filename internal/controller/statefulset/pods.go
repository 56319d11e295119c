package statefulset

import (
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/history"
)

// Labels the controller puts on every pod, as Kubernetes does.
const (
	podNameLabel  = "statefulset.kubernetes.io/pod-name"
	podIndexLabel = "apps.kubernetes.io/pod-index"
)

// templateOf returns the pod template recorded in a revision: the
// template inside the rollback patch that history.Data wrote.
func templateOf(data []byte) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, fmt.Errorf("decoding revision data: %w", err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("revision data holds no spec.template")
	}
	return patch.Spec.Template, nil
}

// claimName names the claim of template for the pod of ordinal ord.
func claimName(set *appsv1.StatefulSet, template string, ord int) string {
	return template + "-" + podName(set, ord)
}

// newPod builds the pod of ordinal ord from template, labelled with
// revision, its claims mounted as volumes named after their templates.
func newPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, ord int, revision string) *corev1.Pod {
	pod := controller.PodFromTemplate(template, set, controllerKind)
	name := podName(set, ord)
	pod.GenerateName = ""
	pod.Name = name
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[podNameLabel] = name
	pod.Labels[podIndexLabel] = strconv.Itoa(ord)
	pod.Labels[history.HashLabel] = revision
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName

	for _, t := range set.Spec.VolumeClaimTemplates {
		v := corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, t.Name, ord)},
		}}
		replaced := false
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == t.Name {
				pod.Spec.Volumes[i], replaced = v, true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		}
	}
	return pod
}

// newClaims builds the claims of the pod of ordinal ord. They carry the
// selector's labels; the set owns them only when its retention policy
// deletes claims with the set.
func newClaims(set *appsv1.StatefulSet, ord int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for _, t := range set.Spec.VolumeClaimTemplates {
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:        claimName(set, t.Name, ord),
				Namespace:   set.Namespace,
				Labels:      map[string]string{},
				Annotations: t.Annotations,
			},
			Spec: *t.Spec.DeepCopy(),
		}
		for k, v := range t.Labels {
			c.Labels[k] = v
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		if pol := set.Spec.PersistentVolumeClaimRetentionPolicy; pol != nil && pol.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			c.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
		}
		out = append(out, c)
	}
	return out
}
