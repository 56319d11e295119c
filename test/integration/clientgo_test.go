package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// crud is the part of a typed client-go client the lifecycle test uses.
type crud[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

type metaObject interface {
	runtime.Object
	metav1.Object
}

// lifecycle describes one kind for testLifecycle.
type lifecycle[T metaObject] struct {
	client crud[T]
	// build returns a new object; it must carry a label map.
	build func(name string) T
	// change changes the spec (or data); changed checks for it.
	change  func(T)
	changed func(T) bool
}

func TestCRUDLifecycle(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	c := s.Client
	t.Run("ConfigMap", func(t *testing.T) {
		testLifecycle(t, lifecycle[*corev1.ConfigMap]{
			client: c.CoreV1().ConfigMaps(ns),
			build: func(name string) *corev1.ConfigMap {
				return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "crud"}}, Data: map[string]string{"k": "v1"}}
			},
			change:  func(o *corev1.ConfigMap) { o.Data["k"] = "v2" },
			changed: func(o *corev1.ConfigMap) bool { return o.Data["k"] == "v2" },
		})
	})
	t.Run("Deployment", func(t *testing.T) {
		testLifecycle(t, lifecycle[*appsv1.Deployment]{
			client:  c.AppsV1().Deployments(ns),
			build:   func(name string) *appsv1.Deployment { return newDeployment(name, 1) },
			change:  func(o *appsv1.Deployment) { o.Spec.Replicas = ptrTo[int32](3) },
			changed: func(o *appsv1.Deployment) bool { return *o.Spec.Replicas == 3 },
		})
	})
	t.Run("Service", func(t *testing.T) {
		testLifecycle(t, lifecycle[*corev1.Service]{
			client: c.CoreV1().Services(ns),
			build: func(name string) *corev1.Service {
				return &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "crud"}},
					Spec: corev1.ServiceSpec{
						Selector: map[string]string{"app": "crud"},
						Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
					},
				}
			},
			change:  func(o *corev1.Service) { o.Spec.Ports[0].Port = 81 },
			changed: func(o *corev1.Service) bool { return o.Spec.Ports[0].Port == 81 },
		})
	})
	t.Run("ClusterRole", func(t *testing.T) {
		testLifecycle(t, lifecycle[*rbacv1.ClusterRole]{
			client: c.RbacV1().ClusterRoles(),
			build: func(name string) *rbacv1.ClusterRole {
				return &rbacv1.ClusterRole{
					ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name, Labels: map[string]string{"app": "crud"}},
					Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
				}
			},
			change:  func(o *rbacv1.ClusterRole) { o.Rules[0].Verbs = append(o.Rules[0].Verbs, "list") },
			changed: func(o *rbacv1.ClusterRole) bool { return len(o.Rules[0].Verbs) == 2 },
		})
	})
}

