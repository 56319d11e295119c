package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func TestGarbageCollector(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	c := s.Client

	gone := func(t *testing.T, what string, get func() error) {
		t.Helper()
		pollUntil(t, 30*time.Second, what+" gone", func() (bool, error) {
			err := get()
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	}

	t.Run("Background", func(t *testing.T) {
		ctx := testContext(t)
		ns := newNamespace(t, s)
		sel := map[string]string{"app": "bg"}
		if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet("bg", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, ctx, c, ns, sel, 3)
		bg := metav1.DeletePropagationBackground
		if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, "bg", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, ctx, c, ns, sel, 0)
	})

	t.Run("AnyResource", func(t *testing.T) {
		ctx := testContext(t)
		ns := newNamespace(t, s)
		owner, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: owner.UID}
		dep := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dep", OwnerReferences: []metav1.OwnerReference{ref}}}
		if _, err := c.CoreV1().Secrets(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A dependent of an owner that never existed is collected too.
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost-dep", OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "nope", UID: "0000-nope"}}}}
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, "ghost dependent", func() error {
			_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "ghost-dep", metav1.GetOptions{})
			return err
		})
		time.Sleep(300 * time.Millisecond) // the live owner keeps its dependent
		if _, err := c.CoreV1().Secrets(ns).Get(ctx, "dep", metav1.GetOptions{}); err != nil {
			t.Fatalf("dependent of a live owner: %v", err)
		}
		if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, "secret", func() error { _, err := c.CoreV1().Secrets(ns).Get(ctx, "dep", metav1.GetOptions{}); return err })
	})

	t.Run("Foreground", func(t *testing.T) {
		ctx := testContext(t)
		ns := newNamespace(t, s)
		sel := map[string]string{"app": "fg"}
		if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet("fg", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPods(t, ctx, c, ns, sel, 3)
		// One pod holds on with its own finalizer: the ReplicaSet must
		// wait for it.
		held := pods[0]
		editPod(t, ctx, c, ns, held.Name, func(p *corev1.Pod) { p.Finalizers = []string{"test.bosun.sh/hold"} })
		fg := metav1.DeletePropagationForeground
		if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, ctx, c, ns, sel, 0)
		pollUntil(t, 30*time.Second, "held pod marked", func() (bool, error) {
			p, err := c.CoreV1().Pods(ns).Get(ctx, held.Name, metav1.GetOptions{})
			return err == nil && p.DeletionTimestamp != nil, err
		})
		time.Sleep(300 * time.Millisecond)
		rs, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "fg", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("replicaset gone while a blocking dependent remains: %v", err)
		}
		if rs.DeletionTimestamp == nil {
			t.Fatal("replicaset not marked for deletion")
		}
		editPod(t, ctx, c, ns, held.Name, func(p *corev1.Pod) {
			var keep []string
			for _, f := range p.Finalizers {
				if f != "test.bosun.sh/hold" {
					keep = append(keep, f)
				}
			}
			p.Finalizers = keep
		})
		gone(t, "replicaset", func() error { _, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "fg", metav1.GetOptions{}); return err })
		gone(t, "held pod", func() error { _, err := c.CoreV1().Pods(ns).Get(ctx, held.Name, metav1.GetOptions{}); return err })
	})

	t.Run("ForegroundTree", func(t *testing.T) {
		ctx := testContext(t)
		ns := newNamespace(t, s)
		sel := map[string]string{"app": "crud"} // newDeployment's labels
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("tree", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPods(t, ctx, c, ns, sel, 3)
		held := pods[0]
		editPod(t, ctx, c, ns, held.Name, func(p *corev1.Pod) { p.Finalizers = []string{"test.bosun.sh/hold"} })
		fg := metav1.DeletePropagationForeground
		if err := c.AppsV1().Deployments(ns).Delete(ctx, "tree", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, ctx, c, ns, sel, 0)
		time.Sleep(300 * time.Millisecond)
		// The held pod blocks its ReplicaSet, which blocks the Deployment.
		if _, err := c.AppsV1().Deployments(ns).Get(ctx, "tree", metav1.GetOptions{}); err != nil {
			t.Fatalf("deployment gone while its tree is not: %v", err)
		}
		editPod(t, ctx, c, ns, held.Name, func(p *corev1.Pod) { p.Finalizers = nil })
		gone(t, "deployment", func() error { _, err := c.AppsV1().Deployments(ns).Get(ctx, "tree", metav1.GetOptions{}); return err })
		pollUntil(t, 30*time.Second, "replicasets gone", func() (bool, error) {
			l, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0, err
		})
	})

	t.Run("Orphan", func(t *testing.T) {
		ctx := testContext(t)
		ns := newNamespace(t, s)
		sel := map[string]string{"app": "or"}
		if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet("or", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, ctx, c, ns, sel, 2)
		or := metav1.DeletePropagationOrphan
		if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, "or", metav1.DeleteOptions{PropagationPolicy: &or}); err != nil {
			t.Fatal(err)
		}
		gone(t, "replicaset", func() error { _, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "or", metav1.GetOptions{}); return err })
		pods := waitPods(t, ctx, c, ns, sel, 2)
		for _, p := range pods {
			if len(p.OwnerReferences) != 0 {
				t.Errorf("pod %s still has owners %+v", p.Name, p.OwnerReferences)
			}
		}
		time.Sleep(300 * time.Millisecond)
		waitPods(t, ctx, c, ns, sel, 2)

		// A new ReplicaSet with the same selector adopts them.
		rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet("or", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 30*time.Second, "adoption", func() (bool, error) {
			ps, err := activePods(ctx, c, ns, sel)
			if err != nil {
				return false, err
			}
			adopted := 0
			for _, p := range ps {
				if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
					adopted++
				}
			}
			return adopted == 2 && len(ps) == 2, nil
		})
		for _, p := range waitPods(t, ctx, c, ns, sel, 2) {
			if p.Name != pods[0].Name && p.Name != pods[1].Name {
				t.Errorf("new pod %s; the orphans should have been adopted", p.Name)
			}
		}
	})
}
