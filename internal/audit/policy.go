package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// PolicyAPIVersion and PolicyKind are the only type a policy file may declare.
const (
	PolicyAPIVersion = "audit.k8s.io/v1"
	PolicyKind       = "Policy"
)

// Policy is an audit.k8s.io/v1 Policy: ordered rules, the first match decides.
type Policy struct {
	APIVersion        string         `json:"apiVersion" yaml:"apiVersion"`
	Kind              string         `json:"kind" yaml:"kind"`
	Metadata          map[string]any `json:"metadata,omitempty" yaml:"metadata"`
	Rules             []PolicyRule   `json:"rules" yaml:"rules"`
	OmitStages        []Stage        `json:"omitStages,omitempty" yaml:"omitStages"`
	OmitManagedFields bool           `json:"omitManagedFields,omitempty" yaml:"omitManagedFields"`
}

// PolicyRule matches requests; every field that is set must match. Empty lists match all.
type PolicyRule struct {
	Level      Level            `json:"level" yaml:"level"`
	Users      []string         `json:"users,omitempty" yaml:"users"`
	UserGroups []string         `json:"userGroups,omitempty" yaml:"userGroups"`
	Verbs      []string         `json:"verbs,omitempty" yaml:"verbs"`
	Resources  []GroupResources `json:"resources,omitempty" yaml:"resources"`
	Namespaces []string         `json:"namespaces,omitempty" yaml:"namespaces"`
	// NonResourceURLs are paths such as "/healthz"; a trailing "*" matches by prefix.
	NonResourceURLs []string `json:"nonResourceURLs,omitempty" yaml:"nonResourceURLs"`
	OmitStages      []Stage  `json:"omitStages,omitempty" yaml:"omitStages"`
	// OmitManagedFields overrides the policy-wide setting when set.
	OmitManagedFields *bool `json:"omitManagedFields,omitempty" yaml:"omitManagedFields"`
}

// GroupResources selects resources of one API group. Resources may be "pods",
// "pods/log", "pods/*" (every subresource of pods), "*/scale" (that subresource of
// every resource) or "*" (everything, subresources included).
type GroupResources struct {
	Group         string   `json:"group,omitempty" yaml:"group"`
	Resources     []string `json:"resources,omitempty" yaml:"resources"`
	ResourceNames []string `json:"resourceNames,omitempty" yaml:"resourceNames"`
}

// UnmarshalYAML rejects unknown levels where they are written, so the error has a line.
func (l *Level) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	if !Level(s).valid() {
		return fmt.Errorf("line %d: unknown level %q (want None, Metadata, Request or RequestResponse)", n.Line, s)
	}
	*l = Level(s)
	return nil
}

// UnmarshalYAML rejects unknown stages where they are written, so the error has a line.
func (s *Stage) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return err
	}
	if !Stage(v).valid() {
		return fmt.Errorf("line %d: unknown stage %q (want RequestReceived, ResponseStarted, ResponseComplete or Panic)", n.Line, v)
	}
	*s = Stage(v)
	return nil
}

// maxPolicySize bounds what LoadPolicyFile reads: real policies are a few KiB, and a
// wrong path (a log, a device) should fail at once rather than fill memory.
const maxPolicySize = 1 << 20