func testLifecycle[T metaObject](t *testing.T, lc lifecycle[T]) {
	ctx := testContext(t)
	c := lc.client
	clone := func(o T) T { return o.DeepCopyObject().(T) }

	created, err := c.Create(ctx, lc.build("obj"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	name := created.GetName()
	if created.GetUID() == "" || ptrTo(created.GetCreationTimestamp()).IsZero() {
		t.Errorf("create: uid %q, creationTimestamp %v; want both set", created.GetUID(), created.GetCreationTimestamp())
	}
	rv0 := rv(t, created)

	if _, err := c.Create(ctx, lc.build("obj"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create of an existing name: %v, want 409 AlreadyExists", err)
	}

	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Errorf("get: uid %s rv %s, want %s %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
	}

	next := clone(got)
	lc.change(next)
	updated, err := c.Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if !lc.changed(updated) {
		t.Errorf("update: change not applied: %s", describe(updated))
	}
	rv1 := rv(t, updated)
	if rv1 <= rv0 {
		t.Errorf("update: resourceVersion %d, want > %d", rv1, rv0)
	}
	if updated.GetUID() != created.GetUID() || !ptrTo(updated.GetCreationTimestamp()).Equal(ptrTo(created.GetCreationTimestamp())) {
		t.Errorf("update changed uid or creationTimestamp")
	}

	stale := clone(got) // still at rv0
	stale.SetAnnotations(map[string]string{"stale": "true"})
	if _, err := c.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want 409 Conflict", err)
	}

	last := rv1
	patches := []struct {
		pt    types.PatchType
		body  string
		label string
	}{
		{types.JSONPatchType, `[{"op":"add","path":"/metadata/labels/json","value":"yes"}]`, "json"},
		{types.MergePatchType, `{"metadata":{"labels":{"merge":"yes"}}}`, "merge"},
		{types.StrategicMergePatchType, `{"metadata":{"labels":{"strategic":"yes"}}}`, "strategic"},
	}
	for _, p := range patches {
		out, err := c.Patch(ctx, name, p.pt, []byte(p.body), metav1.PatchOptions{})
		if err != nil {
			t.Errorf("%s patch: %v", p.pt, err)
			continue
		}
		if out.GetLabels()[p.label] != "yes" || out.GetLabels()["app"] != "crud" {
			t.Errorf("%s patch: labels %v", p.pt, out.GetLabels())
		}
		if r := rv(t, out); r <= last {
			t.Errorf("%s patch: resourceVersion %d, want > %d", p.pt, r, last)
		} else {
			last = r
		}
		if !lc.changed(out) {
			t.Errorf("%s patch lost the earlier update", p.pt)
		}
	}
	_, err = c.Patch(ctx, name, types.ApplyPatchType, []byte(`{"metadata":{"labels":{"apply":"yes"}}}`), metav1.PatchOptions{FieldManager: "test"})
	if !apierrors.IsUnsupportedMediaType(err) {
		t.Errorf("apply patch: %v, want 415", err)
	}

	gen, err := c.Create(ctx, func() T { o := lc.build(""); o.SetName(""); o.SetGenerateName("gen-"); return o }(), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create with generateName: %v", err)
	}
	if !strings.HasPrefix(gen.GetName(), "gen-") || len(gen.GetName()) != len("gen-")+5 {
		t.Errorf("generateName gave %q, want gen- and 5 characters", gen.GetName())
	}

	// dryRun=All: the answer looks real but nothing is written.
	dry := lc.build("dry")
	dryOut, err := c.Create(ctx, dry, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if dryOut.GetName() != dry.GetName() || dryOut.GetUID() == "" {
		t.Errorf("dry-run create returned %s", describe(dryOut))
	}
	if _, err := c.Get(ctx, dry.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after dry-run create, get: %v, want 404", err)
	}
	cur, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dryUpd := clone(cur)
	dryUpd.SetLabels(map[string]string{"app": "crud", "dry": "run"})
	if out, err := c.Update(ctx, dryUpd, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil || out.GetLabels()["dry"] != "run" {
		t.Errorf("dry-run update: %v, labels %v", err, out)
	}
	if err := c.Delete(ctx, name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("dry-run delete: %v", err)
	}
	after, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after dry runs: %v", err)
	}
	if after.GetResourceVersion() != cur.GetResourceVersion() || after.GetLabels()["dry"] != "" || after.GetDeletionTimestamp() != nil {
		t.Errorf("dry-run update or delete wrote: before rv %s, after %s", cur.GetResourceVersion(), describe(after))
	}

	for _, n := range []string{name, gen.GetName()} {
		if err := c.Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete %s: %v", n, err)
		}
		if _, err := c.Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get after delete of %s: %v, want 404", n, err)
		}
	}
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: %v, want 404", err)
	}
}

// newDeployment returns a minimal valid Deployment with one container.
func newDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "crud"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "crud"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
}

