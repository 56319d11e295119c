package volume

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// splitSubscript splits "metadata.labels['app']" into ("metadata.labels", "app", true).
// A path without a trailing "']" or without a field before "['" is not subscripted.
func splitSubscript(path string) (field, key string, ok bool) {
	rest, found := strings.CutSuffix(path, "']")
	if !found {
		return path, "", false
	}
	field, key, found = strings.Cut(rest, "['")
	if !found || field == "" {
		return path, "", false
	}
	return field, key, true
}

// fieldRef is a parsed pod fieldRef: a field and, for labels and annotations, one key.
type fieldRef struct {
	field string
	key   string
	keyed bool
}

// parseFieldRef checks a fieldRef as the API accepts them for apiVersion v1 and says which
// pod field it names.
func parseFieldRef(apiVersion, path string) (fieldRef, error) {
	if apiVersion != "" && apiVersion != "v1" {
		return fieldRef{}, fmt.Errorf("unsupported pod version: %s", apiVersion)
	}
	if field, key, ok := splitSubscript(path); ok {
		switch field {
		case "metadata.labels", "metadata.annotations":
		default:
			return fieldRef{}, fmt.Errorf("field label does not support subscript: %s", field)
		}
		if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
			return fieldRef{}, fmt.Errorf("invalid key subscript in %s: %s", field, strings.Join(errs, ";"))
		}
		return fieldRef{field: field, key: key, keyed: true}, nil
	}
	switch path {
	case "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
		"metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
		"spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs",
		"status.podIP", "status.podIPs":
		return fieldRef{field: path}, nil
	}
	return fieldRef{}, fmt.Errorf("field label not supported: %s", path)
}

// metadataValue resolves the metadata fields both env and downwardAPI volumes may name.
func metadataValue(pod *corev1.Pod, f fieldRef) (string, error) {
	switch f.field {
	case "metadata.labels":
		if f.keyed {
			return pod.Labels[f.key], nil
		}
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		if f.keyed {
			return pod.Annotations[f.key], nil
		}
		return formatMap(pod.Annotations), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", f.field)
}

// podFieldValue resolves a fieldRef for an env var, where spec and status fields the
// kubelet knows at container start are also available.
func podFieldValue(pod *corev1.Pod, sel *corev1.ObjectFieldSelector, node NodeInfo) (string, error) {
	f, err := parseFieldRef(sel.APIVersion, sel.FieldPath)
	if err != nil {
		return "", err
	}
	switch f.field {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		if ips := node.hostIPs(); len(ips) > 0 {
			return ips[0], nil
		}
		return "", nil
	case "status.hostIPs":
		return strings.Join(node.hostIPs(), ","), nil
	case "status.podIP":
		if len(node.PodIPs) > 0 {
			return node.PodIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(node.PodIPs, ","), nil
	}
	return metadataValue(pod, f)
}

// formatMap renders labels or annotations as a downwardAPI file shows them: sorted
// key="quoted value" lines.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceValue resolves a resourceFieldRef against container c of pod. Limits the
// container does not set default to the node's allocatable, as the kubelet reports them,
// so a program sizing itself from limits.memory sees what it can really use.
func resourceValue(pod *corev1.Pod, c *corev1.Container, sel *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if sel.ContainerName != "" && (c == nil || c.Name != sel.ContainerName) {
		c = findContainer(pod, sel.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %s not found", sel.ContainerName)
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s: containerName is required", sel.Resource)
	}
	divisor := resource.MustParse("1")
	if !sel.Divisor.IsZero() {
		divisor = sel.Divisor
	}
	kind, name, ok := strings.Cut(sel.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", sel.Resource)
	}
	rn := corev1.ResourceName(name)
	switch {
	case rn == corev1.ResourceCPU, rn == corev1.ResourceMemory, rn == corev1.ResourceEphemeralStorage,
		strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("unsupported container resource : %v", sel.Resource)
	}
	var q resource.Quantity
	if kind == "limits" {
		l, set := c.Resources.Limits[rn]
		if !set && !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			l = allocatable[rn]
		}
		q = l
	} else {
		q = c.Resources.Requests[rn]
	}
	if rn == corev1.ResourceCPU {
		if divisor.MilliValue() == 0 {
			return "", fmt.Errorf("resourceFieldRef %s: divisor %s is below 1m", sel.Resource, divisor.String())
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	if divisor.Value() == 0 {
		return "", fmt.Errorf("resourceFieldRef %s: divisor %s is below 1", sel.Resource, divisor.String())
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
