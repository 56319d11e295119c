// Package podsecurity evaluates pods against the Pod Security Standards
// (privileged, baseline, restricted) and reads a namespace's PodSecurity
// labels. It owns the checks and the text Kubernetes shows for them; it does
// not decide when admission runs them, which belongs to the API server.
package podsecurity

import (
	"fmt"
	"regexp"
)

// Level is a Pod Security Standards level.
type Level string

// The three levels, from least to most strict.
const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

// Latest is the policy version that follows the newest checks.
const Latest = "latest"

// ParseLevel accepts exactly one of the three level names. On error it also
// returns Restricted, so a caller that must fail closed can use the value.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Privileged, Baseline, Restricted:
		return l, nil
	}
	return Restricted, fmt.Errorf("level %q: must be one of privileged, baseline, restricted", s)
}

var versionPattern = regexp.MustCompile(`^v1\.(0|[1-9][0-9]*)$`)

// ParseVersion accepts "latest" or "v1.N". Every version is evaluated with
// the latest checks: bosun keeps one set of checks rather than the history of
// each one, so a pinned version only changes the text shown to users. On
// error it returns Latest.
func ParseVersion(s string) (string, error) {
	if s == Latest || versionPattern.MatchString(s) {
		return s, nil
	}
	return Latest, fmt.Errorf(`version %q: must be "latest" or "v1.x"`, s)
}

// LevelVersion is a level pinned to a policy version, as a namespace label
// pair states it.
type LevelVersion struct {
	Level   Level
	Version string
}

// String gives the form Kubernetes prints, e.g. "restricted:latest".
func (lv LevelVersion) String() string {
	v := lv.Version
	if v == "" {
		v = Latest
	}
	return string(lv.Level) + ":" + v
}
