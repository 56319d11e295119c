package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func newRollingDeployment(name string, replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "busybox:1"),
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
			},
		},
	}
}

// driveRollout plays the kubelet for a deployment's pods, one pod ready
// at a time, until the rollout completes. It fails when more than
// maxPods pods exist or fewer than minReady are ready at any point.
func driveRollout(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, maxPods, minReady int) {
	t.Helper()
	sel := map[string]string{"app": name}
	pollUntil(t, 60*time.Second, "rollout of "+name, func() (bool, error) {
		pods, err := activePods(ctx, c, ns, sel)
		if err != nil {
			return false, err
		}
		ready := 0
		var notReady []corev1.Pod
		for _, p := range pods {
			if isReady(&p) {
				ready++
			} else {
				notReady = append(notReady, p)
			}
		}
		if len(pods) > maxPods {
			t.Fatalf("%d pods exist, at most %d allowed", len(pods), maxPods)
		}
		if ready < minReady {
			t.Fatalf("%d pods ready, at least %d required", ready, minReady)
		}
		if len(notReady) > 0 {
			return false, markReady(ctx, c, &notReady[0])
		}
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		r := *d.Spec.Replicas
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == r && s.Replicas == r && s.AvailableReplicas == r && s.ReadyReplicas == r, nil
	})
}

