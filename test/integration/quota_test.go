package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// waitQuota waits until quota ns/name reports the given usage for each
// listed resource (and so has been measured by its controller).
func waitQuota(t *testing.T, s *testserver.Server, ns, name string, used map[string]string) {
	t.Helper()
	pollUntil(t, 20*time.Second, fmt.Sprintf("quota %s/%s used %v", ns, name, used), func() (bool, error) {
		q, err := s.Client.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for n, want := range used {
			got, ok := q.Status.Used[corev1.ResourceName(n)]
			if !ok || got.Cmp(resource.MustParse(want)) != 0 {
				return false, fmt.Errorf("%s used %v (status %v)", n, got.String(), q.Status.Used)
			}
		}
		return true, nil
	})
}

// kubectl's prefixes to a 403: most commands, apply, and the create
// subcommands that wrap the error themselves.
const (
	forbidden       = "Error from server (Forbidden): "
	forbiddenApply  = `Error from server (Forbidden): error when creating "STDIN": `
	forbiddenDeploy = "error: failed to create deployment: "
	forbiddenNP     = "error: failed to create NodePort service: "
	forbiddenLB     = "error: failed to create LoadBalancer service: "
)

// wantForbidden checks that kubectl failed with Kubernetes' 403 text.
func wantForbidden(t *testing.T, r kubectlResult, prefix, msg string) {
	t.Helper()
	if want := prefix + msg; !strings.Contains(r.stderr, want) {
		t.Errorf("kubectl said:\n%s\nwant: %s", r.stderr, want)
	}
}

// TestResourceQuota drives quotas through kubectl: object counts kept in
// status.used as pods come and go, the refusal kubectl prints, compute
// resources and the containers that must set them, a BestEffort scope,
// count/deployments.apps, node ports, dry runs, and describe's table.
func TestResourceQuota(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})

	t.Run("pod count", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "q", "--hard=pods=2,services=5")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "0", "services": "0"})
		k.ok(t, "-n", ns, "run", "p1", "--image=busybox", "--restart=Never")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "1"})
		k.ok(t, "-n", ns, "run", "p2", "--image=busybox", "--restart=Never")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "2"})

		// A dry run of a pod that fits nothing more is refused too.
		r := k.fails(t, "", "-n", ns, "run", "p3", "--image=busybox", "--restart=Never", "--dry-run=server")
		wantForbidden(t, r, forbidden, `pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`)
		r = k.fails(t, "", "-n", ns, "run", "p3", "--image=busybox", "--restart=Never")
		wantForbidden(t, r, forbidden, `pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`)

		out := k.ok(t, "-n", ns, "describe", "quota", "q")
		rows := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			rows[strings.Join(strings.Fields(line), " ")] = true
		}
		for _, want := range []string{"Name: q", "Resource Used Hard", "pods 2 2", "services 0 5"} {
			if !rows[want] {
				t.Errorf("describe quota lacks the row %q:\n%s", want, out)
			}
		}
		if out := k.ok(t, "-n", ns, "get", "quota", "q"); !strings.Contains(out, "pods: 2/2, services: 0/5") {
			t.Errorf("get quota:\n%s", out)
		}

		// Deleting a pod gives its share back.
		k.ok(t, "-n", ns, "delete", "pod", "p1", "--wait=false")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "1"})
		// A server-side dry run charges nothing.
		k.ok(t, "-n", ns, "run", "p3", "--image=busybox", "--restart=Never", "--dry-run=server")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "1"})
		k.ok(t, "-n", ns, "run", "p3", "--image=busybox", "--restart=Never")
		waitQuota(t, s, ns, "q", map[string]string{"pods": "2"})

		// A finished pod no longer counts.
		p, err := s.Client.CoreV1().Pods(ns).Get(context.Background(), "p2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodSucceeded
		if _, err := s.Client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitQuota(t, s, ns, "q", map[string]string{"pods": "1"})
		k.ok(t, "-n", ns, "run", "p4", "--image=busybox", "--restart=Never")
	})

	t.Run("compute resources", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "compute", "--hard=requests.cpu=1,limits.cpu=2,requests.memory=1Gi")
		waitQuota(t, s, ns, "compute", map[string]string{"requests.cpu": "0", "limits.cpu": "0", "requests.memory": "0"})
		r := k.fails(t, "", "-n", ns, "run", "bare", "--image=busybox", "--restart=Never")
		wantForbidden(t, r, forbidden, `pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: bare; requests.cpu for: bare; requests.memory for: bare`)

		pod := `
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests: {cpu: 600m, memory: 100Mi}
      limits: {cpu: "1", memory: 100Mi}
`
		k.apply(t, fmt.Sprintf(pod, "a", ns))
		waitQuota(t, s, ns, "compute", map[string]string{"requests.cpu": "600m", "limits.cpu": "1", "requests.memory": "100Mi"})
		r = k.fails(t, fmt.Sprintf(pod, "b", ns), "apply", "-f", "-")
		wantForbidden(t, r, forbiddenApply, `pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1`)
	})

	t.Run("best-effort scope", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "be", "--hard=pods=1", "--scopes=BestEffort")
		waitQuota(t, s, ns, "be", map[string]string{"pods": "0"})
		k.ok(t, "-n", ns, "run", "free1", "--image=busybox", "--restart=Never")
		r := k.fails(t, "", "-n", ns, "run", "free2", "--image=busybox", "--restart=Never")
		wantForbidden(t, r, forbidden, `pods "free2" is forbidden: exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1`)
		// A pod asking for resources is outside the scope.
		k.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: burstable, namespace: %s}
