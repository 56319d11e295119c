package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Labels and annotations of the default policy. A ClusterRole labelled
// with one of the aggregate-to labels adds its rules to admin, edit or
// view; that is how a CustomResourceDefinition's owner extends them.
const (
	BootstrappingLabel   = "kubernetes.io/bootstrapping"
	BootstrappingValue   = "rbac-defaults"
	AutoupdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"

	AggregateToAdminLabel = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEditLabel  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToViewLabel  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Identities bosun's components authenticate as; the default bindings
// grant each its role.
const (
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
	DNSUser               = "system:bosun-dns"
	ProxyUser             = "system:bosun-proxy"
)

// TLS bootstrap: the roles that let an agent holding a bootstrap token
// (group BootstrappersGroup) ask for a node client certificate and have
// it approved, and a node renew its own.
const (
	BootstrappersGroup   = "system:bootstrappers" // the group authn gives bootstrap tokens
	NodeBootstrapperRole = "system:node-bootstrapper"
	NodeClientRole       = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
	SelfNodeClientRole   = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
)

var (
	read      = []string{"get", "list", "watch"}
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

// r and paths keep each rule of the default policy on one readable line.
func r(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func paths(verbs []string, urls ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
}

func verbs(v ...string) []string { return v }

// signers is a rule on certificate signers by name, which approving and
// signing CertificateSigningRequests are checked against.
func signers(verbs []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: names}
}

func defaultMeta(name string, extraLabels ...string) metav1.ObjectMeta {
	labels := map[string]string{BootstrappingLabel: BootstrappingValue}
	for _, l := range extraLabels {
		labels[l] = "true"
	}
	return metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{AutoupdateAnnotation: "true"}}
}

func aggregated(name, label string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: defaultMeta(name),
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{label: "true"}},
		}},
	}
}

