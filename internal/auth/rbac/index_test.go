package rbac

import (
	"context"
	"fmt"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// TestIndexBookkeeping checks that replacing and deleting objects leaves
// nothing behind in the index maps.
func TestIndexBookkeeping(t *testing.T) {
	x := newIndex()
	b := rb("team", "b", "Role", "r", userSubject("alice"), groupSubject("devs"), rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "ci"})
	c := crb("c", "cr", userSubject("alice"), groupSubject("devs"), groupSubject("devs"))
	x.set(role("team", "r"), true)
	x.set(clusterRole("cr"), true)
	x.set(b, true)
	x.set(c, true)
	if got := len(x.namespaces["team"].byUser["system:serviceaccount:team:ci"]); got != 1 {
		t.Errorf("service account subject indexed %d times, want once", got)
	}
	if got := len(x.crbByGroup["devs"]); got != 1 {
		t.Errorf("repeated group subject indexed %d times, want once", got)
	}
	b2 := b.DeepCopy()
	b2.Subjects = []rbacv1.Subject{userSubject("bob")}
	x.set(b2, true)
	if _, ok := x.namespaces["team"].byUser["alice"]; ok {
		t.Error("alice still indexed after her subject was removed")
	}
	x.set(b2, false)
	x.set(role("team", "r"), false)
	x.set(c, false)
	x.set(clusterRole("cr"), false)
	if len(x.namespaces) != 0 || len(x.crbs) != 0 || len(x.crbByUser) != 0 || len(x.crbByGroup) != 0 || len(x.clusterRoles) != 0 {
		t.Errorf("index not empty after deleting everything: %+v", x)
	}
}

// TestBindingSeenOnce: a binding naming a user and two of their groups
// contributes its rules once.
func TestBindingSeenOnce(t *testing.T) {
	objs := policy()
	objs = append(objs, crb("many", "pod-reader", groupSubject("g1"), userSubject("multi"), groupSubject("g2")))
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			z := impl.build(t, objs)
			rr, _, _, err := z.RulesFor(context.Background(), user.Info{Name: "multi", Groups: []string{"g2", "g1"}}, "")
			if err != nil || len(rr) != 1 {
				t.Errorf("rules %v (err %v), want the one pod-reader rule", rr, err)
			}
			d, reason, _ := z.Authorize(context.Background(), authorizer.Attributes{User: user.Info{Name: "someone", Groups: []string{"g2"}},
				Verb: "get", ResourceRequest: true, Resource: "pods", Namespace: "x", Name: "p"})
			if want := `RBAC: allowed by ClusterRoleBinding "many" of ClusterRole "pod-reader" to Group "g2"`; d != authorizer.Allow || reason != want {
				t.Errorf("got %v %q, want allow %q", d, reason, want)
			}
		})
	}
}

// TestConcurrentChurn decides while bindings are created and deleted; run
// with -race it checks the index's locking.
func TestConcurrentChurn(t *testing.T) {
	client := fake.NewClientset(clusterRole("pod-reader", rule(l("get"), l(""), l("pods"))))
	f := informers.NewSharedInformerFactory(client, 0)
	z := NewFromInformers(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), z.HasSynced)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := res("get", "", "pods", "", "team", "p")
			a.User = user.Info{Name: fmt.Sprintf("u%d", w), Groups: []string{"g"}}
			for {
				select {
				case <-stop:
					return
				default:
					_, _, _ = z.Authorize(ctx, a)
					_, _, _, _ = z.RulesFor(ctx, a.User, "team")
				}
			}
		}()
	}
	for i := range 50 {
		name := fmt.Sprintf("b%d", i)
		b := rb("team", name, "ClusterRole", "pod-reader", userSubject(fmt.Sprintf("u%d", i%2)), groupSubject("g"))
		if _, err := client.RbacV1().RoleBindings("team").Create(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := client.RbacV1().RoleBindings("team").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
