package apiserver

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// The annotations that make a StorageClass the cluster's default.
const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	defaultClassBetaAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// admitDefaultStorageClass gives a new PersistentVolumeClaim that names
// no class (storageClassName absent, not "") the default StorageClass, as
// Kubernetes' DefaultStorageClass admission does; with several defaults
// the newest wins. Other objects pass.
func (s *Server) admitDefaultStorageClass(ctx context.Context, obj runtime.Object) error {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil {
		return nil
	}
	def, err := s.defaultStorageClass(ctx)
	if err != nil || def == nil {
		return err
	}
	name := def.Name
	pvc.Spec.StorageClassName = &name
	return nil
}

// defaultStorageClass reads the StorageClasses from the local etcd member
// and returns the default one, or nil.
func (s *Server) defaultStorageClass(ctx context.Context) (*storagev1.StorageClass, error) {
	rs := s.byGVK[storagev1.SchemeGroupVersion.WithKind("StorageClass")]
	if rs == nil {
		return nil, nil
	}
	resp, err := s.store.Client().Get(ctx, rs.prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("listing storage classes: %w", err)
	}
	var def *storagev1.StorageClass
	for _, kv := range resp.Kvs {
		obj, err := rs.decodeStored(storage.KV{Key: string(kv.Key), Value: kv.Value, Rev: kv.ModRevision})
		if err != nil {
			return nil, err
		}
		sc, ok := obj.(*storagev1.StorageClass)
		if !ok || (sc.Annotations[defaultClassAnnotation] != "true" && sc.Annotations[defaultClassBetaAnnotation] != "true") {
			continue
		}
		if def == nil || def.CreationTimestamp.Before(&sc.CreationTimestamp) ||
			(def.CreationTimestamp.Equal(&sc.CreationTimestamp) && sc.Name < def.Name) {
			def = sc
		}
	}
	return def, nil
}
