package podsecurity

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Violation is one check a pod fails. Check is the check's stable ID (as
// Kubernetes names it, e.g. "runAsNonRoot"); Reason is the short text and
// Detail says which part of the pod is at fault. Detail may be empty.
type Violation struct {
	Check  string
	Reason string
	Detail string
}

// check inspects one control. It returns ok=false with a reason and detail
// when the pod breaks it. Both meta and spec are non-nil.
type check struct {
	id string
	// overrides names the baseline checks a restricted check replaces: it
	// covers the same fields more strictly, and both would say it twice.
	overrides []string
	fn        func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (reason, detail string, ok bool)
}

// The order of these lists is the order of reasons in a message, which users
// see and tests compare, so it is Kubernetes': baseline checks, then
// restricted ones, each sorted by ID.
var (
	baselineChecks = []check{
		{id: "appArmorProfile", fn: checkAppArmor},
		{id: "capabilities_baseline", fn: checkCapabilitiesBaseline},
		{id: "hostNamespaces", fn: checkHostNamespaces},
		{id: "hostPathVolumes", fn: checkHostPathVolumes},
		{id: "hostPorts", fn: checkHostPorts},
		{id: "hostProbesAndHostLifecycle", fn: checkProbeHosts},
		{id: "privileged", fn: checkPrivileged},
		{id: "procMount", fn: checkProcMountBaseline},
		{id: "seLinuxOptions", fn: checkSELinux},
		{id: "seccompProfile_baseline", fn: checkSeccompBaseline},
		{id: "sysctls", fn: checkSysctls},
		{id: "windowsHostProcess", fn: checkHostProcess},
	}
	restrictedOnlyChecks = []check{
		{id: "allowPrivilegeEscalation", fn: checkAllowPrivilegeEscalation},
		{id: "capabilities_restricted", overrides: []string{"capabilities_baseline"}, fn: checkCapabilitiesRestricted},
		{id: "procMount_restricted", overrides: []string{"procMount"}, fn: checkProcMount},
		{id: "restrictedVolumes", overrides: []string{"hostPathVolumes"}, fn: checkRestrictedVolumes},
		{id: "runAsNonRoot", fn: checkRunAsNonRoot},
		{id: "runAsUser", fn: checkRunAsUser},
		{id: "seccompProfile_restricted", overrides: []string{"seccompProfile_baseline"}, fn: checkSeccompRestricted},
	}
	restrictedChecks = restrictedList()
)

// restrictedList is every baseline check no restricted check overrides,
// then the restricted checks.
func restrictedList() []check {
	overridden := map[string]bool{}
	for _, c := range restrictedOnlyChecks {
		for _, id := range c.overrides {
			overridden[id] = true
		}
	}
	var list []check
	for _, c := range baselineChecks {
		if !overridden[c.id] {
			list = append(list, c)
		}
	}
	return append(list, restrictedOnlyChecks...)
}

// Check evaluates a pod's metadata and spec (of a pod or of a workload's pod
// template) at a level and returns every violation, in Kubernetes' order.
// Privileged, and an unknown level, allow everything; an unknown level must
// be turned into a known one by ParseLevel first. meta may be nil.
func Check(level Level, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []Violation {
	if spec == nil {
		return nil
	}
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	var checks []check
	switch level {
	case Baseline:
		checks = baselineChecks
	case Restricted:
		checks = restrictedChecks
	default:
		return nil
	}
	var vs []Violation
	for _, c := range checks {
		if reason, detail, ok := c.fn(meta, spec); !ok {
			vs = append(vs, Violation{Check: c.id, Reason: reason, Detail: detail})
		}
	}
	return vs
}

// inUserNamespace reports a pod that asks for its own user namespace: root
// inside it maps to an unprivileged user on the node, so the checks that
// exist to keep processes off host root do not apply.
func inUserNamespace(spec *corev1.PodSpec) bool {
	return spec.HostUsers != nil && !*spec.HostUsers
}

// visitContainers calls fn for every container, init container and
// ephemeral container, in that order.
func visitContainers(spec *corev1.PodSpec, fn func(c *corev1.Container)) {
	for i := range spec.InitContainers {
		fn(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		fn(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		fn(&c)
	}
}

// isWindows reports a pod that declares Windows as its OS: the restricted
// Linux-only controls do not apply to it.
func isWindows(spec *corev1.PodSpec) bool {
	return spec.OS != nil && spec.OS.Name == corev1.Windows
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quoteList renders names as "a", "b".
func quoteList(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return `"` + strings.Join(items, `", "`) + `"`
}

// containersPhrase renders `container "a"` or `containers "a", "b"`.
func containersPhrase(names []string) string {
	return plural(len(names), "container", "containers") + " " + quoteList(names)
}
