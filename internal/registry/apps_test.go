package registry

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDeploymentDefaults(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: groupsMeta("web"), Spec: appsv1.DeploymentSpec{
		Selector: groupsSelector(), Template: groupsTemplate("")}}
	deployments().Defaults(d)
	s := d.Spec
	if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas/history/deadline = %d/%d/%d", *s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds)
	}
	ru := s.Strategy.RollingUpdate
	if s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%") {
		t.Errorf("strategy = %+v", s.Strategy)
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("template not defaulted: %+v", s.Template.Spec)
	}

	// Recreate gets no rolling-update parameters.
	r := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	deployments().Defaults(r)
	if r.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate %+v", r.Spec.Strategy.RollingUpdate)
	}
}

func TestDeploymentValidation(t *testing.T) {
	valid := func() *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: groupsMeta("web"), Spec: appsv1.DeploymentSpec{
			Selector: groupsSelector(), Template: groupsTemplate("")}}
	}
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{"valid", func(d *appsv1.Deployment) {}, nil},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []string{"spec.selector"}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, []string{"spec.selector"}},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} },
			[]string{"spec.template.metadata.labels"}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(-1)) }, []string{"spec.replicas"}},
		{"restart never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]string{"spec.template.spec.restartPolicy"}},
		{"no containers", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil },
			[]string{"spec.template.spec.containers"}},
		{"both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxSurge: new(intstr.FromInt32(0)), MaxUnavailable: new(intstr.FromString("0%"))}
		}, []string{"spec.strategy.rollingUpdate.maxUnavailable"}},
		{"bad percentages", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxSurge: new(intstr.FromString("x")), MaxUnavailable: new(intstr.FromString("150%"))}
		}, []string{"spec.strategy.rollingUpdate.maxSurge", "spec.strategy.rollingUpdate.maxUnavailable"}},
		{"recreate with rolling update", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, []string{"spec.strategy.rollingUpdate"}},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, []string{"spec.strategy.type"}},
		{"deadline below min ready", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 700
		}, []string{"spec.progressDeadlineSeconds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := valid()
			tc.mutate(d)
			groupsWantFields(t, groupsCreate(deployments(), d), tc.want...)
		})
	}

	t.Run("selector immutable", func(t *testing.T) {
		k := deployments()
		old := valid()
		groupsCreate(k, old)
		d := old.DeepCopy()
		d.Spec.Selector.MatchLabels["tier"] = "front"
		d.Spec.Template.Labels["tier"] = "front"
		groupsWantFields(t, k.Validate(d, old), "spec.selector")
	})
}

func TestWorkloadScale(t *testing.T) {
	cases := []struct {
		kind *Kind
		obj  runtime.Object
	}{
		{deployments(), &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Selector: groupsSelector()}, Status: appsv1.DeploymentStatus{Replicas: 2}}},
		{replicaSets(), &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: groupsSelector()}, Status: appsv1.ReplicaSetStatus{Replicas: 2}}},
		{statefulSets(), &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Selector: groupsSelector()}, Status: appsv1.StatefulSetStatus{Replicas: 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.kind.Resource, func(t *testing.T) {
			spec, status, sel := tc.kind.Scale.Get(tc.obj)
			if spec != 1 || status != 2 || sel != "app=web" {
				t.Errorf("Get = %d, %d, %q; want 1, 2, app=web", spec, status, sel)
			}
			tc.kind.Scale.Set(tc.obj, 7)
			if spec, _, _ := tc.kind.Scale.Get(tc.obj); spec != 7 {
				t.Errorf("after Set(7) spec = %d", spec)
			}
		})
	}
}

func TestDeploymentRow(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: groupsMeta("web"), Spec: appsv1.DeploymentSpec{
		Replicas: new(int32(3)), Selector: groupsSelector(), Template: groupsTemplate("")},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "log", Image: "busybox"})
	row := deployments().Row(d)
	want := []any{"web", "2/3", int64(3), int64(2), row[4], "web,log", "nginx:1.27,busybox", "app=web"}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %v, want %v", i, row[i], want[i])
		}
	}
}

func newStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: groupsMeta("db"), Spec: appsv1.StatefulSetSpec{
		Selector: groupsSelector(), Template: groupsTemplate(""), ServiceName: "db",
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}}}
}

