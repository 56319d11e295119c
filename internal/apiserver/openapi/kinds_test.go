package openapi

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/registry"
)

// testKinds returns the registry's kinds plus a wide test-local set of
// k8s.io/api kinds, so the documents are exercised beyond what the
// registry serves today. The registry's kind wins when both have a GVK.
func testKinds() []*registry.Kind {
	kinds := registry.Kinds()
	have := map[schema.GroupVersionKind]bool{}
	for _, k := range kinds {
		have[k.GVK] = true
	}
	for _, k := range localKinds() {
		if !have[k.GVK] {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// kindOpt tweaks a test kind.
type kindOpt func(*registry.Kind)

func withStatus(k *registry.Kind) { k.HasStatus = true }
func withScale(k *registry.Kind)  { k.HasStatus, k.Scale = true, &registry.ScaleAccess{} }
func cluster(k *registry.Kind)    { k.Namespaced = false }

func testKind[T, L any, PT interface {
	*T
	runtime.Object
}, PL interface {
	*L
	runtime.Object
}](gv schema.GroupVersion, kind, resource string, opts ...kindOpt) *registry.Kind {
	k := &registry.Kind{
		GVK:        gv.WithKind(kind),
		Resource:   resource,
		Namespaced: true,
		New:        func() runtime.Object { return PT(new(T)) },
		NewList:    func() runtime.Object { return PL(new(L)) },
	}
	for _, o := range opts {
		o(k)
	}
	return k
}

func localKinds() []*registry.Kind {
	core := corev1.SchemeGroupVersion
	apps := appsv1.SchemeGroupVersion
	return []*registry.Kind{
		testKind[corev1.Pod, corev1.PodList](core, "Pod", "pods", withStatus),
		testKind[corev1.Service, corev1.ServiceList](core, "Service", "services", withStatus),
		testKind[corev1.ConfigMap, corev1.ConfigMapList](core, "ConfigMap", "configmaps"),
		testKind[corev1.Secret, corev1.SecretList](core, "Secret", "secrets"),
		testKind[corev1.Namespace, corev1.NamespaceList](core, "Namespace", "namespaces", withStatus, cluster),
		testKind[corev1.Node, corev1.NodeList](core, "Node", "nodes", withStatus, cluster),
		testKind[corev1.ServiceAccount, corev1.ServiceAccountList](core, "ServiceAccount", "serviceaccounts"),
		testKind[corev1.Endpoints, corev1.EndpointsList](core, "Endpoints", "endpoints"),
		testKind[corev1.Event, corev1.EventList](core, "Event", "events"),
		testKind[corev1.PersistentVolumeClaim, corev1.PersistentVolumeClaimList](core, "PersistentVolumeClaim", "persistentvolumeclaims", withStatus),
		testKind[corev1.PersistentVolume, corev1.PersistentVolumeList](core, "PersistentVolume", "persistentvolumes", withStatus, cluster),
		testKind[corev1.LimitRange, corev1.LimitRangeList](core, "LimitRange", "limitranges"),
		testKind[corev1.ResourceQuota, corev1.ResourceQuotaList](core, "ResourceQuota", "resourcequotas", withStatus),
		testKind[corev1.ReplicationController, corev1.ReplicationControllerList](core, "ReplicationController", "replicationcontrollers", withScale),
		testKind[corev1.PodTemplate, corev1.PodTemplateList](core, "PodTemplate", "podtemplates"),
		testKind[appsv1.Deployment, appsv1.DeploymentList](apps, "Deployment", "deployments", withScale),
		testKind[appsv1.ReplicaSet, appsv1.ReplicaSetList](apps, "ReplicaSet", "replicasets", withScale),
		testKind[appsv1.StatefulSet, appsv1.StatefulSetList](apps, "StatefulSet", "statefulsets", withScale),
		testKind[appsv1.DaemonSet, appsv1.DaemonSetList](apps, "DaemonSet", "daemonsets", withStatus),
		testKind[appsv1.ControllerRevision, appsv1.ControllerRevisionList](apps, "ControllerRevision", "controllerrevisions"),
		testKind[batchv1.Job, batchv1.JobList](batchv1.SchemeGroupVersion, "Job", "jobs", withStatus),
		testKind[batchv1.CronJob, batchv1.CronJobList](batchv1.SchemeGroupVersion, "CronJob", "cronjobs", withStatus),
		testKind[autoscalingv1.HorizontalPodAutoscaler, autoscalingv1.HorizontalPodAutoscalerList](autoscalingv1.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", withStatus),
		testKind[autoscalingv2.HorizontalPodAutoscaler, autoscalingv2.HorizontalPodAutoscalerList](autoscalingv2.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", withStatus),
		testKind[networkingv1.Ingress, networkingv1.IngressList](networkingv1.SchemeGroupVersion, "Ingress", "ingresses", withStatus),
		testKind[networkingv1.IngressClass, networkingv1.IngressClassList](networkingv1.SchemeGroupVersion, "IngressClass", "ingressclasses", cluster),
		testKind[networkingv1.NetworkPolicy, networkingv1.NetworkPolicyList](networkingv1.SchemeGroupVersion, "NetworkPolicy", "networkpolicies"),
		testKind[rbacv1.Role, rbacv1.RoleList](rbacv1.SchemeGroupVersion, "Role", "roles"),
		testKind[rbacv1.RoleBinding, rbacv1.RoleBindingList](rbacv1.SchemeGroupVersion, "RoleBinding", "rolebindings"),
		testKind[rbacv1.ClusterRole, rbacv1.ClusterRoleList](rbacv1.SchemeGroupVersion, "ClusterRole", "clusterroles", cluster),
		testKind[rbacv1.ClusterRoleBinding, rbacv1.ClusterRoleBindingList](rbacv1.SchemeGroupVersion, "ClusterRoleBinding", "clusterrolebindings", cluster),
		testKind[storagev1.StorageClass, storagev1.StorageClassList](storagev1.SchemeGroupVersion, "StorageClass", "storageclasses", cluster),
		testKind[storagev1.CSIDriver, storagev1.CSIDriverList](storagev1.SchemeGroupVersion, "CSIDriver", "csidrivers", cluster),
		testKind[coordinationv1.Lease, coordinationv1.LeaseList](coordinationv1.SchemeGroupVersion, "Lease", "leases"),
		testKind[schedulingv1.PriorityClass, schedulingv1.PriorityClassList](schedulingv1.SchemeGroupVersion, "PriorityClass", "priorityclasses", cluster),
		testKind[policyv1.PodDisruptionBudget, policyv1.PodDisruptionBudgetList](policyv1.SchemeGroupVersion, "PodDisruptionBudget", "poddisruptionbudgets", withStatus),
		testKind[discoveryv1.EndpointSlice, discoveryv1.EndpointSliceList](discoveryv1.SchemeGroupVersion, "EndpointSlice", "endpointslices"),
		testKind[eventsv1.Event, eventsv1.EventList](eventsv1.SchemeGroupVersion, "Event", "events"),
		testKind[nodev1.RuntimeClass, nodev1.RuntimeClassList](nodev1.SchemeGroupVersion, "RuntimeClass", "runtimeclasses", cluster),
		testKind[certificatesv1.CertificateSigningRequest, certificatesv1.CertificateSigningRequestList](certificatesv1.SchemeGroupVersion, "CertificateSigningRequest", "certificatesigningrequests", withStatus, cluster),
		testKind[admissionregistrationv1.ValidatingWebhookConfiguration, admissionregistrationv1.ValidatingWebhookConfigurationList](admissionregistrationv1.SchemeGroupVersion, "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", cluster),
		testKind[flowcontrolv1.FlowSchema, flowcontrolv1.FlowSchemaList](flowcontrolv1.SchemeGroupVersion, "FlowSchema", "flowschemas", withStatus, cluster),
	}
}