spec:
  containers: [{name: c, image: busybox, resources: {requests: {cpu: 10m}}}]
`, ns))
		waitQuota(t, s, ns, "be", map[string]string{"pods": "1"})
	})

	t.Run("count of deployments", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "d", "--hard=count/deployments.apps=1")
		waitQuota(t, s, ns, "d", map[string]string{"count/deployments.apps": "0"})
		k.ok(t, "-n", ns, "create", "deployment", "one", "--image=busybox")
		waitQuota(t, s, ns, "d", map[string]string{"count/deployments.apps": "1"})
		r := k.fails(t, "", "-n", ns, "create", "deployment", "two", "--image=busybox")
		wantForbidden(t, r, forbiddenDeploy, `deployments.apps "two" is forbidden: exceeded quota: d, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1`)
		k.ok(t, "-n", ns, "delete", "deployment", "one")
		waitQuota(t, s, ns, "d", map[string]string{"count/deployments.apps": "0"})
		k.ok(t, "-n", ns, "create", "deployment", "two", "--image=busybox")
	})

	t.Run("node ports", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "np", "--hard=services.nodeports=1,services.loadbalancers=0")
		waitQuota(t, s, ns, "np", map[string]string{"services.nodeports": "0", "services.loadbalancers": "0"})
		k.ok(t, "-n", ns, "create", "service", "nodeport", "first", "--tcp=80:80")
		waitQuota(t, s, ns, "np", map[string]string{"services.nodeports": "1"})
		r := k.fails(t, "", "-n", ns, "create", "service", "nodeport", "second", "--tcp=80:80")
		wantForbidden(t, r, forbiddenNP, `services "second" is forbidden: exceeded quota: np, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1`)
		r = k.fails(t, "", "-n", ns, "create", "service", "loadbalancer", "lb", "--tcp=80:80")
		wantForbidden(t, r, forbiddenLB, `services "lb" is forbidden: exceeded quota: np, requested: services.loadbalancers=1,services.nodeports=1, used: services.loadbalancers=0,services.nodeports=1, limited: services.loadbalancers=0,services.nodeports=1`)
		// A ClusterIP service uses no node port, until it becomes a
		// NodePort one.
		k.ok(t, "-n", ns, "create", "service", "clusterip", "inside", "--tcp=80:80")
		r = k.fails(t, "", "-n", ns, "patch", "service", "inside", "-p", `{"spec":{"type":"NodePort"}}`)
		wantForbidden(t, r, forbidden, `services "inside" is forbidden: exceeded quota: np, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1`)
	})

	t.Run("claims", func(t *testing.T) {
		ns := newNamespace(t, s)
		k.ok(t, "-n", ns, "create", "quota", "st", "--hard=requests.storage=2Gi,persistentvolumeclaims=5,gold.storageclass.storage.k8s.io/requests.storage=1Gi")
		waitQuota(t, s, ns, "st", map[string]string{"requests.storage": "0", "persistentvolumeclaims": "0", "gold.storageclass.storage.k8s.io/requests.storage": "0"})
		claim := `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s, namespace: %s}
