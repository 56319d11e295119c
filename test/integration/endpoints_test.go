package integration

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/podgc"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// epStartSim runs simulated nodes until the returned stop is called.
func epStartSim(t *testing.T, ctx context.Context, client kubernetes.Interface, prefix string) (stop func()) {
	t.Helper()
	cfg := simConfig(prefix, 1)
	cfg.Heartbeat = 500 * time.Millisecond
	_, stop = runSimNodes(t, ctx, client, cfg)
	return stop
}

// epSlices lists the controller-managed slices of a Service.
func epSlices(ctx context.Context, c kubernetes.Interface, ns, svc string) ([]discoveryv1.EndpointSlice, error) {
	list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc + "," + discoveryv1.LabelManagedBy + "=endpointslice-controller.k8s.io"})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// epWant is a pollUntil result: done when ok, else the reason why not.
func epWant(ok bool, format string, args ...any) (bool, error) {
	if ok {
		return true, nil
	}
	return false, fmt.Errorf(format, args...)
}

// epCount counts ready and not-ready addresses of an Endpoints object.
func epCount(ep *corev1.Endpoints) (ready, notReady int) {
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	return ready, notReady
}

// TestEndpointsFollowDeployment runs a Deployment of three behind a
// Service with a named targetPort and follows its Endpoints and
// EndpointSlices through readiness changes, scaling to zero and the
// Service's deletion.
func TestEndpointsFollowDeployment(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	stopSim := epStartSim(t, ctx, s.Client, "ep-")
	ns := newNamespace(t, s)

	replicas := int32(3)
	tmpl := podTemplate("web", "registry.local/web:1")
	tmpl.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: tmpl,
		},
	}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := s.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var ep *corev1.Endpoints
	pollUntil(t, 60*time.Second, "Endpoints with 3 ready addresses", func() (bool, error) {
		var err error
		ep, err = s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, notReady := epCount(ep)
		return epWant(ready == 3 && notReady == 0, "%d ready, %d not ready", ready, notReady)
	})
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 1 || ep.Subsets[0].Ports[0].Port != 8080 || ep.Subsets[0].Ports[0].Name != "web" {
		t.Errorf("subsets %+v: want one port web=8080", ep.Subsets)
	}
	if ep.Labels["tier"] != "front" || ep.Annotations["endpoints.kubernetes.io/last-change-trigger-time"] == "" {
		t.Errorf("labels %v annotations %v", ep.Labels, ep.Annotations)
	}
	for _, a := range ep.Subsets[0].Addresses {
		if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.UID == "" || a.NodeName == nil || *a.NodeName != "ep-0" {
			t.Errorf("address %+v", a)
		}
	}

	var slice discoveryv1.EndpointSlice
	pollUntil(t, 30*time.Second, "one EndpointSlice with 3 ready endpoints", func() (bool, error) {
		slices, err := epSlices(ctx, s.Client, ns, "web")
		if err != nil || len(slices) != 1 {
			return epWant(false, "%d slices (%v)", len(slices), err)
		}
		slice = slices[0]
		ready := 0
		for _, e := range slice.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			}
		}
		return epWant(len(slice.Endpoints) == 3 && ready == 3, "%d endpoints, %d ready", len(slice.Endpoints), ready)
	})
	if slice.AddressType != discoveryv1.AddressTypeIPv4 || len(slice.Ports) != 1 || *slice.Ports[0].Port != 8080 ||
		!strings.HasPrefix(slice.Name, "web-") || metav1.GetControllerOf(&slice) == nil || metav1.GetControllerOf(&slice).Kind != "Service" {
		t.Errorf("slice %s: type %s ports %+v owner %+v", slice.Name, slice.AddressType, slice.Ports, slice.OwnerReferences)
	}

	// Nothing changed, so nothing is written again.
	epRV, sliceRV := ep.ResourceVersion, slice.ResourceVersion
	time.Sleep(2 * time.Second)
	ep2, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slices, err := epSlices(ctx, s.Client, ns, "web")
	if err != nil || len(slices) != 1 {
		t.Fatalf("%d slices (%v)", len(slices), err)
	}
	if ep2.ResourceVersion != epRV || slices[0].ResourceVersion != sliceRV {
		t.Errorf("rewritten without a change: endpoints rv %s→%s, slice rv %s→%s", epRV, ep2.ResourceVersion, sliceRV, slices[0].ResourceVersion)
	}

	out := k.ok(t, "get", "endpoints", "-n", ns)
	if row, ok := tableRow(out, "web"); !ok || !strings.Contains(row, ":8080") {
		t.Errorf("kubectl get endpoints:\n%s", out)
	}
	out = k.ok(t, "get", "endpointslices", "-n", ns)
	if row, ok := tableRow(out, slice.Name); !ok || !strings.Contains(row, "IPv4") || !strings.Contains(row, "8080") {
		t.Errorf("kubectl get endpointslices:\n%s", out)
	}

	// A pod that turns not ready moves to notReadyAddresses. The
	// simulated node would report it ready again, so it is stopped first.
	stopSim()
	pods, err := activePods(ctx, s.Client, ns, map[string]string{"app": "web"})
	if err != nil || len(pods) != 3 {
		t.Fatalf("%d pods (%v)", len(pods), err)
	}
	victim := pods[0].Name
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := s.Client.CoreV1().Pods(ns).Get(ctx, victim, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		_, err = s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "not-ready pod under notReadyAddresses", func() (bool, error) {
		ep, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, notReady := epCount(ep)
		if ready != 2 || notReady != 1 || ep.Subsets[0].NotReadyAddresses[0].TargetRef.Name != victim {
			return epWant(false, "%d ready, %d not ready", ready, notReady)
		}
		return true, nil
	})
	pollUntil(t, 30*time.Second, "not-ready pod's endpoint ready=false", func() (bool, error) {
		slices, err := epSlices(ctx, s.Client, ns, "web")
		if err != nil || len(slices) != 1 {
			return epWant(false, "%d slices (%v)", len(slices), err)
		}
		for _, e := range slices[0].Endpoints {
			if e.TargetRef.Name == victim {
				return epWant(!*e.Conditions.Ready && !*e.Conditions.Serving && !*e.Conditions.Terminating, "conditions %+v", e.Conditions)
			}
		}
		return epWant(false, "no endpoint for %s", victim)
	})

	// Scaling to zero empties both; the simulated node runs again so the
	// deleted pods finish.
	epStartSim(t, ctx, s.Client, "ep-")
	k.ok(t, "scale", "deployment/web", "--replicas=0", "-n", ns)
	pollUntil(t, 60*time.Second, "Endpoints empty", func() (bool, error) {
		ep, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, notReady := epCount(ep)
		return epWant(ready+notReady == 0, "%d ready, %d not ready", ready, notReady)
	})
	pollUntil(t, 60*time.Second, "EndpointSlices empty", func() (bool, error) {
		slices, err := epSlices(ctx, s.Client, ns, "web")
		if err != nil {
			return false, err
		}
		n := 0
		for _, sl := range slices {
			n += len(sl.Endpoints)
		}
		return epWant(len(slices) == 1 && n == 0, "%d slices, %d endpoints", len(slices), n)
	})

	// Deleting the Service removes its Endpoints and, through the
	// garbage collector, its slices; neither comes back.
	k.ok(t, "delete", "service", "web", "-n", ns)
	pollUntil(t, 30*time.Second, "Endpoints and slices gone", func() (bool, error) {
		_, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return epWant(false, "endpoints: %v", err)
		}
		slices, err := epSlices(ctx, s.Client, ns, "web")
		return epWant(err == nil && len(slices) == 0, "%d slices (%v)", len(slices), err)
	})
	time.Sleep(time.Second)
	if _, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("endpoints came back: %v", err)
	}
	if slices, err := epSlices(ctx, s.Client, ns, "web"); err != nil || len(slices) != 0 {
		t.Errorf("slices came back: %d (%v)", len(slices), err)
	}
}

