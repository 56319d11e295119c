package rbac

import (
	"context"
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// benchPolicy is 100 namespaces of 10 Roles and 10 RoleBindings each,
// and 100 ClusterRoles with a binding each: role j in namespace i grants
// pods and one more resource to user-(i*10+j), group team-i and
// service account sa-j.
func benchPolicy() []runtime.Object {
	var objs []runtime.Object
	for i := range 100 {
		ns := fmt.Sprintf("ns-%d", i)
		for j := range 10 {
			name := fmt.Sprintf("role-%d", j)
			objs = append(objs,
				role(ns, name, rule(l("get", "list"), l(""), l("pods")), rule(l("*"), l("apps"), l(fmt.Sprintf("res-%d", j)))),
				rb(ns, name, "Role", name, userSubject(fmt.Sprintf("user-%d", i*10+j)), groupSubject(fmt.Sprintf("team-%d", i)),
					rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("sa-%d", j)}))
		}
	}
	for k := range 100 {
		name := fmt.Sprintf("cluster-%d", k)
		objs = append(objs,
			clusterRole(name, rule(l("get"), l("batch"), l(fmt.Sprintf("res-%d", k)))),
			crb(name, name, groupSubject(fmt.Sprintf("readers-%d", k))))
	}
	for _, r := range DefaultClusterRoles() {
		objs = append(objs, r)
	}
	for _, b := range DefaultClusterRoleBindings() {
		objs = append(objs, b)
	}
	return objs
}

func BenchmarkAuthorize(b *testing.B) {
	objs := benchPolicy()
	u := user.Info{Name: "user-425", Groups: []string{"team-42", "readers-7", user.AllAuthenticated}}
	sa := user.Info{Name: user.ServiceAccountUsername("ns-42", "sa-5"), Groups: append(user.ServiceAccountGroups("ns-42"), user.AllAuthenticated)}
	cases := []struct {
		name  string
		attrs authorizer.Attributes
		want  authorizer.Decision
	}{
		{"allow-user", authorizer.Attributes{User: u, Verb: "update", ResourceRequest: true, APIGroup: "apps", Resource: "res-5", Namespace: "ns-42", Name: "x"}, authorizer.Allow},
		{"allow-serviceaccount", authorizer.Attributes{User: sa, Verb: "list", ResourceRequest: true, Resource: "pods", Namespace: "ns-42"}, authorizer.Allow},
		{"deny-user", authorizer.Attributes{User: u, Verb: "delete", ResourceRequest: true, Resource: "pods", Namespace: "ns-42", Name: "x"}, authorizer.NoOpinion},
		{"deny-other-namespace", authorizer.Attributes{User: u, Verb: "get", ResourceRequest: true, Resource: "pods", Namespace: "ns-43", Name: "x"}, authorizer.NoOpinion},
	}
	for _, impl := range implementations {
		z := impl.build(b, objs)
		for _, tc := range cases {
			b.Run(impl.name+"/"+tc.name, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					d, reason, _ := z.Authorize(ctx, tc.attrs)
					if d != tc.want {
						b.Fatalf("decision %v (%s), want %v", d, reason, tc.want)
					}
				}
			})
		}
	}
}
