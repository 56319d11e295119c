// Package resourcequota measures what objects cost against a namespace's
// ResourceQuotas and decides, as Kubernetes' ResourceQuota admission does,
// whether a new object fits: which quota resource names an object counts
// towards ("pods", "requests.cpu", "services.nodeports",
// "gold.storageclass.storage.k8s.io/requests.storage",
// "count/deployments.apps", ...), which quotas apply to it (scopes), and
// the refusals with Kubernetes' text. It owns the arithmetic only: the API
// server charges quotas with what Check returns, and the quota controller
// sums Usage over a namespace's objects.
package resourcequota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The group resources with usage beyond an object count.
var (
	Pods                   = schema.GroupResource{Resource: "pods"}
	Services               = schema.GroupResource{Resource: "services"}
	PersistentVolumeClaims = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// storageClassSuffix ends the per-StorageClass PVC quota names:
// "<class>.storageclass.storage.k8s.io/requests.storage".
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// podNames are the fixed quota names a pod counts towards.
var podNames = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, "count/pods": true,
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourceLimitsEphemeralStorage: true,
}

// legacyCounts are the object counts Kubernetes tracked before
// "count/<resource>" existed; both names count the same objects.
var legacyCounts = map[corev1.ResourceName]schema.GroupResource{
	corev1.ResourceServices:               Services,
	corev1.ResourcePersistentVolumeClaims: PersistentVolumeClaims,
	corev1.ResourceConfigMaps:             {Resource: "configmaps"},
	corev1.ResourceSecrets:                {Resource: "secrets"},
	corev1.ResourceReplicationControllers: {Resource: "replicationcontrollers"},
	corev1.ResourceQuotas:                 {Resource: "resourcequotas"},
}

// CountName is the object-count quota name of gr: "count/pods",
// "count/deployments.apps".
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// Tracked returns the group resource whose objects the quota resource
// name counts, and false for a name no object counts towards (a quota may
// list it; it then stays unused).
func Tracked(name corev1.ResourceName) (schema.GroupResource, bool) {
	s := string(name)
	if podNames[name] {
		return Pods, true
	}
	if gr, ok := legacyCounts[name]; ok {
		return gr, true
	}
	switch name {
	case corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers:
		return Services, true
	case corev1.ResourceRequestsStorage:
		return PersistentVolumeClaims, true
	}
	if rest, ok := strings.CutPrefix(s, "count/"); ok {
		res, group, dotted := strings.Cut(rest, ".")
		if res == "" || (dotted && group == "") {
			return schema.GroupResource{}, false
		}
		return schema.GroupResource{Group: group, Resource: res}, true
	}
	if class, res, ok := storageClassName(name); ok && class != "" {
		switch res {
		case corev1.ResourceRequestsStorage, corev1.ResourcePersistentVolumeClaims:
			return PersistentVolumeClaims, true
		}
		return schema.GroupResource{}, false
	}
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) || strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix) {
		return Pods, true
	}
	// Extended resources ("requests.example.com/gpu") are quota'd by
	// request only: they cannot be overcommitted.
	if rest, ok := strings.CutPrefix(s, corev1.DefaultResourceRequestsPrefix); ok && rest != "" && !isNative(corev1.ResourceName(rest)) {
		return Pods, true
	}
	return schema.GroupResource{}, false
}

// storageClassName splits "<class>.storageclass.storage.k8s.io/<res>".
func storageClassName(name corev1.ResourceName) (class string, res corev1.ResourceName, ok bool) {
	i := strings.Index(string(name), storageClassSuffix)
	if i < 0 {
		return "", "", false
	}
	return string(name[:i]), name[i+len(storageClassSuffix):], true
}

// StorageClassName is the per-class quota name of a PVC resource.
func StorageClassName(class string, res corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(class + storageClassSuffix + string(res))
}

// isNative reports whether name is a Kubernetes resource rather than an
// extended one: no domain, or a kubernetes.io one.
func isNative(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
}

// Matching returns the names among names that objects of gr count
// towards, in the given order.
func Matching(gr schema.GroupResource, names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		if t, ok := Tracked(n); ok && t == gr {
			out = append(out, n)
		}
	}
	return out
}