spec:
  storageClassName: %s
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: %s}}
`
		k.apply(t, fmt.Sprintf(claim, "data", ns, "standard", "1Gi"))
		waitQuota(t, s, ns, "st", map[string]string{"requests.storage": "1Gi", "persistentvolumeclaims": "1", "gold.storageclass.storage.k8s.io/requests.storage": "0"})
		// Two limits passed at once are both listed, sorted by name.
		r := k.fails(t, fmt.Sprintf(claim, "fast", ns, "gold", "1500Mi"), "apply", "-f", "-")
		wantForbidden(t, r, forbiddenApply, `persistentvolumeclaims "fast" is forbidden: exceeded quota: st, requested: gold.storageclass.storage.k8s.io/requests.storage=1500Mi,requests.storage=1500Mi, used: gold.storageclass.storage.k8s.io/requests.storage=0,requests.storage=1Gi, limited: gold.storageclass.storage.k8s.io/requests.storage=1Gi,requests.storage=2Gi`)
		// Growing a claim is charged the growth.
		r = k.fails(t, "", "-n", ns, "patch", "pvc", "data", "-p", `{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}`)
		wantForbidden(t, r, forbidden, `persistentvolumeclaims "data" is forbidden: exceeded quota: st, requested: requests.storage=2Gi, used: requests.storage=1Gi, limited: requests.storage=2Gi`)
		k.ok(t, "-n", ns, "patch", "pvc", "data", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
		waitQuota(t, s, ns, "st", map[string]string{"requests.storage": "2Gi"})
	})
}

// TestResourceQuotaConcurrentCreates: twenty pods created at once against
// pods=5 — exactly five are admitted and status.used says 5.
func TestResourceQuotaConcurrentCreates(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	_, err := s.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "five"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitQuota(t, s, ns, "five", map[string]string{"pods": "0"})

	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
			_, errs[i] = s.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	admitted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			admitted++
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota: five"):
		default:
			t.Errorf("pod p%d: %v", i, err)
		}
	}
	if admitted != 5 {
		t.Errorf("%d pods admitted, want 5", admitted)
	}
	pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 5 {
		t.Errorf("%d pods stored, want 5", len(pods.Items))
	}
	waitQuota(t, s, ns, "five", map[string]string{"pods": "5"})
}

// TestResourceQuotaBeforeItsStatus: a quota its controller has not yet
// measured (no status.hard) limits nothing, as in Kubernetes; once its
// status says what it tracks, a resource missing from status.used is
// "status unknown" and refused.
func TestResourceQuotaBeforeItsStatus(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	q, err := s.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create under a quota not yet measured: %v", err)
	}
	// The status names pods as limited but has no usage for them yet.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{}}
	if _, err := s.Client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.CoreV1().Pods(ns).Create(ctx, pod("p"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "p" is forbidden: status unknown for quota: q, resources: pods` {
		t.Fatalf("create under a quota with unknown usage: %v", err)
	}
	// Objects the quota does not limit pass.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
