package apiserver

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// builtinPriorities are the classes every cluster has, whether or not
// an object for them exists.
var builtinPriorities = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// admitPriority resolves a new pod's priority from its priorityClassName,
// or from the global default class when it names none, as Kubernetes'
// Priority admission does: spec.priority and (when unset)
// spec.preemptionPolicy come from the class; an unknown class, or a
// priority the client set that disagrees, is refused. Other objects pass.
// It runs before defaulting, so that an unset preemptionPolicy is
// recognisable. Classes are read from the local etcd member (they change
// rarely; a class created a moment ago on another member may be missed).
func (s *Server) admitPriority(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	forbidden := func(why string) error { return errForbidden(corev1.Resource("pods"), pod.Name, why) }
	var (
		value  int32
		policy *corev1.PreemptionPolicy
	)
	name := pod.Spec.PriorityClassName
	if v, ok := builtinPriorities[name]; ok {
		value = v
	} else {
		pc, err := s.priorityClass(ctx, name)
		if err != nil {
			return err
		}
		if pc == nil && name != "" {
			return forbidden(fmt.Sprintf("no PriorityClass with name %s was found", name))
		}
		if pc != nil {
			value, policy = pc.Value, pc.PreemptionPolicy
			pod.Spec.PriorityClassName = pc.Name
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return forbidden(fmt.Sprintf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil && policy != nil {
		p := *policy
		pod.Spec.PreemptionPolicy = &p
	}
	return nil
}

// priorityClass returns the named class, or with name "" the global
// default class (the lowest if several claim it); nil when there is none.
func (s *Server) priorityClass(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	rs := s.byGVK[schedulingv1.SchemeGroupVersion.WithKind("PriorityClass")]
	if rs == nil {
		return nil, nil
	}
	decode := func(kv storage.KV) (*schedulingv1.PriorityClass, error) {
		obj, err := rs.decodeStored(kv)
		if err != nil {
			return nil, err
		}
		pc, _ := obj.(*schedulingv1.PriorityClass)
		return pc, nil
	}
	if name != "" {
		kv, err := s.store.GetSerializable(ctx, rs.key("", name))
		if errors.Is(err, storage.ErrNotFound) {
			// Perhaps created a moment ago: ask the quorum before refusing.
			kv, err = s.store.Get(ctx, rs.key("", name))
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return decode(kv)
	}
	resp, err := s.store.Client().Get(ctx, rs.prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("listing priority classes: %w", err)
	}
	var def *schedulingv1.PriorityClass
	for _, kv := range resp.Kvs {
		pc, err := decode(storage.KV{Key: string(kv.Key), Value: kv.Value, Rev: kv.ModRevision})
		if err != nil {
			return nil, err
		}
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}
