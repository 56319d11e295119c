package podsecurity

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodTemplate returns the pod metadata and spec an object would run: a
// Pod's own, or the template of a Deployment, ReplicaSet, StatefulSet,
// DaemonSet, Job, CronJob, ReplicationController or PodTemplate. Kubernetes
// checks these templates in audit and warn mode so that a user hears about a
// violation when creating the workload, not only when its pods fail. ok is
// false for any other object, and for a ReplicationController without a
// template. The returned pointers alias obj.
func PodTemplate(obj runtime.Object) (meta *metav1.ObjectMeta, spec *corev1.PodSpec, ok bool) {
	var t *corev1.PodTemplateSpec
	// Each case checks for a typed nil, which would otherwise pass the switch.
	switch o := obj.(type) {
	case *corev1.Pod:
		if o != nil {
			return &o.ObjectMeta, &o.Spec, true
		}
	case *corev1.PodTemplate:
		if o != nil {
			t = &o.Template
		}
	case *corev1.ReplicationController:
		if o != nil {
			t = o.Spec.Template
		}
	case *appsv1.Deployment:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.ReplicaSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.StatefulSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.DaemonSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *batchv1.Job:
		if o != nil {
			t = &o.Spec.Template
		}
	case *batchv1.CronJob:
		if o != nil {
			t = &o.Spec.JobTemplate.Spec.Template
		}
	}
	if t == nil {
		return nil, nil, false
	}
	return &t.ObjectMeta, &t.Spec, true
}
