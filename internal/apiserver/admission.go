package apiserver

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/admission/limitrange"
	"github.com/bosun-sh/bosun/internal/admission/podsecurity"
	"github.com/bosun-sh/bosun/internal/audit"
	"github.com/bosun-sh/bosun/internal/registry"
	"github.com/bosun-sh/bosun/internal/storage"
)

// warningsKey carries the request's warning list through the context, so
// admission deep in a create can add the Warning headers kubectl prints.
type warningsKey struct{}

func withWarnings(ctx context.Context, w *[]string) context.Context {
	return context.WithValue(ctx, warningsKey{}, w)
}

func addWarning(ctx context.Context, msg string) {
	if w, ok := ctx.Value(warningsKey{}).(*[]string); ok {
		*w = append(*w, msg)
	}
}

// admitLimitRanges fills in a new pod's container requests and limits
// from its namespace's LimitRanges and refuses it when it breaks their
// minimums, maximums or ratios, as Kubernetes' LimitRanger does. It runs
// after defaulting and before validation, so the requests it sets are
// validated like the client's own. Other objects pass.
func (s *Server) admitLimitRanges(ctx context.Context, obj runtime.Object) error {
	var apply func([]*corev1.LimitRange) error
	var gr, name string
	switch o := obj.(type) {
	case *corev1.Pod:
		apply = func(r []*corev1.LimitRange) error {
			if err := limitrange.Apply(r, o); err != nil {
				return err
			}
			// The class was computed from the resources the client sent.
			o.Status.QOSClass = registry.PodQOS(&o.Spec)
			return nil
		}
		gr, name = "pods", o.Name
	case *corev1.PersistentVolumeClaim:
		apply = func(r []*corev1.LimitRange) error { return limitrange.ApplyPVC(r, o) }
		gr, name = "persistentvolumeclaims", o.Name
	default:
		return nil
	}
	ranges, err := s.limitRanges(ctx, accessor(obj).GetNamespace())
	if err != nil || len(ranges) == 0 {
		return err
	}
	if err := apply(ranges); err != nil {
		return errForbidden(corev1.Resource(gr), name, err.Error())
	}
	return nil
}

// limitRanges reads a namespace's LimitRanges from the local etcd member.
func (s *Server) limitRanges(ctx context.Context, ns string) ([]*corev1.LimitRange, error) {
	rs := s.byGVK[corev1.SchemeGroupVersion.WithKind("LimitRange")]
	if rs == nil {
		return nil, nil
	}
	resp, err := s.store.Client().Get(ctx, rs.listPrefix(ns), clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("listing limit ranges: %w", err)
	}
	var out []*corev1.LimitRange
	for _, kv := range resp.Kvs {
		obj, err := rs.decodeStored(storage.KV{Key: string(kv.Key), Value: kv.Value, Rev: kv.ModRevision})
		if err != nil {
			return nil, err
		}
		if lr, ok := obj.(*corev1.LimitRange); ok {
			out = append(out, lr)
		}
	}
	return out, nil
}

// admitPodSecurity applies the namespace's Pod Security Standards labels
// to a new pod: a pod breaking the enforce level is refused with the
// reasons; one breaking the warn level is admitted with a warning. A new
// workload whose pod template breaks the enforce or warn level is
// admitted with a warning, as Kubernetes does, so its author hears it
// before its pods are refused. ns is the namespace object.
func admitPodSecurity(ctx context.Context, ns *corev1.Namespace, obj runtime.Object) error {
	if ns == nil {
		return nil
	}
	policy, err := podsecurity.PolicyFor(ns.Labels)
	if err != nil {
		// A bad label fails closed for enforce (PolicyFor's choice); say
		// why the pod is judged the way it is.
		addWarning(ctx, fmt.Sprintf("namespace %q: %v", ns.Name, err))
	}
	meta, spec, ok := podsecurity.PodTemplate(obj)
	if !ok {
		return nil
	}
	// The audit label's verdict goes into the request's audit event, as
	// Kubernetes records it.
	if policy.Audit.Level != podsecurity.Privileged {
		if vs := podsecurity.Check(policy.Audit.Level, meta, spec); len(vs) > 0 {
			if rec, ok := ctx.Value(auditKey{}).(*audit.Recorder); ok {
				rec.AddAnnotation("pod-security.kubernetes.io/audit-violations", fmt.Sprintf("would violate PodSecurity %q: %s", policy.Audit.String(), podsecurity.Reasons(vs)))
			}
		}
	}
	if pod, isPod := obj.(*corev1.Pod); isPod {
		if vs := podsecurity.Check(policy.Enforce.Level, meta, spec); len(vs) > 0 {
			return errForbidden(corev1.Resource("pods"), pod.Name, fmt.Sprintf("violates PodSecurity %q: %s", policy.Enforce.String(), podsecurity.Reasons(vs)))
		}
		if policy.Warn.Level != policy.Enforce.Level {
			if vs := podsecurity.Check(policy.Warn.Level, meta, spec); len(vs) > 0 {
				addWarning(ctx, policy.Warn.Warning(vs))
			}
		}
		return nil
	}
	// Workloads: warnings only, at the stricter of the two levels that
	// find something.
	for _, lv := range []podsecurity.LevelVersion{policy.Enforce, policy.Warn} {
		if vs := podsecurity.Check(lv.Level, meta, spec); len(vs) > 0 {
			addWarning(ctx, lv.Warning(vs))
			return nil
		}
	}
	return nil
}
