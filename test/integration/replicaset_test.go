package integration

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func TestReplicaSetController(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	c := s.Client
	sel := map[string]string{"app": "web"}

	// An orphan that matches is adopted and counts.
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: sel}, Spec: podTemplate("web", "busybox:1").Spec}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, newReplicaSet("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, ctx, c, ns, sel, 3)
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != rs.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: controller ref %+v, want the ReplicaSet blocking deletion", p.Name, ref)
		}
		if p.Name != "orphan" && !strings.HasPrefix(p.Name, "web-") {
			t.Errorf("pod name %q, want prefix web-", p.Name)
		}
	}
	// Status follows readiness.
	markAllReady(t, ctx, c, ns, sel)
	pollUntil(t, 30*time.Second, "3 available", func() (bool, error) {
		cur, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := cur.Status
		return st.Replicas == 3 && st.ReadyReplicas == 3 && st.AvailableReplicas == 3 && st.FullyLabeledReplicas == 3 && st.ObservedGeneration == cur.Generation, nil
	})

	// A deleted pod is replaced.
	if err := c.CoreV1().Pods(ns).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "replacement", func() (bool, error) {
		ps, err := activePods(ctx, c, ns, sel)
		if err != nil || len(ps) != 3 {
			return false, err
		}
		for _, p := range ps {
			if p.Name == pods[0].Name {
				return false, nil
			}
		}
		return true, nil
	})

	// Scale up, then down: the unready new pods go first.
	scaleReplicaSet(t, ctx, c, ns, "web", 6)
	waitPods(t, ctx, c, ns, sel, 6)
	markAllReady(t, ctx, c, ns, sel)
	pollUntil(t, 30*time.Second, "6 ready", func() (bool, error) {
		cur, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && cur.Status.ReadyReplicas == 6, err
	})
	scaleReplicaSet(t, ctx, c, ns, "web", 2)
	waitPods(t, ctx, c, ns, sel, 2)
	pollUntil(t, 30*time.Second, "status replicas 2", func() (bool, error) {
		cur, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && cur.Status.Replicas == 2, err
	})

	// A pod whose labels stop matching is released and replaced.
	ps, _ := activePods(ctx, c, ns, sel)
	p := ps[0]
	editPod(t, ctx, c, ns, p.Name, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} })
	pollUntil(t, 30*time.Second, "release", func() (bool, error) {
		cur, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		return err == nil && metav1.GetControllerOf(cur) == nil, err
	})
	waitPods(t, ctx, c, ns, sel, 2)

	// Events name the pods.
	pollUntil(t, 30*time.Second, "events", func() (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		created, deleted := false, false
		for _, e := range evs.Items {
			created = created || (e.Reason == "SuccessfulCreate" && strings.HasPrefix(e.Message, "Created pod: web-"))
			deleted = deleted || (e.Reason == "SuccessfulDelete" && strings.HasPrefix(e.Message, "Deleted pod: "))
		}
		return created && deleted, nil
	})
}

func TestReplicaSetMinReadySeconds(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	c := s.Client
	rs := newReplicaSet("slow", 2)
	rs.Spec.MinReadySeconds = 2
	if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, ctx, c, ns, map[string]string{"app": "slow"}, 2)
	markAllReady(t, ctx, c, ns, map[string]string{"app": "slow"})
	start := time.Now()
	pollUntil(t, 30*time.Second, "ready but not available", func() (bool, error) {
		cur, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "slow", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cur.Status.AvailableReplicas > 0 && time.Since(start) < time.Second {
			t.Fatalf("available after %v with minReadySeconds 2", time.Since(start))
		}
		return cur.Status.ReadyReplicas == 2, nil
	})
	pollUntil(t, 30*time.Second, "available after minReadySeconds", func() (bool, error) {
		cur, err := c.AppsV1().ReplicaSets(ns).Get(ctx, "slow", metav1.GetOptions{})
		return err == nil && cur.Status.AvailableReplicas == 2, err
	})
	if d := time.Since(start); d < time.Second {
		t.Errorf("available after %v, want about 2s", d)
	}
}
