package resourcequota

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// selectors lists a quota's scopes and scope selector as one set of
// requirements that must all hold.
func selectors(spec *corev1.ResourceQuotaSpec) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if spec.ScopeSelector != nil {
		out = append(out, spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// InScope reports whether obj, of gr, falls within the quota's scopes.
// Scopes describe pods only: a quota with any scope applies to no other
// kind, as in Kubernetes.
func InScope(spec *corev1.ResourceQuotaSpec, gr schema.GroupResource, obj runtime.Object) (bool, error) {
	sel := selectors(spec)
	if len(sel) == 0 {
		return true, nil
	}
	pod, ok := obj.(*corev1.Pod)
	if gr != Pods || !ok {
		return false, nil
	}
	for _, s := range sel {
		in, err := podInScope(s, pod)
		if err != nil || !in {
			return false, err
		}
	}
	return true, nil
}

func podInScope(s corev1.ScopedResourceSelectorRequirement, pod *corev1.Pod) (bool, error) {
	switch s.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		return priorityClassIn(s, pod.Spec.PriorityClassName)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod), nil
	}
	return false, nil
}

// terminating pods are those with a deadline: they end by themselves.
func terminating(pod *corev1.Pod) bool {
	d := pod.Spec.ActiveDeadlineSeconds
	return d != nil && *d >= 0
}

// bestEffort pods ask for no CPU or memory, by request or limit, in any
// container or at pod level.
func bestEffort(pod *corev1.Pod) bool {
	asks := func(r corev1.ResourceRequirements) bool {
		for _, l := range []corev1.ResourceList{r.Requests, r.Limits} {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := l[name]; ok && !q.IsZero() {
					return true
				}
			}
		}
		return false
	}
	if pod.Spec.Resources != nil && asks(*pod.Spec.Resources) {
		return false
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if asks(cs[i].Resources) {
				return false
			}
		}
	}
	return true
}

// priorityClassIn evaluates a PriorityClass scope requirement the way a
// label selector on the key "PriorityClass" would: a pod without a class
// has no such label.
func priorityClassIn(s corev1.ScopedResourceSelectorRequirement, class string) (bool, error) {
	switch s.Operator {
	case corev1.ScopeSelectorOpExists:
		return class != "", nil
	case corev1.ScopeSelectorOpDoesNotExist:
		return class == "", nil
	case corev1.ScopeSelectorOpIn:
		return class != "" && slices.Contains(s.Values, class), nil
	case corev1.ScopeSelectorOpNotIn:
		return class == "" || !slices.Contains(s.Values, class), nil
	}
	return false, fmt.Errorf("scope %s: unknown operator %q", s.ScopeName, s.Operator)
}

// crossNamespaceAffinity reports whether any pod (anti-)affinity term of
// the pod looks at other namespaces.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t *corev1.PodAffinityTerm) bool { return len(t.Namespaces) > 0 || t.NamespaceSelector != nil }
	check := func(req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm) bool {
		for i := range req {
			if cross(&req[i]) {
				return true
			}
		}
		for i := range pref {
			if cross(&pref[i].PodAffinityTerm) {
				return true
			}
		}
		return false
	}
	if pa := a.PodAffinity; pa != nil && check(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	if pa := a.PodAntiAffinity; pa != nil && check(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	return false
}

// constrained are the names whose quota obliges every container to say
// how much it wants. Kubernetes keeps this for cpu and memory only, for
// compatibility; other resources are charged what is set, zero if nothing.
var constrained = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true,
}

// Constraints refuses a pod with a container (or init container) that
// does not set a request or limit a quota tracks, naming the containers:
// "must specify limits.cpu for: a,b; limits.memory for: a". Pod-level
// resources satisfy every container. Other kinds have no constraints.
func Constraints(gr schema.GroupResource, tracked []corev1.ResourceName, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if gr != Pods || !ok {
		return nil
	}
	if r := pod.Spec.Resources; r != nil && (len(r.Requests) > 0 || len(r.Limits) > 0) {
		return nil
	}
	var required []corev1.ResourceName
	for _, n := range tracked {
		if constrained[n] {
			required = append(required, n)
		}
	}
	if len(required) == 0 {
		return nil
	}
	missing := map[corev1.ResourceName][]string{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			c := &cs[i]
			has := computeUsage(c.Resources.Requests, c.Resources.Limits)
			for _, n := range required {
				if _, ok := has[n]; !ok && !slices.Contains(missing[n], c.Name) {
					missing[n] = append(missing[n], c.Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, string(n))
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		cs := missing[corev1.ResourceName(n)]
		sort.Strings(cs)
		parts = append(parts, n+" for: "+strings.Join(cs, ","))
	}
	return fmt.Errorf("must specify %s", strings.Join(parts, "; "))
}
