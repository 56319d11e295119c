package noderestriction

import (
	"context"
	"errors"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

var (
	n1    = user.Info{Name: "system:node:n1", Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	alice = user.Info{Name: "alice", Groups: []string{user.AllAuthenticated}}
	yes   = true
)

func boundPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// mirrorPod is a static pod's API copy as a well-behaved agent posts it.
func mirrorPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := boundPod("static-n1", "n1")
	p.UID = ""
	p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "uid-n1", Controller: &yes}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func nodeObj(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func claim(capacity string, mutate ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "data", ResourceVersion: "7"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}},
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

func tokenFor(name, uid string) *authenticationv1.TokenRequest {
	tr := &authenticationv1.TokenRequest{}
	if name != "" {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}
	}
	return tr
}

func lease(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: name}}
}

func TestAdmit(t *testing.T) {
	objs := []runtime.Object{nodeObj("n1", nil), nodeObj("n2", nil), boundPod("web", "n1"), boundPod("db", "n2")}
	f := informers.NewSharedInformerFactory(fake.NewSimpleClientset(objs...), 0)
	p := New(Listers(f))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}

	pods := corev1.Resource("pods")
	nodes := corev1.Resource("nodes")
	pvcs := corev1.Resource("persistentvolumeclaims")
	leases := coordinationv1.Resource("leases")
	relabelled := boundPod("web", "n1")
	relabelled.Labels["app"] = "other"
	claimed := boundPod("web", "n1")
	claimed.Status.ResourceClaimStatuses = []corev1.PodResourceClaimStatus{{Name: "gpu"}}

	cases := []struct {
		name string
		a    Attributes
		// want is what follows "is forbidden: " in the error; empty
		// means admitted.
		want     string
		notFound bool
	}{
		{"other users pass", Attributes{User: alice, Verb: "create", Resource: pods, Namespace: "team", Object: boundPod("x", "n2")}, "", false},
		{"reads pass", Attributes{User: n1, Verb: "get", Resource: nodes, Name: "n2"}, "", false},
		{"a node without a name", Attributes{User: user.Info{Name: "system:node:", Groups: []string{user.NodesGroup}}, Verb: "update", Resource: nodes, Name: "n1"}, `could not determine node from user "system:node:"`, false},

		// Mirror pods.
		{"mirror pod", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod()}, "", false},
		{"ordinary pod", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: boundPod("x", "n1")},
			`pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods`, false},
		{"mirror pod on another node", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.Spec.NodeName = "n2" })},
			`node "n1" can only create pods with spec.nodeName set to itself`, false},
		{"mirror pod without owner", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences = nil })},
			`node "n1" can only create pods with an owner reference set to itself`, false},
		{"mirror pod with two owners", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences = append(p.OwnerReferences, p.OwnerReferences[0]) })},
			`node "n1" can only create pods with a single owner reference set to itself`, false},
		{"mirror pod owned by another node", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences[0].Name = "n2" })},
			`node "n1" can only create pods with an owner reference set to itself`, false},
		{"mirror pod owner not controller", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil })},
			`node "n1" can only create pods with a controller owner reference set to itself`, false},
		{"mirror pod blocking owner deletion", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences[0].BlockOwnerDeletion = &yes })},
			`node "n1" must not set blockOwnerDeletion on an owner reference`, false},
		{"mirror pod owned by an old node", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.OwnerReferences[0].UID = "gone" })},
			`node n1 UID mismatch: expected gone got uid-n1`, false},
		{"mirror pod with a service account", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" })},
			`node "n1" can not create pods that reference a service account`, false},
		{"mirror pod with a secret", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		})}, `node "n1" can not create pods that reference secrets`, false},
		{"mirror pod with a configmap", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}}
		})}, `node "n1" can not create pods that reference configmaps`, false},
		{"mirror pod with a trust bundle", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) {
			name := "b"
			p.Spec.Volumes = []corev1.Volume{{Name: "b", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: &name, Path: "b"}}}}}}}
		})}, `node "n1" can not create pods that reference clustertrustbundles`, false},
		{"mirror pod with a claim", Attributes{User: n1, Verb: "create", Resource: pods, Namespace: "team", Object: mirrorPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}}}
		})}, `node "n1" can not create pods that reference persistentvolumeclaims`, false},

		// Deleting and changing pods.
		{"delete own pod", Attributes{User: n1, Verb: "delete", Resource: pods, Namespace: "team", Name: "web"}, "", false},
		{"delete own pod, stored object given", Attributes{User: n1, Verb: "delete", Resource: pods, Namespace: "team", Name: "new", OldObject: boundPod("new", "n1")}, "", false},
		{"delete another node's pod", Attributes{User: n1, Verb: "delete", Resource: pods, Namespace: "team", Name: "db"}, `node "n1" can only delete pods with spec.nodeName set to itself`, false},
		{"delete another node's pod in a collection", Attributes{User: n1, Verb: "deletecollection", Resource: pods, Namespace: "team", Name: "db"}, `node "n1" can only delete pods with spec.nodeName set to itself`, false},
		{"delete a missing pod", Attributes{User: n1, Verb: "delete", Resource: pods, Namespace: "team", Name: "gone"}, "", true},
		{"update a pod", Attributes{User: n1, Verb: "patch", Resource: pods, Namespace: "team", Name: "web", Object: boundPod("web", "n1"), OldObject: boundPod("web", "n1")},
			`unexpected operation "UPDATE", node "n1" can only create and delete mirror pods`, false},
		{"exec", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "exec", Namespace: "team", Name: "web"},
			`unexpected pod subresource "exec", only 'status' and 'eviction' are allowed`, false},

		// Pod status.
		{"own pod status", Attributes{User: n1, Verb: "patch", Resource: pods, Subresource: "status", Namespace: "team", Name: "web", Object: boundPod("web", "n1"), OldObject: boundPod("web", "n1")}, "", false},
		{"another node's pod status", Attributes{User: n1, Verb: "update", Resource: pods, Subresource: "status", Namespace: "team", Name: "db", Object: boundPod("db", "n2"), OldObject: boundPod("db", "n2")},
			`node "n1" can only update pod status for pods with spec.nodeName set to itself`, false},
		{"labels through status", Attributes{User: n1, Verb: "update", Resource: pods, Subresource: "status", Namespace: "team", Name: "web", Object: relabelled, OldObject: boundPod("web", "n1")},
			`node "n1" cannot update labels through pod status`, false},
		{"claims through status", Attributes{User: n1, Verb: "update", Resource: pods, Subresource: "status", Namespace: "team", Name: "web", Object: claimed, OldObject: boundPod("web", "n1")},
			`node "n1" cannot update resource claim statues`, false},

		// Evictions.
		{"evict own pod", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "eviction", Namespace: "team", Name: "web", Object: &policyv1.Eviction{}}, "", false},
		{"evict another node's pod", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "eviction", Namespace: "team", Name: "db", Object: &policyv1.Eviction{}},
			`node n1 can only evict pods with spec.nodeName set to itself`, false},
		{"evict by the Eviction's name", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "eviction", Namespace: "team", Object: &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "db"}}},
			`node n1 can only evict pods with spec.nodeName set to itself`, false},
		{"evict nothing named", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "eviction", Namespace: "team", Object: &policyv1.Eviction{}},
			`could not determine pod from request data`, false},
		{"evict a missing pod", Attributes{User: n1, Verb: "create", Resource: pods, Subresource: "eviction", Namespace: "team", Name: "gone", Object: &policyv1.Eviction{}}, "", true},

		// Nodes.
		{"register", Attributes{User: n1, Verb: "create", Resource: nodes, Object: nodeObj("n1", map[string]string{
			corev1.LabelHostname: "n1", corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", corev1.LabelTopologyZone: "z",
			corev1.LabelInstanceTypeStable: "big", "kubelet.kubernetes.io/x": "y", "sub.node.kubernetes.io/x": "y", "example.com/team": "a", "plain": "x",
		}, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})}, "", false},
		{"register another node", Attributes{User: n1, Verb: "create", Resource: nodes, Object: nodeObj("n2", nil)}, `node "n1" is not allowed to modify node "n2"`, false},
		{"register with reserved labels", Attributes{User: n1, Verb: "create", Resource: nodes, Object: nodeObj("n1", map[string]string{
			"node-restriction.kubernetes.io/pci": "true", "node-role.kubernetes.io/control-plane": "", "foo.k8s.io/x": "y", corev1.LabelHostname: "n1",
		})}, `node "n1" is not allowed to set the following labels: foo.k8s.io/x, node-restriction.kubernetes.io/pci, node-role.kubernetes.io/control-plane`, false},
		{"register with a config source", Attributes{User: n1, Verb: "create", Resource: nodes, Object: func() *corev1.Node {
			n := nodeObj("n1", nil)
			n.Spec.ConfigSource = &corev1.NodeConfigSource{}
			return n
		}()}, `node "n1" is not allowed to create pods with a non-nil configSource`, false},
		{"relabel itself within bounds", Attributes{User: n1, Verb: "update", Resource: nodes, Name: "n1",
			Object:    nodeObj("n1", map[string]string{corev1.LabelTopologyZone: "b", "node-restriction.kubernetes.io/pci": "true"}),
			OldObject: nodeObj("n1", map[string]string{corev1.LabelTopologyZone: "a", "node-restriction.kubernetes.io/pci": "true"})}, "", false},
		{"drop a reserved label", Attributes{User: n1, Verb: "patch", Resource: nodes, Name: "n1",
			Object: nodeObj("n1", nil), OldObject: nodeObj("n1", map[string]string{"node-restriction.kubernetes.io/pci": "true"})},
			`is not allowed to modify labels: node-restriction.kubernetes.io/pci`, false},
		{"untaint itself", Attributes{User: n1, Verb: "update", Resource: nodes, Name: "n1",
			Object: nodeObj("n1", nil), OldObject: nodeObj("n1", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})},
			`node "n1" is not allowed to modify taints`, false},
		{"another node's status", Attributes{User: n1, Verb: "update", Resource: nodes, Subresource: "status", Name: "n2", Object: nodeObj("n2", nil), OldObject: nodeObj("n2", nil)},
			`node "n1" is not allowed to modify node "n2"`, false},
		{"delete itself", Attributes{User: n1, Verb: "delete", Resource: nodes, Name: "n1"}, "", false},
		{"delete another node", Attributes{User: n1, Verb: "delete", Resource: nodes, Name: "n2"}, `node "n1" is not allowed to modify node "n2"`, false},

		// Claims.
		{"claim capacity", Attributes{User: n1, Verb: "patch", Resource: pvcs, Subresource: "status", Namespace: "team", Name: "data",
			Object: claim("2Gi", func(c *corev1.PersistentVolumeClaim) { c.ResourceVersion = "" }), OldObject: claim("1Gi")}, "", false},
		{"claim labels", Attributes{User: n1, Verb: "patch", Resource: pvcs, Subresource: "status", Namespace: "team", Name: "data",
			Object: claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"a": "b"} }), OldObject: claim("1Gi")},
			`node "n1" is not allowed to update fields other than status.capacity and status.conditions`, false},
		{"claim spec", Attributes{User: n1, Verb: "update", Resource: pvcs, Namespace: "team", Name: "data", Object: claim("1Gi"), OldObject: claim("1Gi")},
			`may only update PVC status`, false},

		// Tokens.
		{"token for own pod", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("web", "uid-web")}, "", false},
		{"unbound token", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("", "")},
			`node requested token not bound to a pod`, false},
		{"token without uid", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("web", "")},
			`node requested token with a pod binding without a uid`, false},
		{"token for a recreated pod", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("web", "old")},
			`the UID in the bound object reference (old) does not match the UID in record. The object might have been deleted and then recreated`, false},
		{"token for another node's pod", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("db", "uid-db")},
			`node requested token bound to a pod scheduled on a different node`, false},
		{"token for a missing pod", Attributes{User: n1, Verb: "create", Resource: corev1.Resource("serviceaccounts"), Subresource: "token", Namespace: "team", Name: "default", Object: tokenFor("gone", "x")}, "", true},

		// Leases and CSINodes.
		{"create own lease", Attributes{User: n1, Verb: "create", Resource: leases, Namespace: corev1.NamespaceNodeLease, Object: lease("n1")}, "", false},
		{"renew own lease", Attributes{User: n1, Verb: "update", Resource: leases, Namespace: corev1.NamespaceNodeLease, Name: "n1", Object: lease("n1"), OldObject: lease("n1")}, "", false},
		{"create another's lease", Attributes{User: n1, Verb: "create", Resource: leases, Namespace: corev1.NamespaceNodeLease, Object: lease("n2")},
			`can only access node lease with the same name as the requesting node`, false},
		{"lease elsewhere", Attributes{User: n1, Verb: "delete", Resource: leases, Namespace: "kube-system", Name: "n1"},
			`can only access leases in the "kube-node-lease" system namespace`, false},
		{"another CSINode", Attributes{User: n1, Verb: "update", Resource: storagev1.Resource("csinodes"), Name: "n2"},
			`can only access CSINode with the same name as the requesting node`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Admit(context.Background(), tc.a)
			switch {
			case tc.notFound:
				if !apierrors.IsNotFound(err) {
					t.Fatalf("got %v, want NotFound", err)
				}
			case tc.want == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			default:
				if !apierrors.IsForbidden(err) {
					t.Fatalf("got %v, want Forbidden", err)
				}
				if !strings.HasSuffix(err.Error(), " is forbidden: "+tc.want) {
					t.Fatalf("message %q, want it to end %q", err.Error(), "is forbidden: "+tc.want)
				}
			}
		})
	}
}

// TestForbiddenMessage pins the whole text kubectl prints.
func TestForbiddenMessage(t *testing.T) {
	p := New(Listers(informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)))
	err := p.Admit(context.Background(), Attributes{User: n1, Verb: "create", Resource: corev1.Resource("nodes"), Object: nodeObj("n2", nil)})
	want := `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsForbidden(err) || se.ErrStatus.Details.Kind != "nodes" || se.ErrStatus.Details.Name != "n2" {
		t.Fatalf("status %+v", se)
	}
}
