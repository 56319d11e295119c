package registry

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func pods() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Pod"),
		Resource:   "pods",
		Singular:   "pod",
		ShortNames: []string{"po"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Pod{} },
		NewList:    func() runtime.Object { return &corev1.PodList{} },
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(&pod.Spec)}
			if len(pod.Spec.SchedulingGates) > 0 {
				pod.Status.Conditions = []corev1.PodCondition{{
					Type:    corev1.PodScheduled,
					Status:  corev1.ConditionFalse,
					Reason:  corev1.PodReasonSchedulingGated,
					Message: "Scheduling is blocked due to non-empty scheduling gates",
				}}
			}
		},
		Defaults: func(obj runtime.Object) { defaultPod(obj.(*corev1.Pod)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			pod := obj.(*corev1.Pod)
			spec := field.NewPath("spec")
			errs := validatePodSpec(&pod.Spec, spec)
			o, ok := old.(*corev1.Pod)
			if !ok {
				if len(pod.Spec.EphemeralContainers) > 0 {
					errs = append(errs, field.Forbidden(spec.Child("ephemeralContainers"), "cannot be set on create"))
				}
				return errs
			}
			return append(errs, validatePodUpdate(&pod.Spec, &o.Spec, spec)...)
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Ready", "string", "The number of containers ready out of the total."),
			col("Status", "string", "The aggregate state of the containers in the pod."),
			col("Restarts", "string", "The number of times the containers have been restarted, and how long ago the last restart was."),
			ageColumn,
			wideCol("IP", "string", "The IP address of the pod."),
			wideCol("Node", "string", "The node the pod is bound to."),
			wideCol("Nominated Node", "string", "The node the scheduler nominated for the pod after preempting others."),
			wideCol("Readiness Gates", "string", "The number of readiness gates met out of the total."),
		},
		Row: func(obj runtime.Object) []any {
			pod := obj.(*corev1.Pod)
			s := summarizePod(pod)
			ip := pod.Status.PodIP
			if len(pod.Status.PodIPs) > 0 {
				ip = pod.Status.PodIPs[0].IP
			}
			return []any{
				pod.Name, fmt.Sprintf("%d/%d", s.ready, s.total), s.status, s.restarts(), age(obj),
				noneIfEmpty(ip), noneIfEmpty(pod.Spec.NodeName), noneIfEmpty(pod.Status.NominatedNodeName), readinessGates(pod),
			}
		},
		Fields: func(obj runtime.Object) fields.Set {
			pod := obj.(*corev1.Pod)
			ip := ""
			if len(pod.Status.PodIPs) > 0 {
				ip = pod.Status.PodIPs[0].IP
			}
			return fields.Set{
				"spec.nodeName":            pod.Spec.NodeName,
				"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
				"spec.schedulerName":       pod.Spec.SchedulerName,
				"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
				"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
				"status.phase":             string(pod.Status.Phase),
				"status.podIP":             ip,
				"status.nominatedNodeName": pod.Status.NominatedNodeName,
			}
		},
	}
}

// defaultPod adds to the shared pod spec defaults what Kubernetes sets only
// on pods, never on templates.
func defaultPod(pod *corev1.Pod) {
	s := &pod.Spec
	defaultPodSpec(s)
	for i := range s.InitContainers {
		requestsFromLimits(&s.InitContainers[i].Resources)
	}
	for i := range s.Containers {
		requestsFromLimits(&s.Containers[i].Resources)
	}
	if s.Resources != nil {
		requestsFromLimits(s.Resources)
	}
	if s.EnableServiceLinks == nil {
		s.EnableServiceLinks = new(corev1.DefaultEnableServiceLinks)
	}
	if s.PreemptionPolicy == nil {
		s.PreemptionPolicy = new(corev1.PreemptLowerPriority)
	}
	if s.HostNetwork {
		for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
			for i := range cs {
				for j := range cs[i].Ports {
					if p := &cs[i].Ports[j]; p.HostPort == 0 {
						p.HostPort = p.ContainerPort
					}
				}
			}
		}
	}
}

// requestsFromLimits: a limit without a request asks for what it caps.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		r.Requests[name] = q.DeepCopy()
	}
}

// PodQOS is the QoS class of a pod with spec s, as Kubernetes computes it
// on create; admission that changes resources computes it again.
func PodQOS(s *corev1.PodSpec) corev1.PodQOSClass { return podQOS(s) }

