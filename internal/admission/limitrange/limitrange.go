// Package limitrange applies a namespace's LimitRanges to pods and
// PersistentVolumeClaims: it fills in default requests and limits, then
// checks min, max and limit-to-request ratios, with Kubernetes' error text.
// It owns the evaluation only; the API server decides when to call it.
package limitrange

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Annotation records which defaults were filled in, so a user can tell a
// request they wrote from one the namespace gave them.
const Annotation = "kubernetes.io/limit-ranger"

// Apply sets default requests and limits from every range on the pod's
// containers and init containers, then validates the pod against every
// range. The pod is changed in place even when validation fails. The error,
// if any, aggregates every broken constraint; its text is what Kubernetes
// puts after `pods "x" is forbidden: `.
//
// The pod is expected to be defaulted already (a request copied from a
// limit where only the limit was set); Apply copies it itself when not, so
// that a range's default request never lands below an explicit limit.
func Apply(ranges []*corev1.LimitRange, pod *corev1.Pod) error {
	if pod == nil {
		return nil
	}
	for _, lr := range ranges {
		if lr != nil {
			setDefaults(lr, pod)
		}
	}
	var errs []error
	for _, lr := range ranges {
		if lr != nil {
			errs = append(errs, validatePod(lr, pod)...)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// ApplyPVC validates a claim's storage request against every range's
// PersistentVolumeClaim min and max.
func ApplyPVC(ranges []*corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) error {
	if pvc == nil {
		return nil
	}
	var errs []error
	for _, lr := range ranges {
		if lr == nil {
			continue
		}
		for i := range lr.Spec.Limits {
			item := &lr.Spec.Limits[i]
			if item.Type != corev1.LimitTypePersistentVolumeClaim {
				continue
			}
			requests := pvc.Spec.Resources.Requests
			for _, name := range sortedNames(item.Min) {
				errs = appendErr(errs, minConstraint(item.Type, name, item.Min[name], requests, nil))
			}
			for _, name := range sortedNames(item.Max) {
				errs = appendErr(errs, maxRequestConstraint(item.Type, name, item.Max[name], requests))
			}
		}
	}
	return utilerrors.NewAggregate(errs)
}

// containerDefaults merges a range's Container items into the limits and
// requests to fill in. A stored range is normally defaulted by the API
// server already; the fallbacks are repeated here (default limit from max,
// default request from default limit, then from min) so an undefaulted range
// behaves the same.
func containerDefaults(lr *corev1.LimitRange) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		itemLimits := corev1.ResourceList{}
		fill(itemLimits, item.Default)
		fill(itemLimits, item.Max)
		itemRequests := corev1.ResourceList{}
		fill(itemRequests, item.DefaultRequest)
		fill(itemRequests, itemLimits)
		fill(itemRequests, item.Min)
		for k, v := range itemLimits {
			limits[k] = v.DeepCopy()
		}
		for k, v := range itemRequests {
			requests[k] = v.DeepCopy()
		}
	}
	return requests, limits
}

// fill copies into dst every entry of src that dst does not have.
func fill(dst, src corev1.ResourceList) {
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v.DeepCopy()
		}
	}
}

func setDefaults(lr *corev1.LimitRange, pod *corev1.Pod) {
	requests, limits := containerDefaults(lr)
	if len(requests) == 0 && len(limits) == 0 {
		return
	}
	var notes []string
	for i := range pod.Spec.Containers {
		notes = append(notes, defaultContainer(&pod.Spec.Containers[i], "container", requests, limits)...)
	}
	for i := range pod.Spec.InitContainers {
		notes = append(notes, defaultContainer(&pod.Spec.InitContainers[i], "init container", requests, limits)...)
	}
	if len(notes) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
}

// defaultContainer fills in c's missing requests and limits and returns the
// annotation notes saying what it set.
func defaultContainer(c *corev1.Container, kind string, requests, limits corev1.ResourceList) []string {
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	// Pod defaulting copies a lone limit to the request before admission.
	for k, v := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[k]; !ok {
			c.Resources.Requests[k] = v.DeepCopy()
		}
	}
	var setLimits, setRequests []string
	for _, k := range sortedNames(limits) {
		if _, ok := c.Resources.Limits[k]; !ok {
			c.Resources.Limits[k] = limits[k].DeepCopy()
			setLimits = append(setLimits, string(k))
		}
	}
	for _, k := range sortedNames(requests) {
		if _, ok := c.Resources.Requests[k]; !ok {
			c.Resources.Requests[k] = requests[k].DeepCopy()
			setRequests = append(setRequests, string(k))
		}
	}
	var notes []string
	if len(setRequests) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(setRequests, ", "), kind, c.Name))
	}
	if len(setLimits) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(setLimits, ", "), kind, c.Name))
	}
	return notes
}

