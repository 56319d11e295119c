package registry

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Shared fixtures and checks for the kinds outside the core group.

func groupsMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", UID: "6f1c7a52-0000-4000-8000-000000000001",
		CreationTimestamp: metav1.Now()}
}

func groupsTemplate(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "web", Image: "nginx:1.27"}},
		},
	}
}

func groupsSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

// groupsSamples returns a typical valid object of each kind, keyed by the
// kind's constructor, as a client would send it.
func groupsSamples() map[string]struct {
	kind *Kind
	obj  runtime.Object
} {
	pathPrefix := networkingv1.PathTypePrefix
	samples := map[string]struct {
		kind *Kind
		obj  runtime.Object
	}{}
	add := func(k *Kind, obj runtime.Object) {
		samples[k.GVK.GroupVersion().String()+"/"+k.Resource] = struct {
			kind *Kind
			obj  runtime.Object
		}{k, obj}
	}
	add(deployments(), &appsv1.Deployment{ObjectMeta: groupsMeta("web"), Spec: appsv1.DeploymentSpec{
		Selector: groupsSelector(), Template: groupsTemplate("")}})
	add(replicaSets(), &appsv1.ReplicaSet{ObjectMeta: groupsMeta("web"), Spec: appsv1.ReplicaSetSpec{
		Selector: groupsSelector(), Template: groupsTemplate("")}})
	add(statefulSets(), &appsv1.StatefulSet{ObjectMeta: groupsMeta("db"), Spec: appsv1.StatefulSetSpec{
		Selector: groupsSelector(), Template: groupsTemplate(""), ServiceName: "db",
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}}})
	add(daemonSets(), &appsv1.DaemonSet{ObjectMeta: groupsMeta("agent"), Spec: appsv1.DaemonSetSpec{
		Selector: groupsSelector(), Template: groupsTemplate("")}})
	add(controllerRevisions(), &appsv1.ControllerRevision{ObjectMeta: groupsMeta("agent-5d8f"),
		Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 2})
	add(jobs(), &batchv1.Job{ObjectMeta: groupsMeta("pi"), Spec: batchv1.JobSpec{Template: groupsTemplate(corev1.RestartPolicyNever)}})
	add(cronJobs(), &batchv1.CronJob{ObjectMeta: groupsMeta("hello"), Spec: batchv1.CronJobSpec{
		Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: groupsTemplate(corev1.RestartPolicyOnFailure)}}}})
	add(ingresses(), &networkingv1.Ingress{ObjectMeta: groupsMeta("web"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &pathPrefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}})
	add(ingressClasses(), &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}})
	add(networkPolicies(), &networkingv1.NetworkPolicy{ObjectMeta: groupsMeta("deny"), Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *groupsSelector(),
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: new(intstr.FromInt32(80))}}}}}})
	add(endpointSlices(), &discoveryv1.EndpointSlice{ObjectMeta: groupsMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.5"}}},
		Ports:     []discoveryv1.EndpointPort{{Port: new(int32(80))}}})
	add(leases(), &coordinationv1.Lease{ObjectMeta: groupsMeta("leader"), Spec: coordinationv1.LeaseSpec{
		HolderIdentity: new("node-1"), LeaseDurationSeconds: new(int32(15))}})
	add(horizontalPodAutoscalersV2(), &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: groupsMeta("web"),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}})
	add(horizontalPodAutoscalersV1(), &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: groupsMeta("web"),
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5, TargetCPUUtilizationPercentage: new(int32(50)),
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}})
	add(roles(), &rbacv1.Role{ObjectMeta: groupsMeta("reader"), Rules: []rbacv1.PolicyRule{{
		Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}})
	add(roleBindings(), &rbacv1.RoleBinding{ObjectMeta: groupsMeta("read-pods"),
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "ServiceAccount", Name: "ci"}}})
	add(clusterRoles(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:health"}, Rules: []rbacv1.PolicyRule{{
		Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}})
	add(clusterRoleBindings(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "health"},
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:health"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:authenticated"}, {Kind: "ServiceAccount", Name: "ci", Namespace: "ci"}}})
	add(storageClasses(), &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard",
		Annotations: map[string]string{defaultStorageClassAnnotation: "true"}}, Provisioner: "rancher.io/local-path"})
	add(podDisruptionBudgets(), &policyv1.PodDisruptionBudget{ObjectMeta: groupsMeta("web"), Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: new(intstr.FromString("50%")), Selector: groupsSelector()}})
	add(priorityClasses(), &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000})
	add(eventsV1(), &eventsv1.Event{ObjectMeta: groupsMeta("web.17a"), EventTime: metav1.NowMicro(),
		ReportingController: "example.com/controller", ReportingInstance: "controller-1", Action: "Scale", Reason: "Scaled",
		Type: corev1.EventTypeNormal, Note: "scaled to 3",
		Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"}})
	return samples
}

// groupsCreate runs what the server runs on create: prepare, default,
// validate.
func groupsCreate(k *Kind, obj runtime.Object) field.ErrorList {
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
	if k.Defaults != nil {
		k.Defaults(obj)
	}
	if k.Validate == nil {
		return nil
	}
	return k.Validate(obj, nil)
}

// groupsErrFields lists the field paths of errs, sorted.
func groupsErrFields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	slices.Sort(out)
	return out
}