func TestStrategicMergePatchContainers(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	d := newDeployment("smp", 1)
	d.Spec.Template.Spec.Containers = []corev1.Container{
		{Name: "web", Image: "nginx:1.27"},
		{Name: "sidecar", Image: "busybox:1.36", Command: []string{"sleep", "infinity"}},
	}
	c := s.Client.AppsV1().Deployments(ns)
	if _, err := c.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A strategic merge patch merges containers by name.
	out, err := c.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := out.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "web" || cs[0].Image != "nginx:1.27" || cs[1].Name != "sidecar" || cs[1].Image != "busybox:1.37" || len(cs[1].Command) != 2 {
		t.Errorf("strategic merge patch: containers %+v", cs)
	}
	if out.Generation != 2 {
		t.Errorf("generation after an image change: %d, want 2", out.Generation)
	}
	// $patch: delete removes one element.
	out, err = c.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := out.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "web" {
		t.Errorf("strategic $patch delete: containers %+v", cs)
	}
	// A JSON merge patch replaces the list.
	out, err = c.Patch(ctx, "smp", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"redis:7"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := out.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "only" || cs[0].Image != "redis:7" {
		t.Errorf("merge patch: containers %+v", cs)
	}
	// A JSON patch test op that fails is refused and writes nothing.
	before := out.ResourceVersion
	_, err = c.Patch(ctx, "smp", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":5},{"op":"replace","path":"/spec/replicas","value":6}]`), metav1.PatchOptions{})
	if err == nil || apierrors.ReasonForError(err) == metav1.StatusReasonInternalError {
		t.Errorf("JSON patch with a failing test op: %v, want a 4xx", err)
	}
	if got, _ := c.Get(ctx, "smp", metav1.GetOptions{}); got == nil || got.ResourceVersion != before {
		t.Errorf("failed JSON patch wrote the object")
	}
}

func TestGenerationStatusAndScale(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.AppsV1().Deployments(ns)

	d, err := c.Create(ctx, newDeployment("gen", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation on create: %d, want 1", d.Generation)
	}
	wantGen := func(step string, obj *appsv1.Deployment, want int64) {
		t.Helper()
		if obj.Generation != want {
			t.Errorf("%s: generation %d, want %d", step, obj.Generation, want)
		}
	}
	d.Labels["extra"] = "label"
	d, err = c.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGen("label change", d, 1)
	d, err = c.Patch(ctx, "gen", types.MergePatchType, []byte(`{"metadata":{"annotations":{"a":"b"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGen("annotation change", d, 1)
	d.Spec.Replicas = ptrTo[int32](4)
	d, err = c.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGen("spec change", d, 2)

	// UpdateStatus changes only the status.
	st := d.DeepCopy()
	st.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, ReadyReplicas: 3}
	st.Spec.Replicas = ptrTo[int32](9)
	st.Labels["from-status"] = "yes"
	st, err = c.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Status.ReadyReplicas != 3 || st.Status.ObservedGeneration != 2 {
		t.Errorf("update status: status %+v", st.Status)
	}
	if *st.Spec.Replicas != 4 || st.Labels["from-status"] != "" {
		t.Errorf("update status changed spec or labels: replicas %d labels %v", *st.Spec.Replicas, st.Labels)
	}
	wantGen("status update", st, 2)

	// An update of the main resource ignores the status.
	main := st.DeepCopy()
	main.Status.ReadyReplicas = 0
	main.Status.ObservedGeneration = 99
	main.Labels["main"] = "yes"
	main, err = c.Update(ctx, main, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if main.Status.ReadyReplicas != 3 || main.Status.ObservedGeneration != 2 || main.Labels["main"] != "yes" {
		t.Errorf("main update: status %+v labels %v; want status kept, label set", main.Status, main.Labels)
	}
	wantGen("main update with status change", main, 2)

	t.Run("scale", func(t *testing.T) {
		ctx := testContext(t)
		apps := s.Client.AppsV1()
		labels := map[string]string{"app": "crud"}
		tmpl := newDeployment("x", 1).Spec.Template
		if _, err := apps.ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "rs"},
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptrTo[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "sts"},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptrTo[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl, ServiceName: "sts"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, obj string
			gen       int64 // generation before scaling
			c         scaleClient
			read      func(ctx context.Context, name string) (replicas int32, generation int64, err error)
		}{
			{"deployments", "gen", 2, apps.Deployments(ns), func(ctx context.Context, name string) (int32, int64, error) {
				o, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *o.Spec.Replicas, o.Generation, nil
			}},
			{"replicasets", "rs", 1, apps.ReplicaSets(ns), func(ctx context.Context, name string) (int32, int64, error) {
				o, err := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *o.Spec.Replicas, o.Generation, nil
			}},
			{"statefulsets", "sts", 1, apps.StatefulSets(ns), func(ctx context.Context, name string) (int32, int64, error) {
				o, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *o.Spec.Replicas, o.Generation, nil
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testContext(t)
				sc, err := tc.c.GetScale(ctx, tc.obj, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get scale: %v", err)
				}
				if sc.Status.Selector != "app=crud" {
					t.Errorf("scale selector %q, want app=crud", sc.Status.Selector)
				}
				before := sc.Spec.Replicas
				stale := sc.DeepCopy()
				stale.ResourceVersion = "1"
				stale.Spec.Replicas = before + 1
				if _, err := tc.c.UpdateScale(ctx, tc.obj, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
					t.Errorf("update scale with a stale resourceVersion: %v, want 409", err)
				}
				sc.Spec.Replicas = before + 2
				got, err := tc.c.UpdateScale(ctx, tc.obj, sc, metav1.UpdateOptions{})
				if err != nil {
					t.Fatalf("update scale: %v", err)
				}
				if got.Spec.Replicas != before+2 {
					t.Errorf("update scale returned %d, want %d", got.Spec.Replicas, before+2)
				}
				n, gen, err := tc.read(ctx, tc.obj)
				if err != nil {
					t.Fatal(err)
				}
				if n != before+2 || gen != tc.gen+1 {
					t.Errorf("after scale: replicas %d generation %d, want %d and %d", n, gen, before+2, tc.gen+1)
				}
				neg := got.DeepCopy()
				neg.ResourceVersion = ""
				neg.Spec.Replicas = -1
				if _, err := tc.c.UpdateScale(ctx, tc.obj, neg, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
					t.Errorf("negative scale: %v, want 422", err)
				}
			})
		}
	})
}

// scaleClient is the scale subresource of a typed client.
type scaleClient interface {
	GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
	UpdateScale(ctx context.Context, name string, scale *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

func TestDefaults(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client

	t.Run("Deployment", func(t *testing.T) {
		d := newDeployment("defaults", 1)
		d.Spec.Replicas = nil
		out, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sp := out.Spec
		if sp.Replicas == nil || *sp.Replicas != 1 {
			t.Errorf("replicas %v, want 1", sp.Replicas)
		}
		ru := sp.Strategy.RollingUpdate
		if sp.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxSurge == nil || ru.MaxSurge.String() != "25%" || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "25%" {
			t.Errorf("strategy %+v, want RollingUpdate 25%%/25%%", sp.Strategy)
		}
		if sp.RevisionHistoryLimit == nil || *sp.RevisionHistoryLimit != 10 {
			t.Errorf("revisionHistoryLimit %v, want 10", sp.RevisionHistoryLimit)
		}
		if sp.ProgressDeadlineSeconds == nil || *sp.ProgressDeadlineSeconds != 600 {
			t.Errorf("progressDeadlineSeconds %v, want 600", sp.ProgressDeadlineSeconds)
		}
		if ps := sp.Template.Spec; ps.RestartPolicy != corev1.RestartPolicyAlways || ps.DNSPolicy != corev1.DNSClusterFirst {
			t.Errorf("pod template restartPolicy %q dnsPolicy %q", ps.RestartPolicy, ps.DNSPolicy)
		}
	})

	t.Run("Pod", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "untagged", Image: "nginx"},
				{Name: "latest", Image: "nginx:latest"},
				{Name: "tagged", Image: "nginx:1.27"},
				{Name: "registry-port", Image: "registry.local:5000/app"},
				{Name: "explicit", Image: "nginx:1.27", ImagePullPolicy: corev1.PullNever},
			}},
		}
		out, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sp := out.Spec
		if sp.RestartPolicy != corev1.RestartPolicyAlways {
			t.Errorf("restartPolicy %q, want Always", sp.RestartPolicy)
		}
		if sp.DNSPolicy != corev1.DNSClusterFirst {
			t.Errorf("dnsPolicy %q, want ClusterFirst", sp.DNSPolicy)
		}
		if sp.TerminationGracePeriodSeconds == nil || *sp.TerminationGracePeriodSeconds != 30 {
			t.Errorf("terminationGracePeriodSeconds %v, want 30", sp.TerminationGracePeriodSeconds)
		}
		want := map[string]corev1.PullPolicy{
			"untagged": corev1.PullAlways, "latest": corev1.PullAlways, "tagged": corev1.PullIfNotPresent,
			"registry-port": corev1.PullAlways, "explicit": corev1.PullNever,
		}
		for _, ct := range sp.Containers {
			if ct.ImagePullPolicy != want[ct.Name] {
				t.Errorf("container %s (%s): imagePullPolicy %q, want %q", ct.Name, ct.Image, ct.ImagePullPolicy, want[ct.Name])
			}
			if ct.TerminationMessagePath != corev1.TerminationMessagePathDefault || ct.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
				t.Errorf("container %s: termination message %q %q", ct.Name, ct.TerminationMessagePath, ct.TerminationMessagePolicy)
			}
		}
		if out.Status.Phase != corev1.PodPending {
			t.Errorf("phase %q, want Pending", out.Status.Phase)
		}
	})

	_, serviceNet, _ := net.ParseCIDR("10.43.0.0/16")
	svcc := c.CoreV1().Services(ns)
	service := func(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}}}
		for i, p := range ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: p})
		}
		return svc
	}

	t.Run("ServiceClusterIP", func(t *testing.T) {
		out, err := svcc.Create(ctx, service("plain", "", 80), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := net.ParseIP(out.Spec.ClusterIP)
		if ip == nil || !serviceNet.Contains(ip) || ip.Equal(net.ParseIP("10.43.0.1")) {
			t.Errorf("clusterIP %q, want an address in 10.43.0.0/16 other than .1", out.Spec.ClusterIP)
		}
		if len(out.Spec.ClusterIPs) != 1 || out.Spec.ClusterIPs[0] != out.Spec.ClusterIP {
			t.Errorf("clusterIPs %v, want [%s]", out.Spec.ClusterIPs, out.Spec.ClusterIP)
		}
		if out.Spec.Type != corev1.ServiceTypeClusterIP || out.Spec.SessionAffinity != corev1.ServiceAffinityNone {
			t.Errorf("type %q sessionAffinity %q", out.Spec.Type, out.Spec.SessionAffinity)
		}
		if p := out.Spec.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(80) {
			t.Errorf("port defaults: protocol %q targetPort %v", p.Protocol, p.TargetPort)
		}

		taken := service("taken-ip", "", 80)
		taken.Spec.ClusterIP = out.Spec.ClusterIP
		if _, err := svcc.Create(ctx, taken, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("create with a taken clusterIP: %v, want 422", err)
		}
		if _, err := svcc.Get(ctx, "taken-ip", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused service was stored: %v", err)
		}

		k, err := c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if k.Spec.ClusterIP != "10.43.0.1" {
			t.Errorf("kubernetes service clusterIP %q, want 10.43.0.1", k.Spec.ClusterIP)
		}
	})

	t.Run("ServiceNodePort", func(t *testing.T) {
		out, err := svcc.Create(ctx, service("np", corev1.ServiceTypeNodePort, 80, 443), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int32]bool{}
		for _, p := range out.Spec.Ports {
			if p.NodePort < 30000 || p.NodePort > 32767 || seen[p.NodePort] {
				t.Errorf("nodePort %d: want distinct ports in 30000-32767", p.NodePort)
			}
			seen[p.NodePort] = true
		}
		if out.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
			t.Errorf("externalTrafficPolicy %q, want Cluster", out.Spec.ExternalTrafficPolicy)
		}
		taken := service("taken-port", corev1.ServiceTypeNodePort, 80)
		taken.Spec.Ports[0].NodePort = out.Spec.Ports[0].NodePort
		if _, err := svcc.Create(ctx, taken, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("create with a taken nodePort: %v, want 422", err)
		}
		// Once the service is deleted its port is free again.
		if err := svcc.Delete(ctx, "np", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcc.Create(ctx, taken, metav1.CreateOptions{}); err != nil {
			t.Errorf("create with a released nodePort: %v", err)
		}
	})

	t.Run("ConcurrentServices", func(t *testing.T) {
		const n = 50
		ips := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := svcc.Create(ctx, service(fmt.Sprintf("svc-%02d", i), "", 80), metav1.CreateOptions{})
				errs[i] = err
				if err == nil {
					ips[i] = out.Spec.ClusterIP
				}
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for i := range n {
			if errs[i] != nil {
				t.Errorf("service %d: %v", i, errs[i])
				continue
			}
			if ip := net.ParseIP(ips[i]); ip == nil || !serviceNet.Contains(ip) {
				t.Errorf("service %d: clusterIP %q outside 10.43.0.0/16", i, ips[i])
			}
			if j, dup := seen[ips[i]]; dup {
				t.Errorf("services %d and %d share clusterIP %s", j, i, ips[i])
			}
			seen[ips[i]] = i
		}
		if len(seen) != n {
			t.Errorf("%d distinct clusterIPs, want %d", len(seen), n)
		}
	})
}

func TestNamespaceLifecycle(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := testContext(t)
	c := s.Client
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s: %v", name, err)
			continue
		}
		if ns.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s phase %q, want Active", name, ns.Status.Phase)
		}
	}

	for _, name := range []string{"default", "kube-system", "kube-public"} {
		if err := c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete namespace %s: %v, want 403", name, err)
		}
		if ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err != nil || ns.DeletionTimestamp != nil {
			t.Errorf("namespace %s after a refused delete: %v %v", name, err, ns)
		}
	}

	cm := func(name string, finalizers ...string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers}}
	}
	if _, err := c.CoreV1().ConfigMaps("no-such-namespace").Create(ctx, cm("x"), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("create in a missing namespace: %v, want 404", err)
	}

	ns := newNamespace(t, s)
	for i := range 3 {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm(fmt.Sprintf("cm-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A finalizer on one object holds the namespace in Terminating until
	// the test releases it.
	const hold = "example.com/hold"
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm("held", hold), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	got, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace gone at once: %v", err)
	}
	if got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
		t.Errorf("deleted namespace: phase %q deletionTimestamp %v, want Terminating and set", got.Status.Phase, got.DeletionTimestamp)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm("late"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: %v, want 403", err)
	}

	// The namespace controller deletes everything it can; only the held
	// object remains, marked for deletion.
	pollUntil(t, 30*time.Second, "namespace content deleted", func() (bool, error) {
		cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(deps.Items) == 0 && len(cms.Items) == 1 && cms.Items[0].Name == "held" && cms.Items[0].DeletionTimestamp != nil, nil
	})
	if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace removed while content remains: %v", err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("releasing the finalizer: %v", err)
	}
	pollUntil(t, 30*time.Second, "namespace removed", func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestFinalizersAndDeleteOptions(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1().ConfigMaps(ns)
	create := func(name string, labels map[string]string, finalizers ...string) *corev1.ConfigMap {
		t.Helper()
		out, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: finalizers}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return out
	}
	get := func(name string) *corev1.ConfigMap {
		t.Helper()
		out, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return out
	}

	t.Run("finalizer", func(t *testing.T) {
		create("fin", nil, "example.com/a", "example.com/b")
		if err := c.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		obj := get("fin")
		if obj.DeletionTimestamp == nil || len(obj.Finalizers) != 2 {
			t.Fatalf("after delete: deletionTimestamp %v finalizers %v", obj.DeletionTimestamp, obj.Finalizers)
		}
		// Deleting again changes nothing.
		if err := c.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
			t.Errorf("second delete: %v", err)
		}
		if again := get("fin"); again.ResourceVersion != obj.ResourceVersion {
			t.Errorf("second delete rewrote the object: rv %s -> %s", obj.ResourceVersion, again.ResourceVersion)
		}
		// No new finalizers once deleting.
		add := obj.DeepCopy()
		add.Finalizers = append(add.Finalizers, "example.com/c")
		if _, err := c.Update(ctx, add, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("adding a finalizer while deleting: %v, want 422", err)
		}
		obj.Finalizers = obj.Finalizers[1:]
		obj, err := c.Update(ctx, obj, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("removing one finalizer: %v", err)
		}
		if _, err := c.Get(ctx, "fin", metav1.GetOptions{}); err != nil {
			t.Fatalf("object gone with a finalizer left: %v", err)
		}
		obj.Finalizers = nil
		if _, err := c.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("removing the last finalizer: %v", err)
		}
		if _, err := c.Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after removing the last finalizer: %v, want 404", err)
		}
	})

	t.Run("propagation", func(t *testing.T) {
		cases := []struct {
			policy    metav1.DeletionPropagation
			finalizer string
		}{
			{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
			{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
		}
		for _, tc := range cases {
			name := strings.ToLower(string(tc.policy))
			create(name, nil)
			if err := c.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &tc.policy}); err != nil {
				t.Fatalf("delete %s: %v", tc.policy, err)
			}
			obj := get(name)
			if obj.DeletionTimestamp == nil || len(obj.Finalizers) != 1 || obj.Finalizers[0] != tc.finalizer {
				t.Errorf("%s: deletionTimestamp %v finalizers %v, want [%s]", tc.policy, obj.DeletionTimestamp, obj.Finalizers, tc.finalizer)
			}
			if _, err := c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("%s: after clearing finalizers: %v, want 404", tc.policy, err)
			}
		}
		// Background deletes at once.
		create("background", nil)
		bg := metav1.DeletePropagationBackground
		if err := c.Delete(ctx, "background", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "background", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("background delete: %v, want 404", err)
		}
	})

	t.Run("preconditions", func(t *testing.T) {
		obj := create("pre", nil)
		wrongUID := types.UID("00000000-0000-0000-0000-000000000000")
		if err := c.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}}); !apierrors.IsConflict(err) {
			t.Errorf("delete with a wrong UID: %v, want 409", err)
		}
		if _, err := c.Patch(ctx, "pre", types.MergePatchType, []byte(`{"data":{"k":"v"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &obj.ResourceVersion}}); !apierrors.IsConflict(err) {
			t.Errorf("delete with a stale resourceVersion: %v, want 409", err)
		}
		cur := get("pre")
		if err := c.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &obj.UID, ResourceVersion: &cur.ResourceVersion}}); err != nil {
			t.Errorf("delete with matching preconditions: %v", err)
		}
		if _, err := c.Get(ctx, "pre", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after delete: %v, want 404", err)
		}
	})

	t.Run("deletecollection", func(t *testing.T) {
		for i := range 5 {
			create(fmt.Sprintf("a-%d", i), map[string]string{"set": "dc", "group": "a"})
		}
		for i := range 3 {
			create(fmt.Sprintf("b-%d", i), map[string]string{"set": "dc", "group": "b"})
		}
		dry := metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
		if err := c.DeleteCollection(ctx, dry, metav1.ListOptions{LabelSelector: "set=dc"}); err != nil {
			t.Fatal(err)
		}
		list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "set=dc"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 8 {
			t.Errorf("after a dry-run deletecollection: %d objects, want 8", len(list.Items))
		}
		if err := c.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "set=dc,group=a"}); err != nil {
			t.Fatal(err)
		}
		list, err = c.List(ctx, metav1.ListOptions{LabelSelector: "set=dc"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if strings.Join(names, ",") != "b-0,b-1,b-2" {
			t.Errorf("after deletecollection group=a: %v, want b-0..b-2", names)
		}
	})
}

