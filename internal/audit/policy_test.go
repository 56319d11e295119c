package audit

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPolicyEvaluate(t *testing.T) {
	podGet := Attributes{User: "alice", Groups: []string{"dev", "system:authenticated"}, Verb: "get", APIVersion: "v1", Resource: "pods", Namespace: "team", Name: "web"}
	withSub := func(a Attributes, sub string) Attributes { a.Subresource = sub; return a }
	deployScale := Attributes{User: "bob", Verb: "update", APIGroup: "apps", APIVersion: "v1", Resource: "deployments", Subresource: "scale", Namespace: "team", Name: "web"}
	node := Attributes{User: "system:node:n1", Verb: "get", APIVersion: "v1", Resource: "nodes", Name: "n1"}
	healthz := Attributes{User: "system:anonymous", Verb: "get", Path: "/healthz/etcd"}
	apiPath := Attributes{User: "alice", Verb: "get", Path: "/apis"}

	cases := []struct {
		name string
		rule PolicyRule
		a    Attributes
		want bool
	}{
		{"empty rule matches resource", PolicyRule{}, podGet, true},
		{"empty rule matches path", PolicyRule{}, healthz, true},
		{"user matches", PolicyRule{Users: []string{"x", "alice"}}, podGet, true},
		{"user differs", PolicyRule{Users: []string{"bob"}}, podGet, false},
		{"group matches", PolicyRule{UserGroups: []string{"dev"}}, podGet, true},
		{"group differs", PolicyRule{UserGroups: []string{"ops"}}, podGet, false},
		{"verb matches", PolicyRule{Verbs: []string{"list", "get"}}, podGet, true},
		{"verb differs", PolicyRule{Verbs: []string{"delete"}}, podGet, false},
		{"namespace matches", PolicyRule{Namespaces: []string{"team"}}, podGet, true},
		{"namespace differs", PolicyRule{Namespaces: []string{"kube-system"}}, podGet, false},
		{"empty namespace selects cluster scope", PolicyRule{Namespaces: []string{""}}, node, true},
		{"namespace rule skips non-resource", PolicyRule{Namespaces: []string{"team"}}, healthz, false},
		{"group with no resources matches all of it", PolicyRule{Resources: []GroupResources{{Group: ""}}}, podGet, true},
		{"other group", PolicyRule{Resources: []GroupResources{{Group: "apps"}}}, podGet, false},
		{"resource matches", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}}}}, podGet, true},
		{"resource does not match its subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}}}}, withSub(podGet, "log"), false},
		{"resource/subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/log"}}}}, withSub(podGet, "log"), true},
		{"resource/subresource is not the resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/log"}}}}, podGet, false},
		{"resource/subresource other subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/log"}}}}, withSub(podGet, "exec"), false},
		{"resource/*", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/*"}}}}, withSub(podGet, "exec"), true},
		{"resource/* is not the resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/*"}}}}, podGet, false},
		{"*/subresource", PolicyRule{Resources: []GroupResources{{Group: "apps", Resources: []string{"*/scale"}}}}, deployScale, true},
		{"*/subresource other", PolicyRule{Resources: []GroupResources{{Group: "apps", Resources: []string{"*/status"}}}}, deployScale, false},
		{"* matches resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"*"}}}}, podGet, true},
		{"* matches subresource", PolicyRule{Resources: []GroupResources{{Group: "apps", Resources: []string{"*"}}}}, deployScale, true},
		{"resourceNames match", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}, ResourceNames: []string{"web"}}}}, podGet, true},
		{"resourceNames differ", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}, ResourceNames: []string{"db"}}}}, podGet, false},
		{"second group entry", PolicyRule{Resources: []GroupResources{{Group: "batch"}, {Group: "apps", Resources: []string{"deployments/scale"}}}}, deployScale, true},
		{"resources rule skips non-resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"*"}}}}, healthz, false},
		{"nonResourceURL exact", PolicyRule{NonResourceURLs: []string{"/apis"}}, apiPath, true},
		{"nonResourceURL exact differs", PolicyRule{NonResourceURLs: []string{"/api"}}, apiPath, false},
		{"nonResourceURL prefix", PolicyRule{NonResourceURLs: []string{"/healthz*"}}, healthz, true},
		{"nonResourceURL prefix differs", PolicyRule{NonResourceURLs: []string{"/livez*"}}, healthz, false},
		{"nonResourceURL star", PolicyRule{NonResourceURLs: []string{"*"}}, apiPath, true},
		{"nonResourceURL skips resource", PolicyRule{NonResourceURLs: []string{"*"}}, podGet, false},
		{"all fields together", PolicyRule{Users: []string{"bob"}, Verbs: []string{"update"}, Namespaces: []string{"team"}, Resources: []GroupResources{{Group: "apps", Resources: []string{"deployments/*"}, ResourceNames: []string{"web"}}}}, deployScale, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.rule.Level = LevelRequest
			p := &Policy{Rules: []PolicyRule{tc.rule}}
			got := p.Evaluate(tc.a).Level == LevelRequest
			if got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyDecision(t *testing.T) {
	yes, no := true, false
	p := &Policy{
		OmitStages:        []Stage{StageRequestReceived},
		OmitManagedFields: true,
		Rules: []PolicyRule{
			{Level: LevelNone, Users: []string{"quiet"}},
			{Level: LevelRequest, Verbs: []string{"create"}, OmitStages: []Stage{StageResponseStarted}, OmitManagedFields: &no},
			{Level: LevelRequestResponse, Verbs: []string{"update"}, OmitManagedFields: &yes},
			{Level: LevelMetadata, Verbs: []string{"get"}},
		},
	}
	cases := []struct {
		name string
		a    Attributes
		want Decision
	}{
		{"first match wins", Attributes{User: "quiet", Verb: "create"}, Decision{Level: LevelNone, OmitStages: []Stage{StageRequestReceived}, OmitManagedFields: true}},
		{"stages joined, rule overrides managed fields", Attributes{Verb: "create"}, Decision{Level: LevelRequest, OmitStages: []Stage{StageRequestReceived, StageResponseStarted}}},
		{"rule sets managed fields", Attributes{Verb: "update"}, Decision{Level: LevelRequestResponse, OmitStages: []Stage{StageRequestReceived}, OmitManagedFields: true}},
		{"policy managed fields", Attributes{Verb: "get"}, Decision{Level: LevelMetadata, OmitStages: []Stage{StageRequestReceived}, OmitManagedFields: true}},
		{"no match is None", Attributes{Verb: "delete"}, Decision{Level: LevelNone}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Evaluate(tc.a); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Evaluate = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := (*Policy)(nil).Evaluate(Attributes{Verb: "get"}); got.Level != LevelNone {
		t.Errorf("nil policy: level %q, want None", got.Level)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	cases := []struct {
		a    Attributes
		want Level
	}{
		{Attributes{Verb: "get", Path: "/healthz"}, LevelNone},
		{Attributes{Verb: "get", Path: "/livez/ping"}, LevelNone},
		{Attributes{Verb: "get", Path: "/readyz"}, LevelNone},
		{Attributes{Verb: "get", Path: "/version"}, LevelNone},
		{Attributes{Verb: "get", Path: "/apis"}, LevelMetadata},
		{Attributes{Verb: "create", Resource: "secrets", Namespace: "a"}, LevelMetadata},
		{Attributes{Verb: "get", Resource: "pods", Namespace: "a", Name: "healthz"}, LevelMetadata},
	}
	for _, tc := range cases {
		d := p.Evaluate(tc.a)
		if d.Level != tc.want {
			t.Errorf("%+v: level %q, want %q", tc.a, d.Level, tc.want)
		}
		if d.Level == LevelMetadata && !reflect.DeepEqual(d.OmitStages, []Stage{StageRequestReceived}) {
			t.Errorf("%+v: omitStages %v, want RequestReceived", tc.a, d.OmitStages)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	yamlPolicy := `apiVersion: audit.k8s.io/v1
kind: Policy
metadata:
  name: mine
omitStages: ["RequestReceived"]
omitManagedFields: true
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
  resources:
  - group: ""
    resources: ["endpoints", "services"]
- level: Metadata
  userGroups: ["system:nodes"]
  namespaces: ["kube-system", ""]
  resources:
  - group: ""
    resources: ["pods/log", "configmaps"]
    resourceNames: ["x"]
  omitManagedFields: false
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: RequestResponse
  omitStages: [ResponseStarted]
`
	p, err := ParsePolicy([]byte(yamlPolicy))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &Policy{
		APIVersion: PolicyAPIVersion, Kind: PolicyKind,
		Metadata:          map[string]any{"name": "mine"},
		OmitStages:        []Stage{StageRequestReceived},
		OmitManagedFields: true,
		Rules: []PolicyRule{
			{Level: LevelNone, Users: []string{"system:kube-proxy"}, Verbs: []string{"watch"}, Resources: []GroupResources{{Resources: []string{"endpoints", "services"}}}},
			{Level: LevelMetadata, UserGroups: []string{"system:nodes"}, Namespaces: []string{"kube-system", ""}, Resources: []GroupResources{{Resources: []string{"pods/log", "configmaps"}, ResourceNames: []string{"x"}}}, OmitManagedFields: &f},
			{Level: LevelNone, NonResourceURLs: []string{"/healthz*", "/version"}},
			{Level: LevelRequestResponse, OmitStages: []Stage{StageResponseStarted}},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParsePolicy =\n%+v\nwant\n%+v", p, want)
	}

	jsonPolicy := `{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata","resources":[{"group":"apps","resources":["*/scale"]}]}]}`
	p, err = ParsePolicy([]byte(jsonPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Evaluate(Attributes{APIGroup: "apps", Resource: "deployments", Subresource: "scale"}).Level; got != LevelMetadata {
		t.Errorf("JSON policy: level %q, want Metadata", got)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(yamlPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicyFile(path); err != nil {
		t.Errorf("LoadPolicyFile: %v", err)
	}
	if _, err := LoadPolicyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadPolicyFile of a missing file succeeded")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	const head = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
	cases := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"empty", "", []string{"empty"}},
		{"wrong version", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n", []string{"audit.k8s.io/v1beta1"}},
		{"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Pod\nrules: [{level: None}]\n", []string{"Pod"}},
		{"no rules", head, []string{"at least one rule"}},
		{"unknown top field", head + "rulez: []\n", []string{"line 3", "rulez"}},
		{"unknown rule field", head + "rules:\n- level: None\n  verb: [get]\n", []string{"line 5", "verb"}},
		{"unknown resource field", head + "rules:\n- level: None\n  resources:\n  - groups: [\"\"]\n", []string{"line 6", "groups"}},
		{"bad level", head + "rules:\n- level: Everything\n", []string{"line 4", "Everything"}},
		{"bad stage", head + "omitStages: [Done]\nrules:\n- level: None\n", []string{"line 3", "Done"}},
		{"bad rule stage", head + "rules:\n- level: None\n  omitStages: [Begin]\n", []string{"line 5", "Begin"}},
		{"missing level", head + "rules:\n- verbs: [get]\n", []string{"rules[0].level"}},
		{"wrong type", head + "rules:\n- level: None\n  users: alice\n", []string{"line 5"}},
		{"duplicate key", head + "rules:\n- level: None\n  level: Metadata\n", []string{"line 5"}},
		{"urls with resources", head + "rules:\n- level: None\n  nonResourceURLs: [/x]\n  resources: [{group: \"\"}]\n", []string{"rules[0]", "nonResourceURLs"}},
		{"url without slash", head + "rules:\n- level: None\n  nonResourceURLs: [healthz]\n", []string{"rules[0].nonResourceURLs[0]"}},
		{"url inner star", head + "rules:\n- level: None\n  nonResourceURLs: [/a*/b]\n", []string{"only allowed at the end"}},
		{"group with slash", head + "rules:\n- level: None\n  resources: [{group: apps/v1}]\n", []string{"rules[0].resources[0].group"}},
		{"resource with two slashes", head + "rules:\n- level: None\n  resources: [{resources: [a/b/c]}]\n", []string{"a/b/c"}},
		{"names with wildcard", head + "rules:\n- level: None\n  resources: [{resources: [\"*\"], resourceNames: [x]}]\n", []string{"wildcard"}},
		{"two documents", head + "rules: [{level: None}]\n---\nkind: Policy\n", []string{"more than one"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.doc))
			if err == nil {
				t.Fatal("ParsePolicy succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [pods/log]}]\n"))
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitStages":["RequestReceived"],"rules":[{"level":"None","nonResourceURLs":["/healthz*"]}]}`))
	f.Add([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		if len(p.Rules) == 0 {
			t.Fatal("accepted a policy without rules")
		}
		for _, r := range p.Rules {
			if !r.Level.valid() {
				t.Fatalf("accepted level %q", r.Level)
			}
		}
		for _, a := range []Attributes{
			{User: "u", Groups: []string{"g"}, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "n", Name: "x"},
			{Verb: "get", Path: "/healthz"},
		} {
			if d := p.Evaluate(a); !d.Level.valid() {
				t.Fatalf("Evaluate returned level %q", d.Level)
			}
		}
	})
}
