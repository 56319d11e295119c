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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// stsManifest is a headless service and a StatefulSet "web" with one
// claim template.
func stsManifest(ns, policy string, replicas int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: %[1]s}
spec:
  serviceName: web
  replicas: %[3]d
  podManagementPolicy: %[2]s
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: busybox:1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, ns, policy, replicas)
}

// stsStartNodes runs two simulated nodes until the test ends and waits
// for them to be schedulable.
func stsStartNodes(t *testing.T, ctx context.Context, s *testserver.Server) {
	t.Helper()
	cfg := simConfig("sts-", 2)
	cfg.Heartbeat = 500 * time.Millisecond
	runSimNodes(t, ctx, s.Client, cfg)
}

// stsPodLog records, in watch order, what happened to the pods of a
// namespace: "add web-1", "ready web-0", "delete web-2" (deletion
// requested).
type stsPodLog struct {
	mu     sync.Mutex
	events []string
}

func stsWatchPods(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string) *stsPodLog {
	t.Helper()
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	l := &stsPodLog{}
	go func() {
		ready, deleting := map[string]bool{}, map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			l.mu.Lock()
			if ev.Type == watch.Added {
				l.events = append(l.events, "add "+p.Name)
				ready[p.Name], deleting[p.Name] = false, false
			}
			if isReady(p) && p.DeletionTimestamp == nil && !ready[p.Name] {
				l.events = append(l.events, "ready "+p.Name)
				ready[p.Name] = true
			}
			if (p.DeletionTimestamp != nil || ev.Type == watch.Deleted) && !deleting[p.Name] {
				l.events = append(l.events, "delete "+p.Name)
				deleting[p.Name] = true
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// since returns the events recorded from index i on.
func (l *stsPodLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events[min(i, len(l.events)):]...)
}

func (l *stsPodLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// stsOrder fails unless first comes before then in events (both present).
func stsOrder(t *testing.T, events []string, first, then string) {
	t.Helper()
	i, j := -1, -1
	for k, e := range events {
		if e == first && i < 0 {
			i = k
		}
		if e == then && j < 0 {
			j = k
		}
	}
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q before %q in %v", first, then, events)
	}
}

// stsWaitSettled waits until the set has observed its spec and its
// status says replicas ready pods with updated of them at the update
// revision.
func stsWaitSettled(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, replicas, updated int32, complete bool) *appsv1.StatefulSet {
	t.Helper()
	var set *appsv1.StatefulSet
	pollUntil(t, 60*time.Second, fmt.Sprintf("statefulset with %d ready, %d updated", replicas, updated), func() (bool, error) {
		var err error
		set, err = c.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := set.Status
		if st.ObservedGeneration < set.Generation || st.Replicas != replicas || st.ReadyReplicas != replicas || st.UpdatedReplicas != updated {
			return false, fmt.Errorf("status %+v", st)
		}
		return !complete || st.CurrentRevision == st.UpdateRevision, nil
	})
	return set
}

// stsCheck turns a poll condition into pollUntil's answer, with why it
// is not yet true.
func stsCheck(ok bool, format string, args ...any) (bool, error) {
	if ok {
		return true, nil
	}
	return false, fmt.Errorf(format, args...)
}

// stsImages maps pod name to image for the active pods of app=web.
func stsImages(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	pods, err := activePods(ctx, c, ns, map[string]string{"app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = p.Spec.Containers[0].Image
	}
	return out
}

func stsWantImages(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, want map[string]string) {
	t.Helper()
	var got map[string]string
	pollUntil(t, 60*time.Second, fmt.Sprintf("pod images %v", want), func() (bool, error) {
		got = stsImages(t, ctx, c, ns)
		return stsCheck(fmt.Sprint(got) == fmt.Sprint(want), "images %v", got)
	})
}

func TestStatefulSetOrderedLifecycle(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	stsStartNodes(t, ctx, s)
	ns := newNamespace(t, s)
	log := stsWatchPods(t, ctx, c, ns)

	k.apply(t, stsManifest(ns, "OrderedReady", 3))
	set := stsWaitSettled(t, ctx, c, ns, 3, 3, true)
	first := set.Status.UpdateRevision

	// Each ordinal is created only after the one below it is ready.
	events := log.since(0)
	stsOrder(t, events, "ready web-0", "add web-1")
	stsOrder(t, events, "ready web-1", "add web-2")
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" || p.Labels["statefulset.kubernetes.io/pod-name"] != name ||
			p.Labels["apps.kubernetes.io/pod-index"] != fmt.Sprint(i) || p.Labels["controller-revision-hash"] != first {
			t.Errorf("pod %s: hostname %q subdomain %q labels %v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		claim := ""
		for _, v := range p.Spec.Volumes {
			if v.Name == "data" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != "data-"+name {
			t.Errorf("pod %s mounts claim %q, want data-%s", name, claim, name)
		}
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-"+name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("claim of %s: %v", name, err)
		} else if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
			t.Errorf("claim %s: labels %v owners %v", pvc.Name, pvc.Labels, pvc.OwnerReferences)
		}
	}
	out := k.ok(t, "-n", ns, "rollout", "status", "sts/web", "--timeout=30s")
	if !strings.Contains(out, "3 new pods have been updated") {
		t.Errorf("rollout status: %q", out)
	}
	if out := k.ok(t, "-n", ns, "get", "sts", "web"); !regexp.MustCompile(`web\s+3/3`).MatchString(out) {
		t.Errorf("kubectl get sts:\n%s", out)
	}
	pollUntil(t, 30*time.Second, "creation events", func() (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "StatefulSet" && e.Reason == "SuccessfulCreate" {
				seen[e.Message] = true
			}
		}
		return stsCheck(seen["create Pod web-0 in StatefulSet web successful"] && seen["create Claim data-web-0 Pod web-0 in StatefulSet web success"], "events %v", seen)
	})

	// A partitioned update touches only the ordinals at or above it.
	k.ok(t, "-n", ns, "patch", "sts", "web", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}`)
	k.ok(t, "-n", ns, "set", "image", "sts/web", "c=busybox:2")
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:1", "web-1": "busybox:1", "web-2": "busybox:2"})
	set = stsWaitSettled(t, ctx, c, ns, 3, 1, false)
	if set.Status.CurrentRevision != first || set.Status.UpdateRevision == first || set.Status.CurrentReplicas != 2 {
		t.Errorf("partitioned status %+v", set.Status)
	}
	out = k.ok(t, "-n", ns, "rollout", "status", "sts/web", "--timeout=30s")
	if !strings.Contains(out, "partitioned roll out complete: 1 new pods have been updated") {
		t.Errorf("rollout status: %q", out)
	}
	if imgs := stsImages(t, ctx, c, ns); imgs["web-1"] != "busybox:1" || imgs["web-0"] != "busybox:1" {
		t.Errorf("pods below the partition changed: %v", imgs)
	}

	// Lowering the partition rolls the rest, highest ordinal first.
	mark := log.len()
	k.ok(t, "-n", ns, "patch", "sts", "web", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:2", "web-1": "busybox:2", "web-2": "busybox:2"})
	set = stsWaitSettled(t, ctx, c, ns, 3, 3, true)
	second := set.Status.UpdateRevision
	stsOrder(t, log.since(mark), "delete web-1", "delete web-0")
	stsOrder(t, log.since(mark), "ready web-1", "delete web-0")
	if strings.Contains(strings.Join(log.since(mark), ","), "delete web-2") {
		t.Errorf("web-2 was replaced again: %v", log.since(mark))
	}

	// History lists both templates; undo goes back to the first.
	out = k.ok(t, "-n", ns, "rollout", "history", "sts/web")
	if !regexp.MustCompile(`(?m)^1\s`).MatchString(out) || !regexp.MustCompile(`(?m)^2\s`).MatchString(out) {
		t.Errorf("rollout history:\n%s", out)
	}
	k.ok(t, "-n", ns, "rollout", "undo", "sts/web")
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:1", "web-1": "busybox:1", "web-2": "busybox:1"})
	set = stsWaitSettled(t, ctx, c, ns, 3, 3, true)
	if set.Status.CurrentRevision != first {
		t.Errorf("after undo the revision is %s, want the first one %s (second %s)", set.Status.CurrentRevision, first, second)
	}
	out = k.ok(t, "-n", ns, "rollout", "history", "sts/web")
	if !regexp.MustCompile(`(?m)^2\s`).MatchString(out) || !regexp.MustCompile(`(?m)^3\s`).MatchString(out) || regexp.MustCompile(`(?m)^1\s`).MatchString(out) {
		t.Errorf("rollout history after undo:\n%s", out)
	}

	// Scaling down removes the highest ordinal first, one at a time.
	mark = log.len()
	k.ok(t, "-n", ns, "scale", "sts/web", "--replicas=1")
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:1"})
	stsWaitSettled(t, ctx, c, ns, 1, 1, true)
	stsOrder(t, log.since(mark), "delete web-2", "delete web-1")
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-web-2", metav1.GetOptions{}); err != nil {
		t.Errorf("claim of a scaled-away pod is retained by default: %v", err)
	}

	// A failed pod is replaced under the same name.
	web0, err := c.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web0.Status.Phase = corev1.PodFailed
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, web0, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, "failed web-0 replaced", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return stsCheck(p.UID != web0.UID && isReady(p), "web-0 uid %s phase %s", p.UID, p.Status.Phase)
	})

	// Deleting the set in the foreground removes its pods while the set
	// carries a deletionTimestamp, and none come back.
	k.ok(t, "-n", ns, "delete", "sts", "web", "--cascade=foreground", "--wait=false")
	pollUntil(t, 60*time.Second, "pods gone with the set", func() (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return stsCheck(len(pods.Items) == 0, "%d pods left", len(pods.Items))
	})
	pollUntil(t, 60*time.Second, "set gone", func() (bool, error) {
		_, err := c.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil || len(pods.Items) != 0 {
		t.Errorf("pods after the set was deleted: %v (err %v)", pods, err)
	}
}

// With the Parallel policy every pod is created at once: none of them
// becomes ready here (there are no nodes), yet all exist.
func TestStatefulSetParallel(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	ns := newNamespace(t, s)

	k.apply(t, stsManifest(ns, "Parallel", 3))
	pods := waitPods(t, ctx, c, ns, map[string]string{"app": "web"}, 3)
	for _, p := range pods {
		if isReady(&p) {
			t.Errorf("pod %s is ready without a node", p.Name)
		}
	}
	pollUntil(t, 30*time.Second, "claims of all pods", func() (bool, error) {
		for i := range 3 {
			if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-web-%d", i), metav1.GetOptions{}); err != nil {
				return false, err
			}
		}
		return true, nil
	})

	// The same set with OrderedReady stops at the first unready pod.
	ns2 := newNamespace(t, s)
	k.apply(t, stsManifest(ns2, "OrderedReady", 3))
	waitPods(t, ctx, c, ns2, map[string]string{"app": "web"}, 1)
	pollUntil(t, 30*time.Second, "status with one pod observed", func() (bool, error) {
		set, err := c.AppsV1().StatefulSets(ns2).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return stsCheck(set.Status.ObservedGeneration >= set.Generation && set.Status.Replicas == 1, "status %+v", set.Status)
	})
	if _, err := c.CoreV1().Pods(ns2).Get(ctx, "web-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("web-1 before web-0 is ready: %v, want not found", err)
	}
	web0, err := c.CoreV1().Pods(ns2).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := markReady(ctx, c, web0); err != nil {
		t.Fatal(err)
	}
	waitPods(t, ctx, c, ns2, map[string]string{"app": "web"}, 2)
}

// OnDelete replaces pods only when the user deletes them; claims follow
// the retention policy; old revisions beyond the history limit go; an
// orphan pod with a member's name and labels is adopted.
func TestStatefulSetOnDeleteAndRetention(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	stsStartNodes(t, ctx, s)
	ns := newNamespace(t, s)

	manifest := strings.Replace(stsManifest(ns, "Parallel", 2), "  serviceName: web\n", `  serviceName: web
  revisionHistoryLimit: 0
  updateStrategy: {type: OnDelete}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
`, 1)
	k.apply(t, manifest)
	set := stsWaitSettled(t, ctx, c, ns, 2, 2, true)
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(pvc); ref == nil || ref.UID != set.UID {
		t.Errorf("claim owners %v, want the set", pvc.OwnerReferences)
	}

	k.ok(t, "-n", ns, "set", "image", "sts/web", "c=busybox:2")
	set = stsWaitSettled(t, ctx, c, ns, 2, 0, false)
	if set.Status.CurrentRevision == set.Status.UpdateRevision || set.Status.CurrentReplicas != 2 {
		t.Errorf("status after a template change with OnDelete: %+v", set.Status)
	}
	if imgs := stsImages(t, ctx, c, ns); imgs["web-0"] != "busybox:1" || imgs["web-1"] != "busybox:1" {
		t.Errorf("OnDelete replaced pods by itself: %v", imgs)
	}
	// --wait=false: a simulated node ends the pod at once and web-1 is
	// back under the same name before kubectl starts watching for the
	// deletion, which it would then never see.
	k.ok(t, "-n", ns, "delete", "pod", "web-1", "--wait=false")
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:1", "web-1": "busybox:2"})
	stsWaitSettled(t, ctx, c, ns, 2, 1, false)
	k.ok(t, "-n", ns, "delete", "pod", "web-0", "--wait=false")
	stsWantImages(t, ctx, c, ns, map[string]string{"web-0": "busybox:2", "web-1": "busybox:2"})
	stsWaitSettled(t, ctx, c, ns, 2, 2, true)

	// With a history limit of 0 only revisions in use are kept: the
	// first goes once no pod uses it; a third template keeps the second,
	// whose pods are still running.
	stsRevisions := func(want int) {
		t.Helper()
		pollUntil(t, 30*time.Second, fmt.Sprintf("%d revisions", want), func() (bool, error) {
			revs, err := c.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			return stsCheck(len(revs.Items) == want, "%d revisions", len(revs.Items))
		})
	}
	stsRevisions(1)
	k.ok(t, "-n", ns, "set", "image", "sts/web", "c=busybox:3")
	stsWaitSettled(t, ctx, c, ns, 2, 0, false)
	stsRevisions(2)

	// Scaling down deletes the scaled-away pod's claim with it.
	k.ok(t, "-n", ns, "scale", "sts/web", "--replicas=1")
	stsWaitSettled(t, ctx, c, ns, 1, 0, false)
	pollUntil(t, 60*time.Second, "claim of web-1 deleted", func() (bool, error) {
		_, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-web-1", metav1.GetOptions{})
		return stsCheck(apierrors.IsNotFound(err), "claim: %v", err)
	})

	// An orphan named like a member is adopted, then removed as surplus.
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}
	created, err := c.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, "orphan adopted and removed", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		return stsCheck(apierrors.IsNotFound(err) || (err == nil && p.UID != created.UID), "orphan: %v", err)
	})

	// Deleting the set deletes the claims it owns.
	k.ok(t, "-n", ns, "delete", "sts", "web")
	pollUntil(t, 60*time.Second, "claims and pods gone with the set", func() (bool, error) {
		claims, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return stsCheck(len(claims.Items) == 0 && len(pods.Items) == 0, "%d claims, %d pods", len(claims.Items), len(pods.Items))
	})
}