func TestConcurrentPatches(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1().ConfigMaps(ns)
	created, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				// Each worker counts up its own annotation key.
				patch := fmt.Sprintf(`{"metadata":{"annotations":{"worker-%02d":"%d"}}}`, g, i)
				if _, err := c.Patch(ctx, "hot", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if apierrors.IsConflict(err) {
			t.Errorf("unconditional patch got 409: %v", err)
		} else {
			t.Error(err)
		}
	}
	got, err := c.Get(ctx, "hot", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for g := range workers {
		if v := got.Annotations[fmt.Sprintf("worker-%02d", g)]; v != fmt.Sprint(rounds) {
			t.Errorf("annotation worker-%02d = %q, want %d", g, v, rounds)
		}
	}
	// Every patch changed the object, so each was its own write.
	if n := rv(t, got) - rv(t, created); n < workers*rounds {
		t.Errorf("resourceVersion advanced by %d over %d patches", n, workers*rounds)
	}
}

func TestVersionConversion(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client
	target := autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}

	t.Run("HPA v2 read as v1", func(t *testing.T) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "from-v2"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: target, MinReplicas: ptrTo[int32](2), MaxReplicas: 7,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{
						Name:   corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptrTo[int32](65)},
					},
				}},
			},
		}
		if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		v1, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "from-v2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p := v1.Spec.TargetCPUUtilizationPercentage; p == nil || *p != 65 {
			t.Errorf("v1 targetCPUUtilizationPercentage %v, want 65", p)
		}
		if v1.Spec.MaxReplicas != 7 || v1.Spec.MinReplicas == nil || *v1.Spec.MinReplicas != 2 || v1.Spec.ScaleTargetRef.Name != "web" || v1.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("v1 spec %+v", v1.Spec)
		}
		list, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("v1 list: %v %v", list, err)
		}
		// An update through v1 keeps the v2 object.
		v1.Spec.MaxReplicas = 9
		if _, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).Update(ctx, v1, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		v2, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "from-v2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v2.Spec.MaxReplicas != 9 || len(v2.Spec.Metrics) != 1 || v2.Spec.Metrics[0].Resource == nil || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 65 {
			t.Errorf("v2 after a v1 update: %+v", v2.Spec)
		}
	})

	t.Run("HPA v1 read as v2", func(t *testing.T) {
		hpa := &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "from-v1"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:                    5,
				TargetCPUUtilizationPercentage: ptrTo[int32](50),
			},
		}
		if _, err := c.AutoscalingV1().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		v2, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "from-v1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := v2.Spec.Metrics
		if len(m) != 1 || m[0].Type != autoscalingv2.ResourceMetricSourceType || m[0].Resource == nil || m[0].Resource.Name != corev1.ResourceCPU ||
			m[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType || m[0].Resource.Target.AverageUtilization == nil || *m[0].Resource.Target.AverageUtilization != 50 {
			t.Errorf("v2 metrics %+v, want one cpu Utilization 50", m)
		}
		if v2.Spec.MinReplicas == nil || *v2.Spec.MinReplicas != 1 {
			t.Errorf("v2 minReplicas %v, want the default 1", v2.Spec.MinReplicas)
		}
		for k := range v2.Annotations {
			if strings.HasPrefix(k, "autoscaling.alpha.kubernetes.io/") {
				t.Errorf("v2 object shows the v1 round-trip annotation %s", k)
			}
		}
	})

	t.Run("Events", func(t *testing.T) {
		now := metav1.NowMicro()
		core := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "core-event"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-1", APIVersion: "v1"},
			Reason:         "Pulled", Message: "image pulled", Type: corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 3,
		}
		if _, err := c.CoreV1().Events(ns).Create(ctx, core, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "new-event"},
			EventTime:  now, ReportingController: "example.com/test", ReportingInstance: "test-1",
			Action: "Scale", Reason: "Scaled", Note: "scaled up", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: ns, Name: "web", APIVersion: "apps/v1"},
		}
		if _, err := c.EventsV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		newList, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]eventsv1.Event{}
		for _, e := range newList.Items {
			byName[e.Name] = e
		}
		if e, ok := byName["core-event"]; !ok || e.Regarding.Name != "web-1" || e.Note != "image pulled" || e.Reason != "Pulled" || e.DeprecatedCount != 3 || e.DeprecatedSource.Component != "kubelet" {
			t.Errorf("core/v1 event through events.k8s.io/v1: %+v (present %v)", e, ok)
		}
		if _, ok := byName["new-event"]; !ok || len(byName) != 2 {
			t.Errorf("events.k8s.io/v1 list: %v", byName)
		}

		coreList, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var found *corev1.Event
		for i := range coreList.Items {
			if coreList.Items[i].Name == "new-event" {
				found = &coreList.Items[i]
			}
		}
		if found == nil || found.InvolvedObject.Name != "web" || found.Message != "scaled up" || found.ReportingController != "example.com/test" || found.Action != "Scale" || found.EventTime.IsZero() {
			t.Errorf("events.k8s.io/v1 event through core/v1: %+v", found)
		}
		// Field selectors work through both.
		sel, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
		if err != nil || len(sel.Items) != 1 || sel.Items[0].Name != "new-event" {
			t.Errorf("core/v1 involvedObject.name=web: %v %v", sel, err)
		}
		newSel, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=web-1"})
		if err != nil || len(newSel.Items) != 1 || newSel.Items[0].Name != "core-event" {
			t.Errorf("events.k8s.io/v1 regarding.name=web-1: %v %v", newSel, err)
		}
	})
}

