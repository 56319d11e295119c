package apiserver

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// legacyIngressClassAnnotation is the class annotation from before
// spec.ingressClassName; an Ingress carrying it has chosen its class.
const legacyIngressClassAnnotation = "kubernetes.io/ingress.class"

// admitIngressClass gives a new Ingress that names no class the cluster's
// default IngressClass, as Kubernetes' DefaultIngressClass admission
// does, so that `kubectl get ingress` shows which controller serves it.
// When several classes claim to be the default, the most recently created
// one wins. Other objects pass.
func (s *Server) admitIngressClass(ctx context.Context, obj runtime.Object) error {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok || ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[legacyIngressClassAnnotation]; ok {
		return nil
	}
	rs := s.byGVK[networkingv1.SchemeGroupVersion.WithKind("IngressClass")]
	if rs == nil {
		return nil
	}
	resp, err := s.store.Client().Get(ctx, rs.prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("listing ingress classes: %w", err)
	}
	var def *networkingv1.IngressClass
	for _, kv := range resp.Kvs {
		obj, err := rs.decodeStored(storage.KV{Key: string(kv.Key), Value: kv.Value, Rev: kv.ModRevision})
		if err != nil {
			return err
		}
		class, ok := obj.(*networkingv1.IngressClass)
		if !ok || class.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "true" {
			continue
		}
		if def == nil || def.CreationTimestamp.Before(&class.CreationTimestamp) ||
			def.CreationTimestamp.Equal(&class.CreationTimestamp) && class.Name > def.Name {
			def = class
		}
	}
	if def != nil {
		name := def.Name
		ing.Spec.IngressClassName = &name
	}
	return nil
}