// TestEndpointSliceLeavesOthersAlone checks that Services without a
// selector and slices of other managers are not touched.
func TestEndpointSliceLeavesOthersAlone(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	manual := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := s.Client.CoreV1().Services(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []corev1.EndpointPort{{Port: 80}}}},
	}
	if _, err := s.Client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "manual-1", Labels: map[string]string{discoveryv1.LabelServiceName: "manual", discoveryv1.LabelManagedBy: "someone-else"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}}},
	}
	if _, err := s.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A selector Service in the same namespace gets its (empty) objects,
	// which shows the loops have looked at this namespace.
	sel := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "auto"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := s.Client.CoreV1().Services(ns).Create(ctx, sel, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 30*time.Second, "selector Service's Endpoints and placeholder slice", func() (bool, error) {
		if _, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "auto", metav1.GetOptions{}); err != nil {
			return false, err
		}
		slices, err := epSlices(ctx, s.Client, ns, "auto")
		return epWant(err == nil && len(slices) == 1 && len(slices[0].Endpoints) == 0, "%d slices (%v)", len(slices), err)
	})
	got, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, "manual", metav1.GetOptions{})
	if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.1" {
		t.Errorf("manual endpoints changed: %+v (%v)", got, err)
	}
	all, err := s.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=manual"})
	if err != nil || len(all.Items) != 1 || all.Items[0].Name != "manual-1" || len(all.Items[0].Endpoints) != 1 {
		t.Errorf("slices of the manual Service: %+v (%v)", all, err)
	}
	// The API server's own kubernetes Endpoints keep their address.
	kep, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || len(kep.Subsets) == 0 {
		t.Errorf("kubernetes endpoints: %+v (%v)", kep, err)
	}
}

