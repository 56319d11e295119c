package apiserver

import (
	"context"
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// autoscalingScale wraps the Scale object served by /scale.
type autoscalingScale struct{ autoscalingv1.Scale }

// scaleOf builds the Scale view of a stored object.
func (h *handler) scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	spec, status, selector := h.rs.served.Scale.Get(obj)
	m := accessor(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

// updateScale changes the replica count through the scale subresource.
func (h *handler) updateScale(ctx context.Context, dry bool, next func(cur *autoscalingScale) (*autoscalingScale, error)) (runtime.Object, error) {
	obj, err := h.s.updateObject(ctx, h.rs, h.t.namespace, h.t.name, "", dry, func(cur runtime.Object) (runtime.Object, error) {
		sc, err := h.scaleOf(cur)
		if err != nil {
			return nil, err
		}
		want, err := next(&autoscalingScale{*sc})
		if err != nil {
			return nil, err
		}
		if want.Name != "" && want.Name != h.t.name {
			return nil, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, h.t.name)
		}
		if want.Spec.Replicas < 0 {
			return nil, errInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), h.t.name, fieldErrNegative("spec.replicas", want.Spec.Replicas))
		}
		h.rs.served.Scale.Set(cur, want.Spec.Replicas)
		accessor(cur).SetResourceVersion(want.ResourceVersion)
		if want.ResourceVersion == "" {
			accessor(cur).SetResourceVersion("")
		} else if _, err := strconv.ParseInt(want.ResourceVersion, 10, 64); err != nil {
			return nil, errBadRequest("invalid resourceVersion %q", want.ResourceVersion)
		}
		return cur, nil
	})
	if err != nil {
		return nil, err
	}
	return h.scaleOf(obj)
}
