// Command rbac measures the cost of one RBAC authorization decision. It
// loads an in-process informer cache (no API server) with the default
// policy plus 1,000 Roles and 1,000 RoleBindings spread over 100
// namespaces and 100 ClusterRoles with one ClusterRoleBinding each, then
// times 100,000 decisions for users, groups and service accounts, about
// half of them allowed, and prints the latency distribution. The same run
// against an authorizer reading every binding through the listers shows
// what the subject index saves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/controller/clusterroleaggregation"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rbac:", err)
		os.Exit(1)
	}
}

type sizes struct {
	namespaces, rolesPerNamespace, clusterRoles, decisions int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	var s sizes
	fs.IntVar(&s.namespaces, "namespaces", 100, "namespaces holding the Roles and RoleBindings")
	fs.IntVar(&s.rolesPerNamespace, "roles-per-namespace", 10, "Roles (and as many RoleBindings) per namespace")
	fs.IntVar(&s.clusterRoles, "cluster-roles", 100, "ClusterRoles, each with one ClusterRoleBinding")
	fs.IntVar(&s.decisions, "decisions", 100_000, "decisions to time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	objs, err := policy(s)
	if err != nil {
		return err
	}
	reqs := requests(s)

	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	indexed := rbac.NewFromInformers(f)
	r := f.Rbac().V1()
	listed := rbac.New(r.Roles().Lister(), r.RoleBindings().Lister(), r.ClusterRoles().Lister(), r.ClusterRoleBindings().Lister())
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("%v cache did not sync", typ)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), indexed.HasSynced) {
		return errors.New("authorizer did not sync")
	}

	fmt.Fprintf(out, "policy: %d Roles, %d RoleBindings in %d namespaces; %d ClusterRoles, %d ClusterRoleBindings (defaults included)\n",
		s.namespaces*s.rolesPerNamespace, s.namespaces*s.rolesPerNamespace, s.namespaces,
		s.clusterRoles+len(rbac.DefaultClusterRoles()), s.clusterRoles+len(rbac.DefaultClusterRoleBindings()))
	fmt.Fprintf(out, "%-22s %9s %8s %8s %8s %8s %8s %8s\n", "authorizer", "decisions", "allowed", "mean", "p50", "p90", "p99", "max")
	for _, a := range []struct {
		name string
		z    authorizer.Authorizer
	}{{"subject index", indexed}, {"listers (every binding)", listed}} {
		warm := min(len(reqs), 1000)
		for _, q := range reqs[:warm] {
			_, _, _ = a.z.Authorize(ctx, q)
		}
		lat := make([]time.Duration, len(reqs))
		allowed := 0
		var total time.Duration
		for i, q := range reqs {
			start := time.Now()
			d, _, err := a.z.Authorize(ctx, q)
			lat[i] = time.Since(start)
			if err != nil {
				return err
			}
			total += lat[i]
			if d == authorizer.Allow {
				allowed++
			}
		}
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		fmt.Fprintf(out, "%-22s %9d %7.1f%% %8s %8s %8s %8s %8s\n", a.name, len(reqs), 100*float64(allowed)/float64(len(reqs)),
			us(total/time.Duration(len(reqs))), us(pct(0.50)), us(pct(0.90)), us(pct(0.99)), us(lat[len(lat)-1]))
	}
	fmt.Fprintln(out, "target: p99 <= 50µs (issue #6)")
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		// The tail moves with whatever else the machine runs.
		fmt.Fprintf(out, "load: %s", load)
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.2fµs", float64(d)/float64(time.Microsecond)) }

// resources are what generated roles grant; a decision asks for one of
// them, so whether it is allowed depends on the roles, not on luck with
// names.
var resources = []struct{ group, resource string }{
	{"", "pods"}, {"", "services"}, {"", "configmaps"}, {"", "secrets"}, {"", "endpoints"},
	{"", "persistentvolumeclaims"}, {"", "serviceaccounts"}, {"", "events"},
	{"apps", "deployments"}, {"apps", "replicasets"}, {"apps", "statefulsets"}, {"apps", "daemonsets"},
	{"batch", "jobs"}, {"batch", "cronjobs"}, {"networking.k8s.io", "ingresses"},
	{"networking.k8s.io", "networkpolicies"}, {"policy", "poddisruptionbudgets"},
	{"autoscaling", "horizontalpodautoscalers"}, {"discovery.k8s.io", "endpointslices"}, {"", "limitranges"},
}

var verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

func ns(i int) string { return fmt.Sprintf("ns-%03d", i) }

// policy builds the objects: in namespace i, Role j grants three
// resources picked from (i, j) with a few verbs, and RoleBinding j gives
// it to user-(i*R+j), group team-i and service account sa-j.
func policy(s sizes) ([]runtime.Object, error) {
	var objs []runtime.Object
	roles := rbac.DefaultClusterRoles()
	for _, r := range roles {
		if r.AggregationRule == nil {
			continue
		}
		rules, err := clusterroleaggregation.AggregatedRules(r, roles)
		if err != nil {
			return nil, err
		}
		r.Rules = rules
	}
	for _, r := range roles {
		objs = append(objs, r)
	}
	for _, b := range rbac.DefaultClusterRoleBindings() {
		objs = append(objs, b)
	}
	for i := range s.namespaces {
		for j := range s.rolesPerNamespace {
			var rules []rbacv1.PolicyRule
			for k := range 3 {
				res := resources[(i*7+j*3+k)%len(resources)]
				rules = append(rules, rbacv1.PolicyRule{
					Verbs:     verbs[:3+(j+k)%len(verbs[3:])],
					APIGroups: []string{res.group},
					Resources: []string{res.resource},
				})
			}
			name := fmt.Sprintf("role-%d", j)
			objs = append(objs,
				&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns(i), Name: name}, Rules: rules},
				&rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns(i), Name: name},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
					Subjects: []rbacv1.Subject{
						{Kind: rbacv1.UserKind, Name: fmt.Sprintf("user-%d", i*s.rolesPerNamespace+j)},
						{Kind: rbacv1.GroupKind, Name: fmt.Sprintf("team-%d", i)},
						{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("sa-%d", j)},
					},
				})
		}
	}
	for k := range s.clusterRoles {
		res := resources[k%len(resources)]
		name := fmt.Sprintf("cluster-reader-%d", k)
		objs = append(objs,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
				{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{res.group}, Resources: []string{res.resource}},
			}},
			&rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: fmt.Sprintf("readers-%d", k)}},
			})
	}
	return objs, nil
}

// requests draws decisions from a fixed seed: people in their team (with
// one cluster readers group) and service accounts, asking mostly in their
// own namespace, sometimes in another, half the time for something their
// Role grants and otherwise for any resource and verb.
func requests(s sizes) []authorizer.Attributes {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]authorizer.Attributes, s.decisions)
	for i := range out {
		home := rng.IntN(s.namespaces)
		j := rng.IntN(s.rolesPerNamespace)
		var u user.Info
		if rng.IntN(2) == 0 {
			u = user.Info{Name: fmt.Sprintf("user-%d", home*s.rolesPerNamespace+j), Groups: []string{
				fmt.Sprintf("team-%d", home), fmt.Sprintf("readers-%d", rng.IntN(max(s.clusterRoles, 1))), user.AllAuthenticated}}
		} else {
			u = user.Info{Name: user.ServiceAccountUsername(ns(home), fmt.Sprintf("sa-%d", j)),
				Groups: append(user.ServiceAccountGroups(ns(home)), user.AllAuthenticated)}
		}
		where := home
		if rng.IntN(4) == 0 {
			where = rng.IntN(s.namespaces)
		}
		res := resources[rng.IntN(len(resources))]
		verb := verbs[rng.IntN(len(verbs))]
		if rng.IntN(2) == 0 {
			// Something the user's own Role grants, as in policy.
			k := rng.IntN(3)
			res = resources[(home*7+j*3+k)%len(resources)]
			verb = verbs[rng.IntN(3+(j+k)%len(verbs[3:]))]
		}
		name := "obj"
		if verb == "list" || verb == "watch" || verb == "create" {
			name = ""
		}
		out[i] = authorizer.Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: res.group, APIVersion: "v1",
			Resource: res.resource, Namespace: ns(where), Name: name}
	}
	return out
}