func validatePod(lr *corev1.LimitRange, pod *corev1.Pod) []error {
	var errs []error
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		switch item.Type {
		case corev1.LimitTypeContainer:
			for j := range pod.Spec.Containers {
				errs = append(errs, validateResources(item, pod.Spec.Containers[j].Resources.Requests, pod.Spec.Containers[j].Resources.Limits)...)
			}
			for j := range pod.Spec.InitContainers {
				errs = append(errs, validateResources(item, pod.Spec.InitContainers[j].Resources.Requests, pod.Spec.InitContainers[j].Resources.Limits)...)
			}
		case corev1.LimitTypePod:
			var podRequests, podLimits corev1.ResourceList
			if pod.Spec.Resources != nil {
				podRequests, podLimits = pod.Spec.Resources.Requests, pod.Spec.Resources.Limits
			}
			errs = append(errs, validateResources(item, podTotal(pod, requestsOf, podRequests), podTotal(pod, limitsOf, podLimits))...)
		}
	}
	return errs
}

func validateResources(item *corev1.LimitRangeItem, requests, limits corev1.ResourceList) []error {
	var errs []error
	for _, name := range sortedNames(item.Min) {
		errs = appendErr(errs, minConstraint(item.Type, name, item.Min[name], requests, limits))
	}
	for _, name := range sortedNames(item.Max) {
		errs = appendErr(errs, maxConstraint(item.Type, name, item.Max[name], requests, limits))
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		errs = appendErr(errs, ratioConstraint(item.Type, name, item.MaxLimitRequestRatio[name], requests, limits))
	}
	return errs
}

func requestsOf(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests }
func limitsOf(c *corev1.Container) corev1.ResourceList   { return c.Resources.Limits }

// podTotal is what the pod as a whole asks of each resource: the sum over
// its containers and sidecars (init containers that keep running), or, if
// larger, what an ordinary init container needs while the sidecars started
// before it run. Pod-level cpu and memory, when the pod sets them, replace
// the sum. The pod overhead is left out, as Kubernetes leaves it out: the
// range limits what the user asked for, not what the runtime adds.
func podTotal(pod *corev1.Pod, of func(*corev1.Container) corev1.ResourceList, podLevel corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		add(total, of(&pod.Spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	peak := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(sidecars, of(c))
			add(total, of(c))
			continue
		}
		during := corev1.ResourceList{}
		add(during, sidecars)
		add(during, of(c))
		for k, v := range during {
			if p, ok := peak[k]; !ok || v.Cmp(p) > 0 {
				peak[k] = v.DeepCopy()
			}
		}
	}
	for k, v := range peak {
		if t, ok := total[k]; !ok || v.Cmp(t) > 0 {
			total[k] = v.DeepCopy()
		}
	}
	for k, v := range podLevel {
		if k == corev1.ResourceCPU || k == corev1.ResourceMemory {
			total[k] = v.DeepCopy()
		}
	}
	return total
}

func add(dst, src corev1.ResourceList) {
	for k, v := range src {
		q := dst[k]
		q.Add(v)
		dst[k] = q
	}
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// compared returns request, limit and enforced as comparable integers: in
// thousandths when none of them would overflow that, so 100m and 0.1 compare
// right, and in whole units otherwise.
func compared(request, limit, enforced resource.Quantity) (r, l, e int64) {
	r, l, e = request.Value(), limit.Value(), enforced.Value()
	if r <= resource.MaxMilliValue && l <= resource.MaxMilliValue && e <= resource.MaxMilliValue {
		r, l, e = request.MilliValue(), limit.MilliValue(), enforced.MilliValue()
	}
	return r, l, e
}

func minConstraint(kind corev1.LimitType, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, e := compared(req, lim, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case r < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	case hasLim && l < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	}
	return nil
}

func maxConstraint(kind corev1.LimitType, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, e := compared(req, lim, enforced)
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, kind, enforced.String())
	case l > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	case hasReq && r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

// maxRequestConstraint is the max check for claims, which have requests but
// no limits.
func maxRequestConstraint(kind corev1.LimitType, name corev1.ResourceName, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, hasReq := requests[name]
	r, _, e := compared(req, resource.Quantity{}, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(kind corev1.LimitType, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, _ := compared(req, lim, enforced)
	if !hasReq || r == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, enforced.String())
	}
	if !hasLim || l == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, kind, enforced.String())
	}
	ratio := float64(l) / float64(r)
	// The enforced ratio may be fractional (1500m); compare in thousandths
	// when it fits.
	observed, allowed := ratio, float64(enforced.Value())
	if enforced.Value() <= resource.MaxMilliValue {
		observed, allowed = ratio*1000, float64(enforced.MilliValue())
	}
	if observed > allowed {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, enforced.String(), ratio)
	}
	return nil
}
