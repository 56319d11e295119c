package volume

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sources fetches the objects volumes and env vars refer to. A missing object comes back
// as an apierrors NotFound error; any other error is passed on to the caller unchanged.
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// NodeInfo is what env vars may reveal about the node and the pod's sandbox.
type NodeInfo struct {
	// HostIP is the node's primary address; HostIPs, when set, lists every address
	// with the primary first.
	HostIP  string
	HostIPs []string
	// PodIPs are the sandbox's addresses, primary first.
	PodIPs []string
	// Allocatable stands in for limits a container leaves unset.
	Allocatable corev1.ResourceList
	// ServiceEnv holds the service variables (KUBERNETES_SERVICE_HOST, …) the kubelet
	// computed for the pod, if any. Values may refer to them with $(VAR), and those the
	// container does not define itself are appended to the result, sorted.
	ServiceEnv map[string]string
}

func (n NodeInfo) hostIPs() []string {
	if len(n.HostIPs) > 0 {
		return n.HostIPs
	}
	if n.HostIP != "" {
		return []string{n.HostIP}
	}
	return nil
}

// The kubelet names these resources in the singular in its own not-found errors, and
// users see that text in events ("configmap \"x\" not found").
var (
	configMapResource = schema.GroupResource{Resource: "configmap"}
	secretResource    = schema.GroupResource{Resource: "secret"}
)

// getConfigMap fetches a ConfigMap, rewriting a NotFound into the kubelet's wording.
func getConfigMap(ctx context.Context, src Sources, namespace, name string) (*corev1.ConfigMap, error) {
	cm, err := src.ConfigMap(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(configMapResource, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)
	}
	return cm, nil
}

func getSecret(ctx context.Context, src Sources, namespace, name string) (*corev1.Secret, error) {
	s, err := src.Secret(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(secretResource, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	return s, nil
}

// envList keeps env vars in the order they were first defined while letting later
// definitions override a value, so the container sees a stable, readable environment.
type envList struct {
	index map[string]int
	kvs   []*runtimeapi.KeyValue
}

func (l *envList) set(k, v string) {
	if i, ok := l.index[k]; ok {
		l.kvs[i].Value = []byte(v)
		return
	}
	if l.index == nil {
		l.index = map[string]int{}
	}
	l.index[k] = len(l.kvs)
	l.kvs = append(l.kvs, &runtimeapi.KeyValue{Key: k, Value: []byte(v)})
}

func (l *envList) get(k string) (string, bool) {
	i, ok := l.index[k]
	if !ok {
		return "", false
	}
	return string(l.kvs[i].Value), true
}

// Env resolves container c's environment the way the kubelet does: envFrom sources in
// order (keys that are not valid variable names are skipped and reported in warnings,
// worded as the kubelet's event), then env entries in order, each value expanding $(VAR)
// references to variables defined before it. A missing non-optional ConfigMap, Secret or
// key is an error in the kubelet's words. Service variables come from node.ServiceEnv.
func Env(ctx context.Context, src Sources, pod *corev1.Pod, c *corev1.Container, node NodeInfo) ([]*runtimeapi.KeyValue, []string, error) {
	var (
		out      envList
		warnings []string
	)
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			ref := from.ConfigMapRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := getConfigMap(ctx, src, pod.Namespace, ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, warnings, err
			}
			if invalid := addEnvFrom(&out, from.Prefix, cm.Data); len(invalid) > 0 {
				warnings = append(warnings, fmt.Sprintf("Keys [%s] from the EnvFrom configMap %s/%s were skipped since they are considered invalid environment variable names.",
					strings.Join(invalid, ", "), pod.Namespace, ref.Name))
			}
		case from.SecretRef != nil:
			ref := from.SecretRef
			optional := ref.Optional != nil && *ref.Optional
			s, err := getSecret(ctx, src, pod.Namespace, ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, warnings, err
			}
			data := make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
			if invalid := addEnvFrom(&out, from.Prefix, data); len(invalid) > 0 {
				warnings = append(warnings, fmt.Sprintf("Keys [%s] from the EnvFrom secret %s/%s were skipped since they are considered invalid environment variable names.",
					strings.Join(invalid, ", "), pod.Namespace, ref.Name))
			}
		}
	}

	// Each object is fetched once per call even when several variables read from it.
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	for _, ev := range c.Env {
		value := ev.Value
		switch {
		case value != "":
			value = Expand(value, func(name string) (string, bool) {
				if v, ok := out.get(name); ok {
					return v, true
				}
				v, ok := node.ServiceEnv[name]
				return v, ok
			})
		case ev.ValueFrom == nil:
		case ev.ValueFrom.FieldRef != nil:
			v, err := podFieldValue(pod, ev.ValueFrom.FieldRef, node)
			if err != nil {
				return nil, warnings, fmt.Errorf("env %s: %w", ev.Name, err)
			}
			value = v
		case ev.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceValue(pod, c, ev.ValueFrom.ResourceFieldRef, node.Allocatable)
			if err != nil {
				return nil, warnings, fmt.Errorf("env %s: %w", ev.Name, err)
			}
			value = v
		case ev.ValueFrom.ConfigMapKeyRef != nil:
			ref := ev.ValueFrom.ConfigMapKeyRef
			optional := ref.Optional != nil && *ref.Optional
			cm, ok := configMaps[ref.Name]
			if !ok {
				var err error
				cm, err = getConfigMap(ctx, src, pod.Namespace, ref.Name)
				if err != nil {
					if apierrors.IsNotFound(err) && optional {
						continue
					}
					return nil, warnings, err
				}
				configMaps[ref.Name] = cm
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, warnings, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = v
		case ev.ValueFrom.SecretKeyRef != nil:
			ref := ev.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			s, ok := secrets[ref.Name]
			if !ok {
				var err error
				s, err = getSecret(ctx, src, pod.Namespace, ref.Name)
				if err != nil {
					if apierrors.IsNotFound(err) && optional {
						continue
					}
					return nil, warnings, err
				}
				secrets[ref.Name] = s
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, warnings, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = string(v)
		default:
			return nil, warnings, fmt.Errorf("env %s: valueFrom source not supported", ev.Name)
		}
		out.set(ev.Name, value)
	}
	names := make([]string, 0, len(node.ServiceEnv))
	for k := range node.ServiceEnv {
		if _, defined := out.index[k]; !defined {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		out.set(k, node.ServiceEnv[k])
	}
	return out.kvs, warnings, nil
}

// addEnvFrom adds data's keys (with prefix) in sorted order and returns the keys that are
// not valid variable names, sorted.
func addEnvFrom(out *envList, prefix string, data map[string]string) []string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var invalid []string
	for _, k := range keys {
		name := prefix + k
		if errs := validation.IsRelaxedEnvVarName(name); len(errs) != 0 {
			invalid = append(invalid, name)
			continue
		}
		out.set(name, data[k])
	}
	return invalid
}
