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
	fn func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (reason, detail string, ok bool)
}

// The order of these lists is the order of reasons in a message, which users
// see and tests compare, so it follows Kubernetes: baseline checks first,
// then the restricted ones, each group ordered by check ID.
var (
	// baselineChecks apply at baseline and restricted.
	baselineChecks = []check{
		{"appArmorProfile", checkAppArmor},
		{"hostNamespaces", checkHostNamespaces},
		{"hostPathVolumes", checkHostPathVolumes},
		{"hostPorts", checkHostPorts},
		{"hostProbesAndHostLifecycle", checkProbeHosts},
		{"privileged", checkPrivileged},
		{"procMount", checkProcMount},
		{"seLinuxOptions", checkSELinux},
		{"sysctls", checkSysctls},
		{"windowsHostProcess", checkHostProcess},
	}
	// baselineOnlyChecks apply at baseline only: restricted has a stricter
	// check for the same fields, and reporting both would say it twice.
	baselineOnlyChecks = []check{
		{"capabilities_baseline", checkCapabilitiesBaseline},
		{"seccompProfile_baseline", checkSeccompBaseline},
	}
	restrictedChecks = []check{
		{"allowPrivilegeEscalation", checkAllowPrivilegeEscalation},
		{"capabilities_restricted", checkCapabilitiesRestricted},
		{"restrictedVolumes", checkRestrictedVolumes},
		{"runAsNonRoot", checkRunAsNonRoot},
		{"runAsUser", checkRunAsUser},
		{"seccompProfile_restricted", checkSeccompRestricted},
	}
)

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
	var checks [][]check
	switch level {
	case Baseline:
		checks = [][]check{baselineChecks, baselineOnlyChecks}
	case Restricted:
		checks = [][]check{baselineChecks, restrictedChecks}
	default:
		return nil
	}
	var vs []Violation
	for _, group := range checks {
		for _, c := range group {
			if reason, detail, ok := c.fn(meta, spec); !ok {
				vs = append(vs, Violation{Check: c.id, Reason: reason, Detail: detail})
			}
		}
	}
	return vs
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