// LoadPolicyFile reads and parses the policy file given by --audit-policy-file.
func LoadPolicyFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("audit policy %s: %w", path, err)
	}
	if len(data) > maxPolicySize {
		return nil, fmt.Errorf("audit policy %s: larger than %d bytes", path, maxPolicySize)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes a YAML or JSON audit.k8s.io/v1 Policy strictly: unknown fields,
// duplicate keys, unknown levels or stages, and rules that cannot match are errors.
func ParsePolicy(data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("audit policy: empty document")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// One line per problem reads badly in a log; the lines are kept in order.
			return nil, fmt.Errorf("audit policy: %s", strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	// A second document would be silently ignored otherwise, which hides mistakes.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("audit policy: more than one YAML document")
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	return &p, nil
}

func (p *Policy) validate() error {
	if p.APIVersion != PolicyAPIVersion || p.Kind != PolicyKind {
		return fmt.Errorf("apiVersion %q kind %q: want %s %s", p.APIVersion, p.Kind, PolicyAPIVersion, PolicyKind)
	}
	// kube-apiserver refuses a policy without rules: it would silently log nothing.
	if len(p.Rules) == 0 {
		return errors.New("rules: at least one rule is required")
	}
	for i, r := range p.Rules {
		if r.Level == "" {
			return fmt.Errorf("rules[%d].level: required", i)
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			return fmt.Errorf("rules[%d]: nonResourceURLs cannot be combined with resources or namespaces", i)
		}
		for j, u := range r.NonResourceURLs {
			if u == "*" {
				continue
			}
			if !strings.HasPrefix(u, "/") {
				return fmt.Errorf("rules[%d].nonResourceURLs[%d]: %q must begin with \"/\"", i, j, u)
			}
			if k := strings.IndexByte(u, '*'); k >= 0 && k != len(u)-1 {
				return fmt.Errorf("rules[%d].nonResourceURLs[%d]: %q: \"*\" is only allowed at the end", i, j, u)
			}
		}
		for j, gr := range r.Resources {
			if strings.Contains(gr.Group, "/") {
				return fmt.Errorf("rules[%d].resources[%d].group: %q must not contain \"/\"", i, j, gr.Group)
			}
			for k, res := range gr.Resources {
				if res == "" || strings.Count(res, "/") > 1 {
					return fmt.Errorf("rules[%d].resources[%d].resources[%d]: %q is not RESOURCE or RESOURCE/SUBRESOURCE", i, j, k, res)
				}
				if len(gr.ResourceNames) > 0 && strings.Contains(res, "*") {
					return fmt.Errorf("rules[%d].resources[%d]: resourceNames cannot be combined with wildcard resource %q", i, j, res)
				}
			}
		}
	}
	return nil
}

// DefaultPolicy is used without --audit-policy-file: every request at Metadata, except
// health and version probes, which would otherwise drown the log, and without the
// RequestReceived stage, which only repeats what ResponseComplete says.
func DefaultPolicy() *Policy {
	return &Policy{
		APIVersion: PolicyAPIVersion,
		Kind:       PolicyKind,
		OmitStages: []Stage{StageRequestReceived},
		Rules: []PolicyRule{
			{Level: LevelNone, NonResourceURLs: []string{"/healthz*", "/livez*", "/readyz*", "/version"}},
			{Level: LevelMetadata},
		},
	}
}

// Attributes is what the policy matches a request on, and what an Event says about it.
// A request with a Resource is a resource request; otherwise Path is matched against
// nonResourceURLs.
type Attributes struct {
	// User, UID, Groups and Extra are the authenticated (not impersonated) user.
	User   string
	UID    string
	Groups []string
	Extra  map[string][]string
	// Impersonated is the user the request acts as, when it impersonates one.
	Impersonated *UserInfo

	Verb        string
	APIGroup    string
	APIVersion  string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	Path        string

	// LongRunning marks watches, exec, logs and other streams: they get a
	// ResponseStarted event when headers are sent, as well as ResponseComplete.
	LongRunning bool
}

// Decision is what the policy says to record for one request.
type Decision struct {
	Level             Level
	OmitStages        []Stage
	OmitManagedFields bool
}

// Evaluate returns the decision of the first rule that matches a; with none, LevelNone.
// The stages omitted are the policy's together with the rule's. A nil Policy records
// nothing.
func (p *Policy) Evaluate(a Attributes) Decision {
	if p == nil {
		return Decision{Level: LevelNone}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.matches(&a) {
			continue
		}
		d := Decision{Level: r.Level, OmitManagedFields: p.OmitManagedFields}
		if r.OmitManagedFields != nil {
			d.OmitManagedFields = *r.OmitManagedFields
		}
		switch {
		case len(r.OmitStages) == 0:
			d.OmitStages = p.OmitStages
		case len(p.OmitStages) == 0:
			d.OmitStages = r.OmitStages
		default:
			d.OmitStages = append(append([]Stage(nil), p.OmitStages...), r.OmitStages...)
		}
		return d
	}
	return Decision{Level: LevelNone}
}

func (r *PolicyRule) matches(a *Attributes) bool {
	if len(r.Users) > 0 && !contains(r.Users, a.User) {
		return false
	}
	if len(r.UserGroups) > 0 && !containsAny(r.UserGroups, a.Groups) {
		return false
	}
	if len(r.Verbs) > 0 && !contains(r.Verbs, a.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return r.matchesResource(a)
	}
	if len(r.NonResourceURLs) > 0 {
		return r.matchesPath(a)
	}
	return true
}

func (r *PolicyRule) matchesPath(a *Attributes) bool {
	if a.Resource != "" {
		return false
	}
	for _, spec := range r.NonResourceURLs {
		if spec == "*" || spec == a.Path {
			return true
		}
		if prefix, ok := strings.CutSuffix(spec, "*"); ok && strings.HasPrefix(a.Path, prefix) {
			return true
		}
	}
	return false
}

func (r *PolicyRule) matchesResource(a *Attributes) bool {
	if a.Resource == "" {
		return false
	}
	// Cluster-scoped resources have the empty namespace, which a rule can list.
	if len(r.Namespaces) > 0 && !contains(r.Namespaces, a.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	for _, gr := range r.Resources {
		if gr.Group != a.APIGroup {
			continue
		}
		if len(gr.ResourceNames) > 0 && !contains(gr.ResourceNames, a.Name) {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		for _, spec := range gr.Resources {
			if resourceMatches(spec, a.Resource, a.Subresource) {
				return true
			}
		}
	}
	return false
}

// resourceMatches follows RBAC: "pods" is the pods resource alone, not its subresources.
func resourceMatches(spec, resource, subresource string) bool {
	if spec == "*" {
		return true
	}
	specRes, specSub, hasSub := strings.Cut(spec, "/")
	if !hasSub {
		return subresource == "" && specRes == resource
	}
	if subresource == "" {
		return false
	}
	return (specRes == "*" || specRes == resource) && (specSub == "*" || specSub == subresource)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsAny(list, values []string) bool {
	for _, v := range values {
		if contains(list, v) {
			return true
		}
	}
	return false
}