func groupsWantFields(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := groupsErrFields(errs); !slices.Equal(got, want) {
		t.Errorf("error fields = %q, want %q\nerrors: %v", got, want, errs)
	}
}

func TestGroupsKindsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, k := range Kinds() {
		listed[k.GVK.GroupVersion().String()+"/"+k.Resource] = true
	}
	for key := range groupsSamples() {
		if !listed[key] {
			t.Errorf("%s is not in Kinds()", key)
		}
	}
}

func TestGroupsSamples(t *testing.T) {
	for key, s := range groupsSamples() {
		t.Run(key, func(t *testing.T) {
			k, obj := s.kind, s.obj
			if reflect.TypeOf(k.New()) != reflect.TypeOf(obj) {
				t.Fatalf("New() = %T, want %T", k.New(), obj)
			}
			if k.NewList() == nil || k.Resource == "" || k.Singular == "" {
				t.Fatalf("incomplete kind %+v", k)
			}
			if errs := groupsCreate(k, obj); len(errs) > 0 {
				t.Fatalf("valid object refused: %v", errs)
			}

			// Defaulting again, or after a trip through storage, changes nothing:
			// kubectl apply twice must report "unchanged".
			if k.Defaults != nil {
				again := obj.DeepCopyObject()
				k.Defaults(again)
				if !reflect.DeepEqual(obj, again) {
					t.Errorf("Defaults not idempotent:\n%+v\n%+v", obj, again)
				}
				b, err := json.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				decoded := k.New()
				if err := json.Unmarshal(b, decoded); err != nil {
					t.Fatal(err)
				}
				k.Defaults(decoded)
				b2, _ := json.Marshal(decoded)
				if string(b) != string(b2) {
					t.Errorf("Defaults after decode differ:\n%s\n%s", b, b2)
				}
			}

			// An update with nothing changed is accepted.
			if k.Validate != nil {
				if errs := k.Validate(obj.DeepCopyObject(), obj); len(errs) > 0 {
					t.Errorf("no-op update refused: %v", errs)
				}
			}

			row := k.Row(obj)
			if len(row) != len(k.Columns) {
				t.Fatalf("row has %d cells for %d columns: %v", len(row), len(k.Columns), row)
			}
			for i, cell := range row {
				switch cell.(type) {
				case string, int64, bool:
				default:
					t.Errorf("column %s: cell %v has type %T", k.Columns[i].Name, cell, cell)
				}
			}
		})
	}
}