// TestServiceAccountDefault checks that a new namespace gets its default
// ServiceAccount and gets it back after kubectl deletes it.
func TestServiceAccountDefault(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	ns := newNamespace(t, s)
	var first types.UID
	pollUntil(t, 10*time.Second, "default ServiceAccount", func() (bool, error) {
		sa, err := s.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		first = sa.UID
		return true, nil
	})
	k.ok(t, "delete", "sa", "default", "-n", ns)
	pollUntil(t, 10*time.Second, "default ServiceAccount recreated", func() (bool, error) {
		sa, err := s.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return epWant(sa.UID != first, "still the old one")
	})
	if out := k.ok(t, "get", "sa", "-n", ns); !strings.Contains(out, "default") {
		t.Errorf("kubectl get sa:\n%s", out)
	}
}

// TestPodGC runs the pod collector with a low threshold and a short
// quarantine against a server without the built-in loops: finished pods
// beyond the threshold go oldest first, and pods of a deleted node are
// marked and force-deleted.
func TestPodGC(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ctx := testContext(t)
	c := controller.NewContext(s.Client, nil, slog.New(slog.DiscardHandler))
	gcCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- podgc.New(c, podgc.Options{TerminatedPodThreshold: 2, Quarantine: time.Second, Interval: 300 * time.Millisecond}).Run(gcCtx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("podgc did not stop within 30s")
		}
		c.Informers.Shutdown()
	})
	ns := newNamespace(t, s)
	for _, n := range []string{"gc-alive", "gc-doomed"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if _, err := s.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	newPod := func(name, node string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.local/job:1"}}},
		}
		out, err := s.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := time.Now().Add(-time.Hour)
	// Five pods finish a minute apart, in an order unlike their names.
	for i, name := range []string{"done-c", "done-a", "done-e", "done-b", "done-d"} {
		p := newPod(name, "gc-alive")
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Image: "registry.local/job:1", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", FinishedAt: metav1.NewTime(base.Add(time.Duration(i) * time.Minute))}}}}
		if _, err := s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	newPod("running", "gc-alive")
	pollUntil(t, 30*time.Second, "the three oldest finished pods deleted", func() (bool, error) {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		return epWant(fmt.Sprint(names) == "[done-b done-d running]", "pods %v", names)
	})

	// A pod whose node is deleted is marked DisruptionTarget and removed.
	orphan := newPod("orphan", "gc-doomed")
	w, err := s.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=orphan", ResourceVersion: orphan.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := s.Client.CoreV1().Nodes().Delete(ctx, "gc-doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	marked := false
	for i := 0; i < 20; i++ {
		ev := nextNonBookmark(t, w, 30*time.Second)
		p, _ := ev.Object.(*corev1.Pod)
		if p == nil {
			t.Fatalf("watch event %s %s", ev.Type, describe(ev.Object))
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "DeletionByPodGC" {
				marked = true
			}
		}
		if ev.Type == watch.Deleted {
			break
		}
	}
	if !marked {
		t.Error("orphan pod was not marked DisruptionTarget before its deletion")
	}
	if _, err := s.Client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("orphan pod still there: %v", err)
	}
	if _, err := s.Client.CoreV1().Pods(ns).Get(ctx, "running", metav1.GetOptions{}); err != nil {
		t.Errorf("pod on the live node: %v", err)
	}
}