func replicaSetsOf(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string) []appsv1.ReplicaSet {
	t.Helper()
	l, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestDeploymentRollout(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	c := s.Client

	// replicas 5, surge 2, unavailable 1 (20% of 5 rounds down to 1).
	d := newRollingDeployment("web", 5, intstr.FromInt32(2), intstr.FromString("20%"))
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	driveRollout(t, ctx, c, ns, "web", 7, 0)
	cur, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("revision annotation %q, want 1", cur.Annotations["deployment.kubernetes.io/revision"])
	}
	conds := map[appsv1.DeploymentConditionType]appsv1.DeploymentCondition{}
	for _, cd := range cur.Status.Conditions {
		conds[cd.Type] = cd
	}
	if a := conds[appsv1.DeploymentAvailable]; a.Status != corev1.ConditionTrue {
		t.Errorf("Available condition %+v", a)
	}
	pollUntil(t, 10*time.Second, "NewReplicaSetAvailable", func() (bool, error) {
		cur, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cd := range cur.Status.Conditions {
			if cd.Type == appsv1.DeploymentProgressing {
				return cd.Reason == "NewReplicaSetAvailable" && cd.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	rss := replicaSetsOf(t, ctx, c, ns)
	if len(rss) != 1 {
		t.Fatalf("%d replicasets, want 1", len(rss))
	}
	hash := rss[0].Labels["pod-template-hash"]
	if hash == "" || rss[0].Name != "web-"+hash || rss[0].Spec.Selector.MatchLabels["pod-template-hash"] != hash {
		t.Errorf("replicaset %s labels %v selector %v: want pod-template-hash in name, labels and selector", rss[0].Name, rss[0].Labels, rss[0].Spec.Selector)
	}
	if out := k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=30s"); !strings.Contains(out, "successfully rolled out") {
		t.Errorf("rollout status: %s", out)
	}

	// set image rolls out within replicas+surge pods and
	// replicas-unavailable ready.
	k.ok(t, "-n", ns, "set", "image", "deployment/web", "c=busybox:2")
	driveRollout(t, ctx, c, ns, "web", 7, 4)
	if out := k.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=30s"); !strings.Contains(out, "successfully rolled out") {
		t.Errorf("rollout status: %s", out)
	}
	hist := k.ok(t, "-n", ns, "rollout", "history", "deployment/web")
	if !strings.Contains(hist, "1 ") || !strings.Contains(hist, "2 ") {
		t.Errorf("rollout history lacks revisions 1 and 2:\n%s", hist)
	}
	if rev2 := k.ok(t, "-n", ns, "rollout", "history", "deployment/web", "--revision=2"); !strings.Contains(rev2, "busybox:2") {
		t.Errorf("revision 2:\n%s", rev2)
	}

	// undo goes back to the first template's ReplicaSet as revision 3.
	k.ok(t, "-n", ns, "rollout", "undo", "deployment/web")
	driveRollout(t, ctx, c, ns, "web", 7, 4)
	rss = replicaSetsOf(t, ctx, c, ns)
	if len(rss) != 2 {
		t.Fatalf("%d replicasets after undo, want 2", len(rss))
	}
	for _, rs := range rss {
		img := rs.Spec.Template.Spec.Containers[0].Image
		want := map[string]string{"busybox:1": "3", "busybox:2": "2"}[img]
		if got := rs.Annotations["deployment.kubernetes.io/revision"]; got != want {
			t.Errorf("replicaset %s (%s): revision %q, want %q", rs.Name, img, got, want)
		}
		if img == "busybox:1" && (*rs.Spec.Replicas != 5 || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1") {
			t.Errorf("replicaset %s: replicas %d history %q", rs.Name, *rs.Spec.Replicas, rs.Annotations["deployment.kubernetes.io/revision-history"])
		}
	}

	// Paused: a template change does not roll out until resumed.
	k.ok(t, "-n", ns, "rollout", "pause", "deployment/web")
	k.ok(t, "-n", ns, "set", "image", "deployment/web", "c=busybox:3")
	time.Sleep(500 * time.Millisecond)
	if n := len(replicaSetsOf(t, ctx, c, ns)); n != 2 {
		t.Fatalf("%d replicasets while paused, want 2", n)
	}
	// Scaling still works while paused.
	k.ok(t, "-n", ns, "scale", "deployment/web", "--replicas=7")
	waitPods(t, ctx, c, ns, map[string]string{"app": "web"}, 7)
	k.ok(t, "-n", ns, "scale", "deployment/web", "--replicas=5")
	waitPods(t, ctx, c, ns, map[string]string{"app": "web"}, 5)
	if n := len(replicaSetsOf(t, ctx, c, ns)); n != 2 {
		t.Fatalf("%d replicasets after scaling while paused, want 2", n)
	}
	k.ok(t, "-n", ns, "rollout", "resume", "deployment/web")
	driveRollout(t, ctx, c, ns, "web", 7, 4)
	if n := len(replicaSetsOf(t, ctx, c, ns)); n != 3 {
		t.Fatalf("%d replicasets after resume, want 3", n)
	}

	// restart rolls out a new ReplicaSet with the same image.
	k.ok(t, "-n", ns, "rollout", "restart", "deployment/web")
	driveRollout(t, ctx, c, ns, "web", 7, 4)
	if n := len(replicaSetsOf(t, ctx, c, ns)); n != 4 {
		t.Fatalf("%d replicasets after restart, want 4", n)
	}

	// revisionHistoryLimit removes the oldest idle ReplicaSets.
	k.ok(t, "-n", ns, "patch", "deployment/web", "--type=merge", "-p", `{"spec":{"revisionHistoryLimit":1}}`)
	pollUntil(t, 30*time.Second, "history cleanup", func() (bool, error) {
		return len(replicaSetsOf(t, ctx, c, ns)) == 2, nil
	})

	// Scaling events name the ReplicaSets.
	pollUntil(t, 30*time.Second, "ScalingReplicaSet events", func() (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		up, down := false, false
		for _, e := range evs.Items {
			if e.Reason != "ScalingReplicaSet" || e.InvolvedObject.Name != "web" {
				continue
			}
			up = up || strings.HasPrefix(e.Message, fmt.Sprintf("Scaled up replica set web-%s from 0 to ", hash))
			down = down || strings.HasPrefix(e.Message, "Scaled down replica set web-")
		}
		return up && down, nil
	})

	// Deleting the deployment deletes its ReplicaSets and pods.
	if err := c.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, ctx, c, ns, map[string]string{"app": "web"}, 0)
	pollUntil(t, 30*time.Second, "replicasets deleted", func() (bool, error) {
		return len(replicaSetsOf(t, ctx, c, ns)) == 0, nil
	})
}

func TestDeploymentRecreateAndDeadline(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	c := s.Client

	d := newRollingDeployment("re", 3, intstr.FromInt32(0), intstr.FromInt32(0))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	driveRollout(t, ctx, c, ns, "re", 3, 0)
	cur, err := c.AppsV1().Deployments(ns).Get(ctx, "re", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setImage(t, ctx, c, ns, cur.Name, "busybox:2")
	// Recreate: old pods all go before any new one exists.
	pollUntil(t, 60*time.Second, "recreate", func() (bool, error) {
		pods, err := activePods(ctx, c, ns, map[string]string{"app": "re"})
		if err != nil {
			return false, err
		}
		images := map[string]int{}
		for _, p := range pods {
			images[p.Spec.Containers[0].Image]++
			if !isReady(&p) && p.Spec.Containers[0].Image == "busybox:2" {
				if err := markReady(ctx, c, &p); err != nil {
					return false, err
				}
			}
		}
		if images["busybox:1"] > 0 && images["busybox:2"] > 0 {
			t.Fatalf("old and new pods together: %v", images)
		}
		return images["busybox:2"] == 3, nil
	})

	// Scaling mid-rollout spreads the change over old and new
	// ReplicaSets: old 4 + new 1 (surge 1) to 8 replicas = 9 pods.
	mid := newRollingDeployment("mid", 4, intstr.FromInt32(1), intstr.FromInt32(0))
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, mid, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	driveRollout(t, ctx, c, ns, "mid", 5, 0)
	cur, err = c.AppsV1().Deployments(ns).Get(ctx, "mid", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setImage(t, ctx, c, ns, cur.Name, "busybox:2")
	waitPods(t, ctx, c, ns, map[string]string{"app": "mid"}, 5)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := c.AppsV1().Deployments(ns).GetScale(ctx, "mid", metav1.GetOptions{})
		if err != nil {
			return err
		}
		scale.Spec.Replicas = 8
		_, err = c.AppsV1().Deployments(ns).UpdateScale(ctx, "mid", scale, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, ctx, c, ns, map[string]string{"app": "mid"}, 9)
	sizes := map[string]int32{}
	for _, rs := range replicaSetsOf(t, ctx, c, ns) {
		if rs.Labels["app"] == "mid" {
			sizes[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
		}
	}
	if sizes["busybox:1"] != 8 || sizes["busybox:2"] != 1 {
		t.Errorf("replicaset sizes %v, want old 8 and new 1", sizes)
	}

	// A rollout that makes no progress times out.
	slow := newRollingDeployment("slow", 2, intstr.FromInt32(1), intstr.FromInt32(0))
	deadline := int32(1)
	slow.Spec.ProgressDeadlineSeconds = &deadline
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, slow, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "ProgressDeadlineExceeded", func() (bool, error) {
		cur, err := c.AppsV1().Deployments(ns).Get(ctx, "slow", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cd := range cur.Status.Conditions {
			if cd.Type == appsv1.DeploymentProgressing && cd.Reason == "ProgressDeadlineExceeded" && cd.Status == corev1.ConditionFalse {
				return true, nil
			}
		}
		return false, nil
	})
}

// setImage changes a deployment's image, retrying on conflicts with the
// controller's writes.
func setImage(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name, image string) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