func TestPodBindingAndEviction(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	pods := s.Client.CoreV1().Pods(ns)
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}
	}
	created, err := pods.Create(ctx, pod("bind-me"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bind-me"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	bound, err := pods.Get(ctx, "bind-me", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bound.Spec.NodeName != "node-1" {
		t.Errorf("nodeName %q after binding, want node-1", bound.Spec.NodeName)
	}
	if rv(t, bound) <= rv(t, created) {
		t.Errorf("binding did not write: rv %s -> %s", created.ResourceVersion, bound.ResourceVersion)
	}
	scheduled := false
	for _, c := range bound.Status.Conditions {
		scheduled = scheduled || c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue
	}
	if !scheduled {
		t.Errorf("conditions %+v, want PodScheduled=True", bound.Status.Conditions)
	}
	binding.Target.Name = "node-2"
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("second binding: %v, want 409", err)
	}
	if again, _ := pods.Get(ctx, "bind-me", metav1.GetOptions{}); again == nil || again.Spec.NodeName != "node-1" {
		t.Errorf("second binding moved the pod: %v", again)
	}
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "missing"}, Target: corev1.ObjectReference{Name: "node-1"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("binding a missing pod: %v, want 404", err)
	}
	// Changing nodeName through an update is refused.
	moved := bound.DeepCopy()
	moved.Spec.NodeName = "node-3"
	if _, err := pods.Update(ctx, moved, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("update of spec.nodeName: %v, want 422", err)
	}

	// Evictions answer 201 and delete the pod.
	for _, name := range []string{"evict-me", "evict-bound"} {
		if _, err := pods.Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "evict-bound"}, Target: corev1.ObjectReference{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eviction := func(name string, opts *metav1.DeleteOptions) (int, error) {
		body := &policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, DeleteOptions: opts}
		var code int
		err := s.Client.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(name).SubResource("eviction").
			Body(body).Do(ctx).StatusCode(&code).Error()
		return code, err
	}
	if code, err := eviction("evict-me", nil); err != nil || code != http.StatusCreated {
		t.Errorf("eviction: %d %v, want 201", code, err)
	}
	if _, err := pods.Get(ctx, "evict-me", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("evicted pod: %v, want 404", err)
	}
	if code, err := eviction("evict-bound", &metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](0)}); err != nil || code != http.StatusCreated {
		t.Errorf("eviction of a bound pod with grace 0: %d %v, want 201", code, err)
	}
	if _, err := pods.Get(ctx, "evict-bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("evicted bound pod: %v, want 404", err)
	}
	// The typed client's Evict works too.
	if _, err := pods.Create(ctx, pod("evict-typed"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-typed", Namespace: ns}}); err != nil {
		t.Errorf("typed eviction: %v", err)
	}
	if _, err := pods.Get(ctx, "evict-typed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod after typed eviction: %v, want 404", err)
	}
	if code, err := eviction("missing", nil); !apierrors.IsNotFound(err) {
		t.Errorf("evicting a missing pod: %d %v, want 404", code, err)
	}
}

