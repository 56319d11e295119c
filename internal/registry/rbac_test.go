package registry

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRBACNames(t *testing.T) {
	if errs := rbacNameRule("system:controller:job-controller", false); len(errs) > 0 {
		t.Errorf("colon name refused: %v", errs)
	}
	for _, bad := range []string{"a/b", "..", "a%b"} {
		if errs := rbacNameRule(bad, false); len(errs) == 0 {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPolicyRules(t *testing.T) {
	cases := []struct {
		name       string
		rule       rbacv1.PolicyRule
		namespaced bool
		want       []string
	}{
		{"resources", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}, true, nil},
		{"no verbs", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}}, true, []string{"rules[0].verbs"}},
		{"no api groups", rbacv1.PolicyRule{Verbs: []string{"get"}, Resources: []string{"pods"}}, true, []string{"rules[0].apiGroups"}},
		{"no resources", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}}, true, []string{"rules[0].resources"}},
		{"urls in cluster role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}, false, nil},
		{"urls in role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}, true, []string{"rules[0].nonResourceURLs"}},
		{"urls and resources", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}, Resources: []string{"pods"}},
			false, []string{"rules[0].nonResourceURLs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			groupsWantFields(t, validatePolicyRules([]rbacv1.PolicyRule{tc.rule}, tc.namespaced), tc.want...)
		})
	}
}

func TestClusterRoleAggregation(t *testing.T) {
	k := clusterRoles()
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, AggregationRule: &rbacv1.AggregationRule{
		ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-monitoring": "true"}}}}}
	groupsWantFields(t, k.Validate(cr, nil))
	cr.AggregationRule.ClusterRoleSelectors = nil
	groupsWantFields(t, k.Validate(cr, nil), "aggregationRule.clusterRoleSelectors")
}

func TestRoleBinding(t *testing.T) {
	k := roleBindings()
	rb := &rbacv1.RoleBinding{ObjectMeta: groupsMeta("rb"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Name: "ci"},
			{Kind: "ServiceAccount", Name: "deploy", Namespace: "tools"}}}
	groupsWantFields(t, groupsCreate(k, rb))
	if rb.RoleRef.APIGroup != rbacv1.GroupName || rb.Subjects[0].APIGroup != rbacv1.GroupName ||
		rb.Subjects[1].APIGroup != rbacv1.GroupName || rb.Subjects[2].APIGroup != "" {
		t.Errorf("defaults = %+v", rb)
	}
	row := k.Row(rb)
	if row[1] != "ClusterRole/view" || row[3] != "jane" || row[4] != "devs" || row[5] != "/ci, tools/deploy" {
		t.Errorf("row = %v", row)
	}

	cases := []struct {
		name   string
		mutate func(rb *rbacv1.RoleBinding)
		want   []string
	}{
		{"bad ref kind", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Kind = "Binding" }, []string{"roleRef.kind"}},
		{"bad ref group", func(rb *rbacv1.RoleBinding) { rb.RoleRef.APIGroup = "example.com" }, []string{"roleRef.apiGroup"}},
		{"no ref name", func(rb *rbacv1.RoleBinding) { rb.RoleRef.Name = "" }, []string{"roleRef.name"}},
		{"bad subject kind", func(rb *rbacv1.RoleBinding) { rb.Subjects[0].Kind = "Robot" }, []string{"subjects[0].kind"}},
		{"sa with group", func(rb *rbacv1.RoleBinding) { rb.Subjects[2].APIGroup = rbacv1.GroupName }, []string{"subjects[2].apiGroup"}},
		{"no subject name", func(rb *rbacv1.RoleBinding) { rb.Subjects[1].Name = "" }, []string{"subjects[1].name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := rb.DeepCopy()
			tc.mutate(b)
			groupsWantFields(t, k.Validate(b, nil), tc.want...)
		})
	}

	changed := rb.DeepCopy()
	changed.RoleRef.Name = "edit"
	groupsWantFields(t, k.Validate(changed, rb), "roleRef")
}

func TestClusterRoleBinding(t *testing.T) {
	k := clusterRoleBindings()
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "crb"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "x"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}}}
	groupsWantFields(t, groupsCreate(k, crb), "roleRef.kind", "subjects[0].namespace")
}
