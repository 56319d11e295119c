package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// defaultFileMode is the mode of projected files when neither the item nor the volume
// sets one (the API server normally defaults defaultMode to this already).
const defaultFileMode fs.FileMode = 0o644

func fileMode(item *int32, defaultMode *int32) fs.FileMode {
	if item != nil {
		return fs.FileMode(*item) & fs.ModePerm
	}
	if defaultMode != nil {
		return fs.FileMode(*defaultMode) & fs.ModePerm
	}
	return defaultFileMode
}

// keyedPayload maps data's keys to files: every key under its own name, or only the
// listed items under their paths. missingKey words the error for an item whose key data
// lacks; with optional such items are left out instead.
func keyedPayload(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, missingKey string) (map[string]file, error) {
	payload := make(map[string]file, len(data))
	if len(items) == 0 {
		for k, v := range data {
			payload[k] = file{data: v, mode: fileMode(nil, defaultMode)}
		}
		return payload, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s: %s", missingKey, it.Key)
		}
		payload[it.Path] = file{data: v, mode: fileMode(it.Mode, defaultMode)}
	}
	return payload, nil
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

// configMapPayload fetches the ConfigMap and lays it out; an optional missing one gives an
// empty volume, as in Kubernetes.
func configMapPayload(ctx context.Context, src Sources, namespace, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]file, error) {
	cm, err := getConfigMap(ctx, src, namespace, name)
	if err != nil {
		if optional && apierrors.IsNotFound(err) {
			return map[string]file{}, nil
		}
		return nil, err
	}
	return keyedPayload(configMapData(cm), items, defaultMode, optional, "configmap references non-existent config key")
}

func secretPayload(ctx context.Context, src Sources, namespace, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]file, error) {
	s, err := getSecret(ctx, src, namespace, name)
	if err != nil {
		if optional && apierrors.IsNotFound(err) {
			return map[string]file{}, nil
		}
		return nil, err
	}
	return keyedPayload(s.Data, items, defaultMode, optional, "references non-existent secret key")
}

// downwardAPIPayload renders downwardAPI items. Only metadata fields and resource
// values are allowed here: a file must not change meaning after the pod started.
func downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, allocatable corev1.ResourceList) (map[string]file, error) {
	payload := make(map[string]file, len(items))
	var errs []error
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			var f fieldRef
			if f, err = parseFieldRef(it.FieldRef.APIVersion, it.FieldRef.FieldPath); err == nil {
				v, err = metadataValue(pod, f)
			}
		case it.ResourceFieldRef != nil:
			v, err = resourceValue(pod, nil, it.ResourceFieldRef, allocatable)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("item %s: %w", it.Path, err))
			continue
		}
		payload[it.Path] = file{data: []byte(v), mode: fileMode(it.Mode, defaultMode)}
	}
	return payload, errors.Join(errs...)
}

// TokenSource issues service account tokens for projected volumes. A Sources that also
// implements it enables serviceAccountToken projections; without it such a volume fails
// with ErrTokenNotSupported.
type TokenSource interface {
	ServiceAccountToken(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error)
}

// ErrTokenNotSupported is returned by Setup for a projected serviceAccountToken source
// when the Sources given to NewManager cannot issue tokens.
var ErrTokenNotSupported = errors.New("serviceAccountToken projection is not supported yet")

// projectedPayload merges every source of a projected volume; sources are all tried so
// one message lists every problem.
func projectedPayload(ctx context.Context, src Sources, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, allocatable corev1.ResourceList) (map[string]file, error) {
	payload := map[string]file{}
	var errs []error
	merge := func(part map[string]file, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for k, v := range part {
			payload[k] = v
		}
	}
	for _, s := range p.Sources {
		switch {
		case s.ConfigMap != nil:
			c := s.ConfigMap
			merge(configMapPayload(ctx, src, pod.Namespace, c.Name, c.Items, p.DefaultMode, c.Optional != nil && *c.Optional))
		case s.Secret != nil:
			c := s.Secret
			merge(secretPayload(ctx, src, pod.Namespace, c.Name, c.Items, p.DefaultMode, c.Optional != nil && *c.Optional))
		case s.DownwardAPI != nil:
			merge(downwardAPIPayload(pod, s.DownwardAPI.Items, p.DefaultMode, allocatable))
		case s.ServiceAccountToken != nil:
			t := s.ServiceAccountToken
			ts, ok := src.(TokenSource)
			if !ok {
				errs = append(errs, fmt.Errorf("token %s: %w", t.Path, ErrTokenNotSupported))
				continue
			}
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			tok, err := ts.ServiceAccountToken(ctx, pod, t.Audience, exp)
			if err != nil {
				errs = append(errs, fmt.Errorf("fetch token: %w", err))
				continue
			}
			mode := fileMode(nil, p.DefaultMode)
			if fsGroup(pod) != nil {
				// Only the owner and, once the group is applied, the fsGroup may read it.
				mode = 0o600
			}
			payload[t.Path] = file{data: []byte(tok), mode: mode}
		case s.ClusterTrustBundle != nil:
			errs = append(errs, errors.New("clusterTrustBundle projection is not supported"))
		default:
			errs = append(errs, errors.New("projected source type is not supported"))
		}
	}
	return payload, errors.Join(errs...)
}