func TestProtobufClient(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	cfg := rest.CopyConfig(s.Config)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	var mu sync.Mutex
	responseTypes, watchTypes := map[string]int{}, map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				mu.Lock()
				if req.URL.Query().Get("watch") == "true" {
					watchTypes[resp.Header.Get("Content-Type")]++
				} else {
					responseTypes[resp.Header.Get("Content-Type")]++
				}
				mu.Unlock()
			}
			return resp, err
		})
	})
	client := kubernetes.NewForConfigOrDie(cfg)

	t.Run("ConfigMap", func(t *testing.T) {
		c := client.CoreV1().ConfigMaps(ns)
		cm, err := c.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "proto", Labels: map[string]string{"app": "proto"}},
			Data:       map[string]string{"text": "héllo\n"}, BinaryData: map[string][]byte{"bin": {0, 1, 2, 255}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if cm.UID == "" || cm.Data["text"] != "héllo\n" || string(cm.BinaryData["bin"]) != "\x00\x01\x02\xff" {
			t.Errorf("create returned %+v", cm)
		}
		got, err := c.Get(ctx, "proto", metav1.GetOptions{})
		if err != nil || got.ResourceVersion != cm.ResourceVersion || got.Labels["app"] != "proto" {
			t.Fatalf("get: %v %+v", err, got)
		}
		got.Data["more"] = "x"
		upd, err := c.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || upd.Data["more"] != "x" || rv(t, upd) <= rv(t, got) {
			t.Fatalf("update: %v %+v", err, upd)
		}
		list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "app=proto"})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "proto" || list.Items[0].ResourceVersion != upd.ResourceVersion || list.ResourceVersion == "" {
			t.Errorf("list: %+v", list)
		}
		paged, err := c.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil || len(paged.Items) != 1 {
			t.Errorf("paged list: %v %v", paged, err)
		}
		if _, err := c.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get missing: %v, want 404 decoded from protobuf", err)
		}
		stale := got.DeepCopy()
		if _, err := c.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Errorf("stale update: %v, want 409", err)
		}
		w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: upd.ResourceVersion})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()
		upd.Data["more"] = "y"
		if _, err := c.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update: %v", err)
		}
		if ev := expectEvent(t, w, watch.Modified, "proto"); ev.Object.(*corev1.ConfigMap).Data["more"] != "y" || string(ev.Object.(*corev1.ConfigMap).BinaryData["bin"]) != "\x00\x01\x02\xff" {
			t.Errorf("MODIFIED event object %+v", ev.Object)
		}
		if err := c.Delete(ctx, "proto", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		expectEvent(t, w, watch.Deleted, "proto")
		if _, err := c.Get(ctx, "proto", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after delete: %v", err)
		}
	})

	t.Run("Deployment", func(t *testing.T) {
		c := client.AppsV1().Deployments(ns)
		d, err := c.Create(ctx, newDeployment("proto", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if d.Generation != 1 || d.Spec.Strategy.RollingUpdate == nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
			t.Errorf("create returned %+v", d.Spec)
		}
		d.Spec.Replicas = ptrTo[int32](5)
		d, err = c.Update(ctx, d, metav1.UpdateOptions{})
		if err != nil || *d.Spec.Replicas != 5 || d.Generation != 2 {
			t.Fatalf("update: %v %+v", err, d)
		}
		d.Status.Replicas = 5
		if _, err := c.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status: %v", err)
		}
		sc, err := c.GetScale(ctx, "proto", metav1.GetOptions{})
		if err != nil || sc.Spec.Replicas != 5 || sc.Status.Replicas != 5 {
			t.Fatalf("get scale: %v %+v", err, sc)
		}
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 || *list.Items[0].Spec.Replicas != 5 {
			t.Fatalf("list: %v %+v", err, list)
		}
		if err := c.Delete(ctx, "proto", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := c.Get(ctx, "proto", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after delete: %v", err)
		}
	})

	mu.Lock()
	defer mu.Unlock()
	if responseTypes[runtime.ContentTypeProtobuf] == 0 {
		t.Errorf("no response was protobuf: %v", responseTypes)
	}
	for ct, n := range responseTypes {
		if ct != runtime.ContentTypeProtobuf {
			t.Errorf("%d responses as %q, want all protobuf", n, ct)
		}
	}
	if len(watchTypes) != 1 || watchTypes[runtime.ContentTypeProtobuf+";stream=watch"] == 0 {
		t.Errorf("watch responses %v, want all %s;stream=watch", watchTypes, runtime.ContentTypeProtobuf)
	}
}