func TestStatefulSetDefaults(t *testing.T) {
	s := newStatefulSet()
	statefulSets().Defaults(s)
	sp := s.Spec
	if *sp.Replicas != 1 || *sp.RevisionHistoryLimit != 10 || sp.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
		t.Errorf("replicas/history/policy = %d/%d/%s", *sp.Replicas, *sp.RevisionHistoryLimit, sp.PodManagementPolicy)
	}
	if sp.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || sp.UpdateStrategy.RollingUpdate == nil ||
		*sp.UpdateStrategy.RollingUpdate.Partition != 0 {
		t.Errorf("updateStrategy = %+v", sp.UpdateStrategy)
	}
	if r := sp.PersistentVolumeClaimRetentionPolicy; r == nil || r.WhenDeleted != "Retain" || r.WhenScaled != "Retain" {
		t.Errorf("retention = %+v", r)
	}
	c := sp.VolumeClaimTemplates[0]
	if c.APIVersion != "v1" || c.Kind != "PersistentVolumeClaim" || *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
		c.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim template = %+v", c)
	}

	// An explicit strategy type alone is kept as written.
	o := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
	statefulSets().Defaults(o)
	if o.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("rollingUpdate = %+v, want nil", o.Spec.UpdateStrategy.RollingUpdate)
	}
}

func TestStatefulSetValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *appsv1.StatefulSet)
		want   []string
	}{
		{"valid", func(s *appsv1.StatefulSet) {}, nil},
		{"no service name", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }, nil},
		{"mounts a claim template", func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, nil},
		{"bad policy", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, []string{"spec.podManagementPolicy"}},
		{"ondelete with rolling update", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
		}, []string{"spec.updateStrategy.rollingUpdate"}},
		{"negative partition", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(-1))}
		}, []string{"spec.updateStrategy.rollingUpdate.partition"}},
		{"bad retention", func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep"}
		}, []string{"spec.persistentVolumeClaimRetentionPolicy.whenDeleted"}},
		{"bad claim name", func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Name = "Data_1" },
			[]string{"spec.volumeClaimTemplates[0].metadata.name"}},
		{"claim without access modes", func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil },
			[]string{"spec.volumeClaimTemplates[0].spec.accessModes"}},
		{"restart on failure", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			[]string{"spec.template.spec.restartPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStatefulSet()
			tc.mutate(s)
			groupsWantFields(t, groupsCreate(statefulSets(), s), tc.want...)
		})
	}

	t.Run("update", func(t *testing.T) {
		k := statefulSets()
		old := newStatefulSet()
		groupsCreate(k, old)
		ok := old.DeepCopy()
		ok.Spec.Replicas = new(int32(5))
		ok.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		groupsWantFields(t, k.Validate(ok, old))
		bad := old.DeepCopy()
		bad.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		groupsWantFields(t, k.Validate(bad, old), "spec")
	})
}

func TestDaemonSet(t *testing.T) {
	k := daemonSets()
	ds := &appsv1.DaemonSet{ObjectMeta: groupsMeta("agent"), Spec: appsv1.DaemonSetSpec{
		Selector: groupsSelector(), Template: groupsTemplate("")}}
	groupsWantFields(t, groupsCreate(k, ds))
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil ||
		*ru.MaxUnavailable != intstr.FromInt32(1) || *ru.MaxSurge != intstr.FromInt32(0) || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("defaults = %+v", ds.Spec)
	}
	if row := k.Row(ds); row[6] != "<none>" {
		t.Errorf("NODE SELECTOR = %v, want <none>", row[6])
	}

	bad := ds.DeepCopy()
	bad.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = new(intstr.FromInt32(0))
	bad.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	groupsWantFields(t, k.Validate(bad, nil), "spec.template.metadata.labels", "spec.updateStrategy.rollingUpdate.maxUnavailable")
	groupsWantFields(t, k.Validate(bad, ds), "spec.selector", "spec.template.metadata.labels", "spec.updateStrategy.rollingUpdate.maxUnavailable")
}

func TestControllerRevision(t *testing.T) {
	k := controllerRevisions()
	cr := &appsv1.ControllerRevision{ObjectMeta: groupsMeta("agent-5d8f"), Revision: -1}
	groupsWantFields(t, k.Validate(cr, nil), "data", "revision")

	cr.Revision = 3
	cr.Data.Raw = []byte(`{"a": 1, "b": 2}`)
	cr.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: new(true)}}
	row := k.Row(cr)
	if row[1] != "daemonset.apps/agent" || row[2] != int64(3) {
		t.Errorf("row = %v", row)
	}
	same := cr.DeepCopy()
	same.Data.Raw = []byte(`{"b":2,"a":1}`)
	groupsWantFields(t, k.Validate(same, cr))
	changed := cr.DeepCopy()
	changed.Data.Raw = []byte(`{"a":2}`)
	groupsWantFields(t, k.Validate(changed, cr), "data")
}
