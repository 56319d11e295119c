package resourcequota

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// storageClassAnnotation is the pre-storageClassName way of naming a
// PVC's class, still honoured by Kubernetes' quota.
const storageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// Usage returns what obj, an object of gr, counts towards every quota name
// it can. Pods, Services and PersistentVolumeClaims must be given typed;
// any other object only counts as one of its kind. now decides whether a
// pod being deleted past its grace period still counts.
func Usage(gr schema.GroupResource, obj runtime.Object, now time.Time) (corev1.ResourceList, error) {
	out := corev1.ResourceList{CountName(gr): one()}
	for name, lgr := range legacyCounts {
		if lgr == gr {
			out[name] = one()
		}
	}
	switch gr {
	case Pods:
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("quota usage of pods: expected *v1.Pod, got %T", obj)
		}
		addPodUsage(out, pod, now)
	case Services:
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return nil, fmt.Errorf("quota usage of services: expected *v1.Service, got %T", obj)
		}
		addServiceUsage(out, svc)
	case PersistentVolumeClaims:
		pvc, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok {
			return nil, fmt.Errorf("quota usage of persistentvolumeclaims: expected *v1.PersistentVolumeClaim, got %T", obj)
		}
		addPVCUsage(out, pvc)
	}
	return out, nil
}

func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

// PodCounts reports whether a pod still uses its compute resources and
// its "pods" count: not once it has finished, nor once it is being
// deleted past its grace period (a pod stuck on a lost node must not
// block its replacement).
func PodCounts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

func addPodUsage(out corev1.ResourceList, pod *corev1.Pod, now time.Time) {
	if !PodCounts(pod, now) {
		return
	}
	requests := podTotals(&pod.Spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
	limits := podTotals(&pod.Spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	// The overhead of the pod's runtime class is asked for with the
	// requests, and counts against limits only where the pod sets one.
	addTo(requests, pod.Spec.Overhead)
	for name, q := range pod.Spec.Overhead {
		if cur, ok := limits[name]; ok {
			cur.Add(q)
			limits[name] = cur
		}
	}
	for name, q := range computeUsage(requests, limits) {
		out[name] = q
	}
}

// computeUsage turns requests and limits (of a container or a whole pod)
// into quota names. "cpu" and "memory" are the old names of the requests.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: one()}
	for _, r := range []struct{ res, plain, req, lim corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if q, ok := requests[r.res]; ok {
			out[r.plain] = q.DeepCopy()
			out[r.req] = q.DeepCopy()
		}
		if q, ok := limits[r.res]; ok {
			out[r.lim] = q.DeepCopy()
		}
	}
	for name, q := range requests {
		switch {
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		case !isNative(name):
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		}
	}
	return out
}

// podTotals is what a pod holds of each resource at its peak, as the
// scheduler counts it: its containers and sidecars together, or an init
// container with the sidecars started before it, whichever is more.
func podTotals(spec *corev1.PodSpec, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for i := range spec.Containers {
		addTo(sum, of(&spec.Containers[i]))
	}
	sidecars, initPeak := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addTo(sidecars, of(c))
			maxInto(initPeak, sidecars)
			continue
		}
		running := corev1.ResourceList{}
		addTo(running, sidecars)
		addTo(running, of(c))
		maxInto(initPeak, running)
	}
	addTo(sum, sidecars)
	maxInto(sum, initPeak)
	return sum
}

func addTo(dst, src corev1.ResourceList) {
	for name, q := range src {
		cur := dst[name]
		cur.Add(q)
		dst[name] = cur
	}
}

func maxInto(dst, src corev1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

func addServiceUsage(out corev1.ResourceList, svc *corev1.Service) {
	out[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(0, resource.DecimalSI)
	out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(0, resource.DecimalSI)
	ports := *resource.NewQuantity(int64(len(svc.Spec.Ports)), resource.DecimalSI)
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = ports
	case corev1.ServiceTypeLoadBalancer:
		out[corev1.ResourceServicesLoadBalancers] = one()
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a == nil || *a {
			out[corev1.ResourceServicesNodePorts] = ports
		}
	}
}

func addPVCUsage(out corev1.ResourceList, pvc *corev1.PersistentVolumeClaim) {
	class := pvc.Annotations[storageClassAnnotation]
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class != "" {
		out[StorageClassName(class, corev1.ResourcePersistentVolumeClaims)] = one()
	}
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	// A claim whose expansion failed keeps what was allocated, which may
	// be more than it now asks for.
	if alloc, found := pvc.Status.AllocatedResources[corev1.ResourceStorage]; found && (!ok || alloc.Cmp(req) > 0) {
		req, ok = alloc, true
	}
	if !ok {
		return
	}
	out[corev1.ResourceRequestsStorage] = req.DeepCopy()
	if class != "" {
		out[StorageClassName(class, corev1.ResourceRequestsStorage)] = req.DeepCopy()
	}
}
