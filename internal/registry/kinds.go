package registry

// Kinds returns every kind the API server serves, in discovery order.
func Kinds() []*Kind {
	return []*Kind{
		namespaces(),
		pods(),
		services(),
		endpoints(),
		configMaps(),
		secrets(),
		serviceAccounts(),
		nodes(),
		events(),
		persistentVolumes(),
		persistentVolumeClaims(),
		resourceQuotas(),
		limitRanges(),
		// Non-core groups.
		deployments(),
		replicaSets(),
		statefulSets(),
		daemonSets(),
		controllerRevisions(),
		jobs(),
		cronJobs(),
		ingresses(),
		ingressClasses(),
		networkPolicies(),
		endpointSlices(),
		leases(),
		horizontalPodAutoscalersV2(),
		horizontalPodAutoscalersV1(),
		roles(),
		roleBindings(),
		clusterRoles(),
		clusterRoleBindings(),
		storageClasses(),
		podDisruptionBudgets(),
		priorityClasses(),
		eventsV1(),
	}
}