// DefaultClusterRoles returns the ClusterRoles every cluster starts with,
// new objects on each call. admin, edit and view have no rules of their
// own: the aggregation controller fills them from the
// system:aggregate-to-* roles (and any other role carrying the label).
func DefaultClusterRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		{
			ObjectMeta: defaultMeta("cluster-admin"),
			Rules: []rbacv1.PolicyRule{
				r(verbs("*"), "*", "*"),
				paths(verbs("*"), "*"),
			},
		},
		aggregated("admin", AggregateToAdminLabel),
		aggregated("edit", AggregateToEditLabel),
		aggregated("view", AggregateToViewLabel),
		{
			// What admin adds to edit: managing access within the
			// namespace it is bound in.
			ObjectMeta: defaultMeta("system:aggregate-to-admin", AggregateToAdminLabel),
			Rules: []rbacv1.PolicyRule{
				r(readWrite, rbacv1.GroupName, "roles", "rolebindings"),
				r(verbs("create"), "authorization.k8s.io", "localsubjectaccessreviews"),
			},
		},
		{
			// Changing workloads and their configuration, secrets
			// included, but not who may do what.
			ObjectMeta: defaultMeta("system:aggregate-to-edit", AggregateToAdminLabel, AggregateToEditLabel),
			Rules: []rbacv1.PolicyRule{
				r(readWrite, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
				r(verbs("create"), "", "pods/eviction"),
				r(readWrite, "", "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers",
					"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
				r(verbs("create"), "", "serviceaccounts/token"),
				r(verbs("impersonate"), "", "serviceaccounts"),
				r(readWrite, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
					"replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
				r(readWrite, "autoscaling", "horizontalpodautoscalers"),
				r(readWrite, "batch", "cronjobs", "jobs"),
				r(readWrite, "networking.k8s.io", "ingresses", "networkpolicies"),
				r(readWrite, "policy", "poddisruptionbudgets"),
				r(readWrite, "discovery.k8s.io", "endpointslices"),
			},
		},
		{
			// Reading a namespace's workloads and their status. Secrets
			// are left out: reading one is acting as whoever it
			// authenticates.
			ObjectMeta: defaultMeta("system:aggregate-to-view", AggregateToAdminLabel, AggregateToEditLabel, AggregateToViewLabel),
			Rules: []rbacv1.PolicyRule{
				r(read, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
					"pods", "pods/log", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
					"replicationcontrollers/status", "serviceaccounts", "services", "services/status"),
				r(read, "", "bindings", "events", "limitranges", "namespaces", "namespaces/status",
					"resourcequotas", "resourcequotas/status"),
				r(read, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
					"deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
					"replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"),
				r(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
				r(read, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
				r(read, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
				r(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
				r(read, "discovery.k8s.io", "endpointslices"),
				r(read, "events.k8s.io", "events"),
			},
		},
		{
			ObjectMeta: defaultMeta("system:discovery"),
			Rules: []rbacv1.PolicyRule{
				paths(verbs("get"), "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz",
					"/openapi", "/openapi/*", "/version", "/version/"),
			},
		},
		{
			ObjectMeta: defaultMeta("system:basic-user"),
			Rules: []rbacv1.PolicyRule{
				r(verbs("create"), "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
				r(verbs("create"), "authentication.k8s.io", "selfsubjectreviews"),
			},
		},
		{
			ObjectMeta: defaultMeta("system:public-info-viewer"),
			Rules: []rbacv1.PolicyRule{
				paths(verbs("get"), "/healthz", "/livez", "/readyz", "/version", "/version/"),
			},
		},
		{
			// Bound to nobody: the Node authorizer grants these rules to
			// node agents, narrowing reads of Secrets, ConfigMaps and
			// volumes to those of each node's own pods.
			ObjectMeta: defaultMeta("system:node"),
			Rules:      NodeRules(),
		},
		{
			ObjectMeta: defaultMeta("system:kube-scheduler"),
			Rules: []rbacv1.PolicyRule{
				r(verbs("create", "patch", "update"), "", "events"),
				r(verbs("create", "patch", "update"), "events.k8s.io", "events"),
				r(verbs("create"), "coordination.k8s.io", "leases"),
				r(verbs("get", "update"), "coordination.k8s.io", "leases"),
				r(read, "", "nodes", "namespaces", "services", "replicationcontrollers",
					"persistentvolumeclaims", "persistentvolumes"),
				r(verbs("get", "list", "watch", "delete"), "", "pods"),
				r(verbs("create"), "", "pods/binding", "bindings"),
				r(verbs("patch", "update"), "", "pods/status"),
				r(read, "apps", "replicasets", "statefulsets"),
				r(read, "policy", "poddisruptionbudgets"),
				r(read, "storage.k8s.io", "storageclasses", "csinodes", "csidrivers", "csistoragecapacities"),
			},
		},
		{
			// One identity for every built-in control loop. The
			// garbage collector and the namespace controller act on
			// objects of any kind, hence the wildcards for reading,
			// changing and deleting; creation is listed kind by kind.
			ObjectMeta: defaultMeta("system:kube-controller-manager"),
			Rules: []rbacv1.PolicyRule{
				r(verbs("get", "list", "watch", "patch", "update", "delete", "deletecollection"), "*", "*"),
				r(verbs("create"), "", "pods", "events", "endpoints", "serviceaccounts", "persistentvolumeclaims", "configmaps",
					"pods/eviction", "pods/binding"),
				r(verbs("create"), "events.k8s.io", "events"),
				r(verbs("create"), "apps", "controllerrevisions", "replicasets"),
				r(verbs("create"), "batch", "jobs"),
				r(verbs("create"), "discovery.k8s.io", "endpointslices"),
				r(verbs("create"), "coordination.k8s.io", "leases"),
				r(verbs("create"), "authentication.k8s.io", "tokenreviews"),
				r(verbs("create"), "authorization.k8s.io", "subjectaccessreviews"),
				// Aggregation writes rules into admin, edit and view
				// that this role itself does not hold.
				r(verbs("escalate"), rbacv1.GroupName, "clusterroles"),
				// Approving node client certificates and signing for
				// the kubernetes.io signers.
				r(verbs("update"), "certificates.k8s.io", "certificatesigningrequests/approval", "certificatesigningrequests/status"),
				signers(verbs("approve"), "kubernetes.io/kube-apiserver-client-kubelet"),
				signers(verbs("sign"), "kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving"),
			},
		},
		{
			// What an agent needs to ask for its first client
			// certificate with a bootstrap token.
			ObjectMeta: defaultMeta(NodeBootstrapperRole),
			Rules: []rbacv1.PolicyRule{
				r(verbs("create", "get", "list", "watch"), "certificates.k8s.io", "certificatesigningrequests"),
			},
		},
		{
			// Held by whoever may have any node's client certificate
			// request approved without a person: the certificates
			// controller asks about it for the requester.
			ObjectMeta: defaultMeta(NodeClientRole),
			Rules:      []rbacv1.PolicyRule{r(verbs("create"), "certificates.k8s.io", "certificatesigningrequests/nodeclient")},
		},
		{
			// Likewise for a node renewing its own certificate.
			ObjectMeta: defaultMeta(SelfNodeClientRole),
			Rules:      []rbacv1.PolicyRule{r(verbs("create"), "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")},
		},
		{
			ObjectMeta: defaultMeta("system:bosun-dns"),
			Rules: []rbacv1.PolicyRule{
				r(read, "", "services", "pods", "namespaces"),
				r(read, "discovery.k8s.io", "endpointslices"),
			},
		},
		{
			// The service proxy and the ingress proxy of a node agent.
			ObjectMeta: defaultMeta("system:bosun-proxy"),
			Rules: []rbacv1.PolicyRule{
				r(read, "", "services", "endpoints", "nodes"),
				r(read, "discovery.k8s.io", "endpointslices"),
				r(read, "networking.k8s.io", "ingresses", "ingressclasses"),
				r(verbs("update", "patch"), "networking.k8s.io", "ingresses/status"),
				r(verbs("create", "patch", "update"), "", "events"),
				r(verbs("create", "patch", "update"), "events.k8s.io", "events"),
			},
		},
	}
}

// NodeRules returns the rules of the system:node role, new on each call:
// what a node agent (kubelet, proxy) needs from the API, as Kubernetes
// grants its kubelets. Several are wider than a node should have and are
// narrowed elsewhere: the Node authorizer limits Secrets, ConfigMaps,
// claims, volumes, tokens, leases and the Node itself to what the node's
// own pods use; NodeRestriction admission limits pod, Node and lease
// writes to the node's own.
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Checking who calls the agent's own API, and what they may do.
		r(verbs("create"), "authentication.k8s.io", "tokenreviews"),
		r(verbs("create"), "authorization.k8s.io", "subjectaccessreviews", "localsubjectaccessreviews"),
		// Service environment variables in containers.
		r(read, "", "services"),
		r(verbs("create", "get", "list", "watch"), "", "nodes"),
		r(verbs("update", "patch"), "", "nodes/status"),
		r(verbs("update", "patch"), "", "nodes"),
		r(verbs("create", "update", "patch"), "", "events"),
		r(read, "", "pods"),
		// Mirror pods, and finishing the deletion of pods it stopped.
		r(verbs("create", "delete"), "", "pods"),
		r(verbs("update", "patch"), "", "pods/status"),
		r(verbs("create"), "", "pods/eviction"),
		r(read, "", "secrets", "configmaps"),
		r(verbs("get"), "", "persistentvolumeclaims", "persistentvolumes"),
		r(verbs("get"), "", "endpoints"),
		// Renewing its own client certificate.
		r(verbs("create", "get", "list", "watch"), "certificates.k8s.io", "certificatesigningrequests"),
		r(verbs("get", "create", "update", "patch", "delete"), "coordination.k8s.io", "leases"),
		r(verbs("get"), "storage.k8s.io", "volumeattachments"),
		r(verbs("create"), "", "serviceaccounts/token"),
		r(verbs("get", "update", "patch"), "", "persistentvolumeclaims/status"),
		r(read, "storage.k8s.io", "csidrivers"),
		r(verbs("get", "create", "update", "patch", "delete"), "storage.k8s.io", "csinodes"),
		r(read, "node.k8s.io", "runtimeclasses"),
	}
}

func defaultBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: defaultMeta(name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func groups(names ...string) []rbacv1.Subject {
	s := make([]rbacv1.Subject, len(names))
	for i, n := range names {
		s[i] = rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: n}
	}
	return s
}

func users(names ...string) []rbacv1.Subject {
	s := make([]rbacv1.Subject, len(names))
	for i, n := range names {
		s[i] = rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: n}
	}
	return s
}

// DefaultClusterRoleBindings returns the bindings every cluster starts
// with, new objects on each call. admin, edit and view are bound by
// nobody: an administrator grants them per namespace with RoleBindings.
func DefaultClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		defaultBinding("cluster-admin", "cluster-admin", groups(user.SystemPrivilegedGroup)...),
		defaultBinding("system:discovery", "system:discovery", groups(user.AllAuthenticated)...),
		defaultBinding("system:basic-user", "system:basic-user", groups(user.AllAuthenticated)...),
		defaultBinding("system:public-info-viewer", "system:public-info-viewer", groups(user.AllAuthenticated, user.AllUnauthenticated)...),
		// No subjects: binding system:nodes here would let every agent
		// read every Secret, past the Node authorizer. The binding exists
		// so that an administrator can still grant the role by hand.
		defaultBinding("system:node", "system:node"),
		defaultBinding("system:kube-scheduler", "system:kube-scheduler", users(SchedulerUser)...),
		defaultBinding("system:kube-controller-manager", "system:kube-controller-manager", users(ControllerManagerUser)...),
		defaultBinding("system:bosun-dns", "system:bosun-dns", users(DNSUser)...),
		defaultBinding(NodeBootstrapperRole, NodeBootstrapperRole, groups(BootstrappersGroup)...),
		defaultBinding(NodeClientRole, NodeClientRole, groups(BootstrappersGroup)...),
		defaultBinding(SelfNodeClientRole, SelfNodeClientRole, groups(user.NodesGroup)...),
		// The proxies run inside every node agent, under its identity.
		defaultBinding("system:bosun-proxy", "system:bosun-proxy", append(users(ProxyUser), groups(user.NodesGroup)...)...),
	}
}