// podQOS classifies a pod by its cpu and memory requests and limits. It
// runs before defaulting, so a missing request counts as its limit.
func podQOS(s *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := l[name]
		sum.Add(q)
		l[name] = sum
	}
	consider := func(r *corev1.ResourceRequirements) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			lim, hasLimit := r.Limits[name]
			hasLimit = hasLimit && lim.Sign() > 0
			req, hasRequest := r.Requests[name]
			if !hasRequest {
				req, hasRequest = lim, hasLimit
			}
			if hasRequest && req.Sign() > 0 {
				add(requests, name, req)
			}
			if hasLimit {
				add(limits, name, lim)
			} else {
				guaranteed = false
			}
		}
	}
	if podLevelResources(s) {
		consider(s.Resources)
	} else {
		for i := range s.InitContainers {
			consider(&s.InitContainers[i].Resources)
		}
		for i := range s.Containers {
			consider(&s.Containers[i].Resources)
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	for name, req := range requests {
		if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
			guaranteed = false
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// podLevelResources: pod-wide cpu or memory settings replace the
// containers' for classification.
func podLevelResources(s *corev1.PodSpec) bool {
	if s.Resources == nil {
		return false
	}
	for _, l := range []corev1.ResourceList{s.Resources.Requests, s.Resources.Limits} {
		if _, ok := l[corev1.ResourceCPU]; ok {
			return true
		}
		if _, ok := l[corev1.ResourceMemory]; ok {
			return true
		}
	}
	return false
}

const podUpdateMessage = "pod updates may not change fields other than `spec.containers[*].image`, " +
	"`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), " +
	"`spec.terminationGracePeriodSeconds`, `spec.schedulingGates` (only removals)"

// validatePodUpdate: a pod's spec is fixed once created, but for images,
// a shorter deadline, added tolerations, the grace period and removed
// scheduling gates. The node is set through the binding subresource.
func validatePodUpdate(s, old *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	m := s.DeepCopy()
	if len(m.Containers) == len(old.Containers) {
		for i := range m.Containers {
			m.Containers[i].Image = old.Containers[i].Image
		}
	}
	if len(m.InitContainers) == len(old.InitContainers) {
		for i := range m.InitContainers {
			m.InitContainers[i].Image = old.InitContainers[i].Image
		}
	}
	if was := old.ActiveDeadlineSeconds; was != nil {
		ap := p.Child("activeDeadlineSeconds")
		if now := s.ActiveDeadlineSeconds; now == nil {
			errs = append(errs, field.Invalid(ap, nil, "must not update from a positive integer to nil value"))
		} else if *now > *was {
			errs = append(errs, field.Invalid(ap, *now, "must be less than or equal to previous value"))
		}
	}
	m.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	m.TerminationGracePeriodSeconds = old.TerminationGracePeriodSeconds

	kept := true
	for _, t := range old.Tolerations {
		kept = kept && slices.ContainsFunc(s.Tolerations, func(n corev1.Toleration) bool { return apiequality.Semantic.DeepEqual(n, t) })
	}
	if kept {
		m.Tolerations = old.Tolerations
	}
	for i, g := range s.SchedulingGates {
		if !slices.Contains(old.SchedulingGates, g) {
			errs = append(errs, field.Forbidden(p.Child("schedulingGates").Index(i), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	m.SchedulingGates = old.SchedulingGates

	if !apiequality.Semantic.DeepEqual(m, old) {
		errs = append(errs, field.Forbidden(p, podUpdateMessage))
	}
	return errs
}

// podSummary is what kubectl get pods shows about the containers.
type podSummary struct {
	ready, total int
	status       string
	restartCount int64
	lastRestart  metav1.Time
}

func (s podSummary) restarts() string {
	n := strconv.FormatInt(s.restartCount, 10)
	if s.restartCount > 0 && !s.lastRestart.IsZero() {
		return fmt.Sprintf("%s (%s ago)", n, since(s.lastRestart))
	}
	return n
}

func (s *podSummary) countRestarts(c corev1.ContainerStatus) {
	s.restartCount += int64(c.RestartCount)
	if t := c.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(s.lastRestart.Time) {
		s.lastRestart = t.FinishedAt
	}
}

// summarizePod computes the READY, STATUS and RESTARTS cells: the pod's
// phase or reason, overridden by the first init container still at work,
// else by the most telling regular container state.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), status: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	initializing := false
	for i, c := range pod.Status.InitContainerStatuses {
		s.countRestarts(c)
		started := c.Started != nil && *c.Started
		if sidecars[c.Name] && started && c.Ready {
			s.ready++
		}
		switch st := c.State; {
		case st.Terminated != nil && st.Terminated.ExitCode == 0:
			continue
		case sidecars[c.Name] && started:
			continue
		case st.Terminated != nil:
			s.status = "Init:" + terminatedReason(st.Terminated)
		case st.Waiting != nil && st.Waiting.Reason != "" && st.Waiting.Reason != "PodInitializing":
			s.status = "Init:" + st.Waiting.Reason
		default:
			s.status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podCondition(pod, corev1.PodInitialized) {
		running := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			c := pod.Status.ContainerStatuses[i]
			s.countRestarts(c)
			switch st := c.State; {
			case st.Waiting != nil && st.Waiting.Reason != "":
				s.status = st.Waiting.Reason
			case st.Terminated != nil:
				s.status = terminatedReason(st.Terminated)
			case c.Ready && st.Running != nil:
				running = true
				s.ready++
			}
		}
		// A finished container next to running ones says nothing of the pod.
		if s.status == "Completed" && running {
			s.status = "NotReady"
			if podCondition(pod, corev1.PodReady) {
				s.status = "Running"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == "NodeLost":
			s.status = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

func podCondition(pod *corev1.Pod, typ corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	met := 0
	for _, g := range pod.Spec.ReadinessGates {
		if podCondition(pod, g.ConditionType) {
			met++
		}
	}
	return fmt.Sprintf("%d/%d", met, len(pod.Spec.ReadinessGates))
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
