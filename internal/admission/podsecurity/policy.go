package podsecurity

import (
	"errors"
	"fmt"
)

// The namespace labels that set a namespace's policy.
const (
	EnforceLevelLabel   = "pod-security.kubernetes.io/enforce"
	EnforceVersionLabel = "pod-security.kubernetes.io/enforce-version"
	AuditLevelLabel     = "pod-security.kubernetes.io/audit"
	AuditVersionLabel   = "pod-security.kubernetes.io/audit-version"
	WarnLevelLabel      = "pod-security.kubernetes.io/warn"
	WarnVersionLabel    = "pod-security.kubernetes.io/warn-version"
)

// Policy is what a namespace asks for in each mode: enforce rejects the pod,
// audit records the violation, warn returns it to the client.
type Policy struct {
	Enforce LevelVersion
	Audit   LevelVersion
	Warn    LevelVersion
}

// PolicyFor reads a namespace's labels. A mode without a label is
// privileged:latest. A policy is always returned, even with an error listing
// the bad labels: a bad enforce level becomes restricted (fail closed), a bad
// audit or warn level becomes privileged (they only report), and a bad
// version becomes latest.
//
// A namespace that enforces a level but sets no warn label warns at the
// enforce level: enforce applies to pods only, and this is how a user
// creating a Deployment hears that its pods will be refused.
func PolicyFor(labels map[string]string) (Policy, error) {
	p := Policy{
		Enforce: LevelVersion{Privileged, Latest},
		Audit:   LevelVersion{Privileged, Latest},
		Warn:    LevelVersion{Privileged, Latest},
	}
	var errs []error
	modes := []struct {
		lv               *LevelVersion
		levelKey, verKey string
		levelOnBadLabel  Level
	}{
		{&p.Enforce, EnforceLevelLabel, EnforceVersionLabel, Restricted},
		{&p.Audit, AuditLevelLabel, AuditVersionLabel, Privileged},
		{&p.Warn, WarnLevelLabel, WarnVersionLabel, Privileged},
	}
	for _, m := range modes {
		if s, ok := labels[m.levelKey]; ok {
			l, err := ParseLevel(s)
			if err != nil {
				l = m.levelOnBadLabel
				errs = append(errs, fmt.Errorf("label %s: %w", m.levelKey, err))
			}
			m.lv.Level = l
		}
		if s, ok := labels[m.verKey]; ok {
			v, err := ParseVersion(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("label %s: %w", m.verKey, err))
			}
			m.lv.Version = v
		}
	}
	_, warnSet := labels[WarnLevelLabel]
	_, warnVersionSet := labels[WarnVersionLabel]
	enforce, enforceErr := ParseLevel(labels[EnforceLevelLabel])
	_, enforceSet := labels[EnforceLevelLabel]
	if !warnSet && enforceSet && enforceErr == nil && strictness(enforce) > strictness(p.Warn.Level) {
		p.Warn.Level = p.Enforce.Level
		if !warnVersionSet {
			p.Warn.Version = p.Enforce.Version
		}
	}
	return p, errors.Join(errs...)
}

func strictness(l Level) int {
	switch l {
	case Baseline:
		return 1
	case Restricted:
		return 2
	}
	return 0
}
