package integration

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/bosun-sh/bosun/internal/simnode"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// podTemplate is a one-container template labelled app=name.
func podTemplate(name, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func newReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "busybox:1"),
		},
	}
}

// activePods lists the pods of ns matching sel that are not being deleted.
func activePods(ctx context.Context, c kubernetes.Interface, ns string, sel map[string]string) ([]corev1.Pod, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// markReady plays the kubelet: it reports pod Running and Ready.
func markReady(ctx context.Context, c kubernetes.Interface, p *corev1.Pod) error {
	for {
		cur, err := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewTime(time.Now())
		cur.Status.Phase = corev1.PodRunning
		cur.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		_, err = c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		return err
	}
}

// markAllReady marks every active pod matching sel ready, returning how
// many it marked.
func markAllReady(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, sel map[string]string) int {
	t.Helper()
	pods, err := activePods(ctx, c, ns, sel)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range pods {
		if isReady(&pods[i]) {
			continue
		}
		if err := markReady(ctx, c, &pods[i]); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPods waits until exactly n active pods match sel.
func waitPods(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, sel map[string]string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	pollUntil(t, 30*time.Second, "pod count", func() (bool, error) {
		var err error
		pods, err = activePods(ctx, c, ns, sel)
		return len(pods) == n, err
	})
	return pods
}

// editPod applies change to the live pod and writes it, retrying on
// conflicts (the scheduler writes pods too).
func editPod(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, change func(*corev1.Pod)) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		change(p)
		_, err = c.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 20 {
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("updating pod %s: %v", name, err)
		}
		return
	}
}

// scaleReplicaSet sets a ReplicaSet's replicas through the scale
// subresource, retrying on conflicts with the controller's status writes.
func scaleReplicaSet(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := c.AppsV1().ReplicaSets(ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		scale.Spec.Replicas = n
		_, err = c.AppsV1().ReplicaSets(ns).UpdateScale(ctx, name, scale, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// simConfig is count simulated nodes named prefix0… that renew their
// leases every second.
func simConfig(prefix string, count int) simnode.Config {
	cfg := simnode.Defaults()
	cfg.Count, cfg.NamePrefix, cfg.Heartbeat = count, prefix, time.Second
	return cfg
}

// runSimNodes runs the simulated nodes of cfg until the test ends or stop
// is called, and waits until they are all Ready and untainted, so that
// the scheduler takes them. It returns their names.
func runSimNodes(t *testing.T, ctx context.Context, client kubernetes.Interface, cfg simnode.Config) (names []string, stop func()) {
	t.Helper()
	cfg.Log = slog.New(slog.DiscardHandler)
	sim, err := simnode.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	simCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Run(simCtx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("sim-nodes: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("sim-nodes did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	for i := range cfg.Count {
		names = append(names, simnode.NodeName(cfg.NamePrefix, i))
	}
	pollUntil(t, 30*time.Second, "simulated nodes Ready and untainted", func() (bool, error) {
		for _, name := range names {
			node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil || nodeReady(node) != corev1.ConditionTrue || len(node.Spec.Taints) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	return names, stop
}
