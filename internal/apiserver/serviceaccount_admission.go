package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/storage"
)

// Where and how the ServiceAccount admission projects a pod's API
// credentials: the path client-go's in-cluster config reads, and the
// volume Kubernetes' own admission adds.
const (
	serviceAccountMountPath    = "/var/run/secrets/kubernetes.io/serviceaccount"
	serviceAccountVolumePrefix = "kube-api-access-"
	// serviceAccountTokenSeconds is the lifetime the projected token asks
	// for: Kubernetes' value, which the issuer recognises and extends
	// for clients that never reload their token.
	serviceAccountTokenSeconds = 3607
	// rootCAConfigMap is the ConfigMap every namespace holds the
	// cluster CA in.
	rootCAConfigMap = "kube-root-ca.crt"
	// mirrorPodAnnotation marks a static pod's API copy.
	mirrorPodAnnotation   = "kubernetes.io/config.mirror"
	defaultServiceAccount = "default"
)

// admitServiceAccount is Kubernetes' ServiceAccount admission for a new
// pod: the pod runs as "default" unless it names an account, the account
// must exist, its image pull secrets are the pod's when the pod has none,
// and unless automounting is turned off every container gets the
// account's token, the cluster CA and the namespace mounted read-only at
// serviceAccountMountPath through one projected volume. A mirror pod is
// left as the node wrote it, but may not reference accounts, secrets,
// configmaps or tokens at all. Other objects pass.
func (s *Server) admitServiceAccount(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		if why := mirrorPodRefusal(pod); why != "" {
			return errForbidden(corev1.Resource("pods"), pod.Name, why)
		}
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
	}
	// The deprecated field mirrors the current one in every answer.
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	sa, err := s.serviceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if errors.Is(err, storage.ErrNotFound) {
		active, nsErr := s.namespaceActive(ctx, pod.Namespace)
		if nsErr != nil || !active {
			// The namespace check that follows admission refuses the pod
			// with the namespace's own error, as NamespaceLifecycle,
			// which runs first in Kubernetes, would.
			return nsErr
		}
		if pod.Spec.ServiceAccountName == defaultServiceAccount {
			sa, err = s.createDefaultServiceAccount(ctx, pod.Namespace)
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errForbidden(corev1.Resource("pods"), pod.Name, fmt.Sprintf("error looking up service account %s/%s: serviceaccount %q not found", pod.Namespace, pod.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
	}
	if err != nil {
		return fmt.Errorf("looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	if automountToken(sa, pod) {
		mountServiceAccountToken(pod, generateName(serviceAccountVolumePrefix))
	}
	return nil
}

// automountToken reports whether pod gets its account's token: the pod's
// own setting wins, then the account's, and the default is yes.
func automountToken(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken mounts the token volume into every container
// and init container that mounts nothing at serviceAccountMountPath, and
// adds the volume, named newName unless the pod already has one, when any
// container mounts it. A container with its own mount there keeps it:
// that is how a pod brings its own credentials.
func mountServiceAccountToken(pod *corev1.Pod, newName string) {
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, serviceAccountVolumePrefix) {
			name = v.Name
			break
		}
	}
	hasVolume := name != ""
	if !hasVolume {
		name = newName
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: serviceAccountMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if mountsAt(cs[i].VolumeMounts, serviceAccountMountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			needed = true
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, serviceAccountVolume(name))
	}
}

func mountsAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// serviceAccountVolume is the projected volume holding what client-go's
// in-cluster config reads: token, ca.crt and namespace.
func serviceAccountVolume(name string) corev1.Volume {
	expiration := int64(serviceAccountTokenSeconds)
	mode := int32(0o644)
	return corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: &mode,
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
					Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}}}},
			},
		}},
	}
}

// mirrorPodRefusal says why a mirror pod may not be created, or "". A
// static pod comes from a node's files, not from the API, so it has no
// business with the API's credentials.
func mirrorPodRefusal(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return "a mirror pod may not reference service accounts"
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			return "a mirror pod may not reference secrets"
		case v.ConfigMap != nil:
			return "a mirror pod may not reference configmaps"
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.Secret != nil:
					return "a mirror pod may not reference secrets"
				case src.ConfigMap != nil:
					return "a mirror pod may not reference configmaps"
				case src.ServiceAccountToken != nil:
					return "a mirror pod may not use ServiceAccountToken volume projections"
				}
			}
		}
	}
	return ""
}

// serviceAccount reads a ServiceAccount, from the local etcd member first
// and from the quorum when that has not seen it yet: an account created a
// moment before its pods is the common case of a fresh namespace.
func (s *Server) serviceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	rs := s.byGVK[corev1.SchemeGroupVersion.WithKind("ServiceAccount")]
	if rs == nil {
		return nil, fmt.Errorf("service accounts are not served: %w", storage.ErrNotFound)
	}
	kv, err := s.store.GetSerializable(ctx, rs.key(ns, name))
	if errors.Is(err, storage.ErrNotFound) {
		kv, err = s.store.Get(ctx, rs.key(ns, name))
	}
	if err != nil {
		return nil, err
	}
	obj, err := rs.decodeStored(kv)
	if err != nil {
		return nil, err
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, fmt.Errorf("decoding service account %s/%s: got %T", ns, name, obj)
	}
	return sa, nil
}

// namespaceActive reports whether ns exists and is not being deleted.
func (s *Server) namespaceActive(ctx context.Context, ns string) (bool, error) {
	nsr := s.byGVK[corev1.SchemeGroupVersion.WithKind("Namespace")]
	obj, _, err := nsr.get(ctx, s.store, "", ns)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n, ok := obj.(*corev1.Namespace)
	return ok && n.DeletionTimestamp == nil && n.Status.Phase != corev1.NamespaceTerminating, nil
}

// createDefaultServiceAccount creates an active namespace's "default"
// ServiceAccount when a pod needs it before the serviceaccount controller
// has made it. Kubernetes refuses such a pod instead (after retrying for
// about a second), which makes a pod created right after its namespace
// fail now and then; the account is the very object the controller would
// write, so creating it here loses nothing and spares that race, and a
// control plane running without its controllers still admits pods.
func (s *Server) createDefaultServiceAccount(ctx context.Context, ns string) (*corev1.ServiceAccount, error) {
	rs := s.byGVK[corev1.SchemeGroupVersion.WithKind("ServiceAccount")]
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccount, Namespace: ns}}
	setTypeMeta(sa, rs.served.GVK)
	_, err := s.createObject(ctx, rs, ns, sa, false)
	if err != nil && !isAlreadyExists(err) {
		return nil, fmt.Errorf("creating service account %s/%s: %w", ns, defaultServiceAccount, err)
	}
	// Read it back whoever wrote it: the pod wants its settings.
	return s.serviceAccount(ctx, ns, defaultServiceAccount)
}

func isAlreadyExists(err error) bool {
	return toStatus(err, schema.GroupResource{}, "").Reason == metav1.StatusReasonAlreadyExists
}
