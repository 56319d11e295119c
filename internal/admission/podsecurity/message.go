package podsecurity

import "strings"

// Message is the text of an enforce rejection at level:latest, as kubectl
// shows it: `pods "x" is forbidden: violates PodSecurity "restricted:latest": ...`.
// An empty podName (a pod named by generateName) drops the quoted name.
func Message(podName string, level Level, vs []Violation) string {
	return LevelVersion{level, Latest}.Message(podName, vs)
}

// Warning is the text of a warn-mode result at level:latest, sent back as a
// Warning header: `would violate PodSecurity "restricted:latest": ...`.
func Warning(level Level, vs []Violation) string {
	return LevelVersion{level, Latest}.Warning(vs)
}

// Message is the package's Message for a namespace that pins a version.
func (lv LevelVersion) Message(podName string, vs []Violation) string {
	subject := "pods"
	if podName != "" {
		subject += ` "` + podName + `"`
	}
	return subject + ` is forbidden: violates PodSecurity "` + lv.String() + `": ` + Reasons(vs)
}

// Warning is the package's Warning for a namespace that pins a version.
func (lv LevelVersion) Warning(vs []Violation) string {
	return `would violate PodSecurity "` + lv.String() + `": ` + Reasons(vs)
}

// Reasons lists violations as "reason (detail), reason", the part of every
// message after the level.
func Reasons(vs []Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Reason)
		if v.Detail != "" {
			b.WriteString(" (" + v.Detail + ")")
		}
	}
	return b.String()
}

// Annotations Kubernetes adds to the audit event of a request: the policy a
// pod was enforced against, and what audit mode found (the Warning text).
const (
	EnforcePolicyAnnotation   = "pod-security.kubernetes.io/enforce-policy"
	AuditViolationsAnnotation = "pod-security.kubernetes.io/audit-violations"
)
