package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// disruptionSim runs n simulated nodes named prefix-0… until the test
// ends.
func disruptionSim(t *testing.T, ctx context.Context, client kubernetes.Interface, prefix string, n int) []string {
	t.Helper()
	names, _ := runSimNodes(t, ctx, client, simConfig(prefix, n))
	return names
}

func disruptionDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "registry.local/web:1"),
		},
	}
}

// disruptionReadyPods returns the Ready pods of app that are not being
// deleted.
func disruptionReadyPods(ctx context.Context, c kubernetes.Interface, ns, app string) ([]corev1.Pod, error) {
	pods, err := activePods(ctx, c, ns, map[string]string{"app": app})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods {
		if isReady(&p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// disruptionWaitStatus waits until the budget's status, processed at its
// current generation, satisfies ok.
func disruptionWaitStatus(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name, what string, ok func(policyv1.PodDisruptionBudgetStatus) bool) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	pollUntil(t, 30*time.Second, what, func() (bool, error) {
		var err error
		pdb, err = c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pdb.Status.ObservedGeneration != pdb.Generation || !ok(pdb.Status) {
			return false, fmt.Errorf("status %+v", pdb.Status)
		}
		return true, nil
	})
	return pdb
}

func disruptionSetUnschedulable(t *testing.T, ctx context.Context, c kubernetes.Interface, nodes []string, v bool) {
	t.Helper()
	for _, n := range nodes {
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, v)
		if _, err := c.CoreV1().Nodes().Patch(ctx, n, "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDisruptionEviction checks the budget's status over a Deployment and
// that the eviction subresource spends it: one eviction passes, the next
// gets 429 until the replacement pod is Ready.
func TestDisruptionEviction(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	nodes := disruptionSim(t, ctx, c, "dis-", 3)
	ns := newNamespace(t, s)

	if _, err := c.AppsV1().Deployments(ns).Create(ctx, disruptionDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	two := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &two,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := disruptionWaitStatus(t, ctx, c, ns, "web", "budget allows one disruption", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.ExpectedPods == 3 && st.DesiredHealthy == 2 && st.CurrentHealthy == 3 && st.DisruptionsAllowed == 1
	})
	if cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition); cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != policyv1.SufficientPodsReason {
		t.Errorf("DisruptionAllowed condition = %+v, want True/SufficientPods", cond)
	}
	pods, err := disruptionReadyPods(ctx, c, ns, "web")
	if err != nil || len(pods) != 3 {
		t.Fatalf("ready pods: %d, %v", len(pods), err)
	}

	// A dry-run eviction changes nothing.
	evict := func(name string, dry bool) error {
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if dry {
			ev.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
		}
		return c.PolicyV1().Evictions(ns).Evict(ctx, ev)
	}
	if err := evict(pods[0].Name, true); err != nil {
		t.Fatalf("dry-run eviction: %v", err)
	}
	if p, err := c.CoreV1().Pods(ns).Get(ctx, pods[0].Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("dry-run eviction touched the pod: %v", err)
	}
	if cur, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || cur.ResourceVersion != got.ResourceVersion {
		t.Fatalf("dry-run eviction changed the budget: %v", err)
	}

	// With every node cordoned, no replacement can become Ready: the
	// budget stays spent.
	disruptionSetUnschedulable(t, ctx, c, nodes, true)
	if err := evict(pods[0].Name, false); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	refused := func(err error, healthy string) {
		t.Helper()
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("eviction: %v, want 429 TooManyRequests", err)
		}
		st := err.(apierrors.APIStatus).Status()
		if st.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
			t.Errorf("message %q", st.Message)
		}
		want := regexp.MustCompile(`^The disruption budget web needs 2 healthy pods and has ` + healthy + ` currently$`)
		if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != policyv1.DisruptionBudgetCause || !want.MatchString(st.Details.Causes[0].Message) {
			t.Errorf("details %+v, want one DisruptionBudget cause matching %s", st.Details, want)
		}
	}
	start := time.Now()
	err = evict(pods[1].Name, false)
	refused(err, "[23]")
	// Without a Retry-After header client-go hands the 429 back at once.
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("refused eviction took %v; client-go retried it", took)
	}
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget spent", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.CurrentHealthy == 2 && st.DisruptionsAllowed == 0
	})
	refused(evict(pods[1].Name, false), "2")
	if p, err := c.CoreV1().Pods(ns).Get(ctx, pods[1].Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("refused eviction deleted the pod: %v", err)
	}
	got = disruptionWaitStatus(t, ctx, c, ns, "web", "evicted pod gone", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return len(st.DisruptedPods) == 0
	})
	if cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != policyv1.InsufficientPodsReason {
		t.Errorf("DisruptionAllowed condition = %+v, want False/InsufficientPods", cond)
	}

	// Once the replacement runs, the budget allows one disruption again.
	disruptionSetUnschedulable(t, ctx, c, nodes, false)
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget restored", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.CurrentHealthy == 3 && st.DisruptionsAllowed == 1
	})

	// Two budgets over one pod: the eviction subresource refuses.
	pdb2 := pdb.DeepCopy()
	pdb2.Name = "web-too"
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = evict(pods[1].Name, false)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.") {
		t.Errorf("eviction under two budgets: %v", err)
	}

	// A pod no budget covers is simply deleted.
	if err := c.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "web-too", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Spec: corev1.PodSpec{NodeName: nodes[0], Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "bare pod Ready", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "bare", metav1.GetOptions{})
		return err == nil && isReady(p), err
	})
	if err := evict("bare", false); err != nil {
		t.Fatalf("evicting a pod without a budget: %v", err)
	}
	pollUntil(t, 30*time.Second, "bare pod gone", func() (bool, error) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, "bare", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestDrainKubectl drains a node running every pod of a Deployment with
// the real kubectl and checks that the budget held throughout.
func TestDrainKubectl(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	nodes := disruptionSim(t, ctx, c, "drain-", 3)
	target, others := nodes[0], nodes[1:]
	ns := newNamespace(t, s)

	// Put all three pods on the target node, then open the others.
	for _, n := range others {
		k.ok(t, "cordon", n)
	}
	k.apply(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: registry.local/web:1}]
      volumes: [{name: scratch, emptyDir: {}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: %[1]s}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
`, ns))
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget over three ready pods", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.ExpectedPods == 3 && st.CurrentHealthy == 3 && st.DisruptionsAllowed == 1
	})
	pods, err := disruptionReadyPods(ctx, c, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Spec.NodeName != target {
			t.Fatalf("pod %s on %s, want %s", p.Name, p.Spec.NodeName, target)
		}
	}
	for _, n := range others {
		k.ok(t, "uncordon", n)
	}

	// Watch the Deployment's pods through the drain and record the fewest
	// Ready ones not being deleted.
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		fewest   = len(list.Items)
		watched  = map[string]*corev1.Pod{}
		watchEnd = make(chan struct{})
		// evicted records, per pod seen being deleted, whether it carried
		// the DisruptionTarget condition the eviction sets.
		evicted = map[string]bool{}
	)
	for i := range list.Items {
		watched[list.Items[i].Name] = &list.Items[i]
	}
	go func() {
		defer close(watchEnd)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(watched, p.Name)
			} else {
				watched[p.Name] = p
			}
			if p.DeletionTimestamp != nil {
				marked := false
				for _, c := range p.Status.Conditions {
					marked = marked || (c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI")
				}
				evicted[p.Name] = evicted[p.Name] || marked
			}
			ready := 0
			for _, p := range watched {
				if p.DeletionTimestamp == nil && isReady(p) {
					ready++
				}
			}
			fewest = min(fewest, ready)
			mu.Unlock()
		}
	}()

	out := k.ok(t, "drain", target, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s")
	w.Stop()
	<-watchEnd
	if !strings.Contains(out, "node/"+target+" drained") {
		t.Errorf("drain output:\n%s", out)
	}
	mu.Lock()
	if fewest < 2 {
		t.Errorf("during the drain only %d of 3 pods were Ready; the budget allows one unavailable", fewest)
	}
	if len(evicted) != 3 {
		t.Errorf("saw %d pods deleted during the drain, want 3: %v", len(evicted), evicted)
	}
	for name, marked := range evicted {
		if !marked {
			t.Errorf("evicted pod %s has no DisruptionTarget condition", name)
		}
	}
	mu.Unlock()

	node, err := c.CoreV1().Nodes().Get(ctx, target, metav1.GetOptions{})
	if err != nil || !node.Spec.Unschedulable {
		t.Fatalf("drained node not cordoned: %v", err)
	}
	pollUntil(t, 30*time.Second, "pods running on the other nodes", func() (bool, error) {
		pods, err := disruptionReadyPods(ctx, c, ns, "web")
		if err != nil || len(pods) != 3 {
			return false, err
		}
		for _, p := range pods {
			if p.Spec.NodeName == target {
				return false, fmt.Errorf("pod %s on drained node", p.Name)
			}
		}
		return true, nil
	})
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget restored after drain", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.CurrentHealthy == 3 && st.DisruptionsAllowed == 1 && len(st.DisruptedPods) == 0
	})

	// Uncordoned, the node takes pods again.
	k.ok(t, "uncordon", target)
	node, err = c.CoreV1().Nodes().Get(ctx, target, metav1.GetOptions{})
	if err != nil || node.Spec.Unschedulable {
		t.Fatalf("uncordoned node still unschedulable: %v", err)
	}
	pinned := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pinned"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelHostname: target},
			Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}}},
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pinned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "pod scheduled on the uncordoned node", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "pinned", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == target && isReady(p), err
	})

	// A pod without a controller stops the drain unless forced.
	r := k.fails(t, "", "drain", target, "--ignore-daemonsets", "--timeout=30s")
	if !strings.Contains(r.stderr, "cannot delete Pods that declare no controller (use --force to override): "+ns+"/pinned") {
		t.Errorf("drain over a bare pod: stderr\n%s", r.stderr)
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, "pinned", metav1.GetOptions{}); err != nil {
		t.Errorf("refused drain removed the bare pod: %v", err)
	}
	k.ok(t, "uncordon", target)
}

// TestDisruptionUnhealthyPods checks which pods an eviction deletes
// without spending the budget: finished and pending pods always, unready
// ones when the budget is met without them or its policy is AlwaysAllow.
// The pods are bound to a node no agent runs, so their status is the
// test's to set.
func TestDisruptionUnhealthyPods(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	ns := newNamespace(t, s)
	const node = "disruption-ghost"
	setStatus := func(name string, phase corev1.PodPhase, ready corev1.ConditionStatus) {
		t.Helper()
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		p.Status.Phase = phase
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: now}}
		if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	newPod := func(name, nodeName string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}}}}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ready-0", "ready-1", "ready-2"} {
		newPod(name, node)
		setStatus(name, corev1.PodRunning, corev1.ConditionTrue)
	}
	newPod("sick", node)
	setStatus("sick", corev1.PodRunning, corev1.ConditionFalse)

	four := intstr.FromInt32(4)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &four,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget short of healthy pods", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.ExpectedPods == 4 && st.DesiredHealthy == 4 && st.CurrentHealthy == 3 && st.DisruptionsAllowed == 0
	})
	evict := func(name string) error {
		zero := int64(0)
		return c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: name, Namespace: ns},
			DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: &zero},
		})
	}
	gone := func(name string) {
		t.Helper()
		if _, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s after its eviction: %v, want NotFound", name, err)
		}
	}

	// IfHealthyBudget (the default) protects even unready pods while the
	// budget is short.
	for _, name := range []string{"sick", "ready-0"} {
		err := evict(name)
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("evicting %s: %v, want 429", name, err)
		}
		if st := err.(apierrors.APIStatus).Status(); st.Details == nil || len(st.Details.Causes) != 1 ||
			st.Details.Causes[0].Message != "The disruption budget web needs 4 healthy pods and has 3 currently" {
			t.Errorf("evicting %s: details %+v", name, st.Details)
		}
	}

	// Preconditions are checked before the budget.
	wrong := types.UID("not-the-pod")
	err := c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: "ready-1", Namespace: ns},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}},
	})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "Precondition failed: UID in precondition: not-the-pod") {
		t.Errorf("eviction with a wrong UID precondition: %v, want 409", err)
	}

	// Finished and pending pods never need the budget.
	newPod("done", node)
	setStatus("done", corev1.PodSucceeded, corev1.ConditionFalse)
	newPod("waiting", "")
	for _, name := range []string{"done", "waiting"} {
		if err := evict(name); err != nil {
			t.Errorf("evicting %s: %v", name, err)
		}
		gone(name)
	}

	// AlwaysAllow lets unready pods go.
	always := policyv1.AlwaysAllow
	editPDB := func(change func(*policyv1.PodDisruptionBudget)) {
		t.Helper()
		// The disruption controller writes the status meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(cur)
			_, err = c.PolicyV1().PodDisruptionBudgets(ns).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	editPDB(func(p *policyv1.PodDisruptionBudget) { p.Spec.UnhealthyPodEvictionPolicy = &always })
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget with AlwaysAllow processed", func(st policyv1.PodDisruptionBudgetStatus) bool { return true })
	if err := evict("sick"); err != nil {
		t.Fatalf("evicting an unready pod under AlwaysAllow: %v", err)
	}
	gone("sick")
	if err := evict("ready-0"); !apierrors.IsTooManyRequests(err) {
		t.Errorf("evicting a ready pod under a short budget: %v, want 429", err)
	}

	// IfHealthyBudget lets an unready pod go once the budget is met
	// without it, and spends nothing on it.
	newPod("sick-2", node)
	setStatus("sick-2", corev1.PodRunning, corev1.ConditionFalse)
	three := intstr.FromInt32(3)
	editPDB(func(p *policyv1.PodDisruptionBudget) {
		p.Spec.UnhealthyPodEvictionPolicy, p.Spec.MinAvailable = nil, &three
	})
	disruptionWaitStatus(t, ctx, c, ns, "web", "budget met exactly", func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.ExpectedPods == 4 && st.DesiredHealthy == 3 && st.CurrentHealthy == 3 && st.DisruptionsAllowed == 0
	})
	if err := evict("sick-2"); err != nil {
		t.Fatalf("evicting an unready pod of a met budget: %v", err)
	}
	gone("sick-2")
	after, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Status.DisruptionsAllowed != 0 || len(after.Status.DisruptedPods) != 0 {
		t.Errorf("unready eviction spent the budget: status %+v", after.Status)
	}
}
