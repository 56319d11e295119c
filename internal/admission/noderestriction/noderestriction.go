// Package noderestriction owns NodeRestriction admission: the checks on a
// node agent's writes that need the object itself, which the Node
// authorizer cannot see. A node (system:node:NAME in system:nodes) may
// create, change and delete only its own Node, without touching its
// taints or the labels reserved to administrators; update the status of,
// delete and evict only pods bound to it; create only mirror pods bound
// to it that use no Secrets, ConfigMaps, claims or service accounts;
// request tokens only bound to its own pods; and hold only its own lease.
// Other users pass. Refusals are Forbidden errors with Kubernetes' text.
package noderestriction

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/bosun-sh/bosun/internal/auth/node"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Attributes describe one write as admission sees it.
type Attributes struct {
	User user.Info
	// Verb is the API verb: create; update or patch; delete or
	// deletecollection (asked once per object deleted). Any other verb
	// passes.
	Verb        string
	Resource    schema.GroupResource
	Subresource string
	Namespace   string
	// Name is the object's name from the request path; for a create it
	// may be empty, and the name is then taken from Object.
	Name string
	// Object is the object as it would be stored (after defaulting and,
	// for a subresource, after the fields the subresource cannot change
	// were copied from the stored object): the Node, the Pod, the Lease.
	// For an eviction it is the Eviction, for a token request the
	// TokenRequest. Nil for a delete.
	Object runtime.Object
	// OldObject is the stored object for an update and for a delete.
	// For a delete or an eviction of a pod it may be nil; the pod is then
	// looked up.
	OldObject runtime.Object
}

// Getter reads the objects a decision depends on that the request does
// not carry: the pod a token or an eviction is for, the node a mirror
// pod's owner reference names. An error for which apierrors.IsNotFound
// holds means the object does not exist; Admit returns it as it is.
type Getter interface {
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// Plugin is NodeRestriction admission.
type Plugin struct {
	get Getter
}

// New returns the plugin reading pods and nodes through g.
func New(g Getter) *Plugin { return &Plugin{get: g} }

// Listers returns a Getter over f's pod and node listers. The caller
// starts f and waits for it to sync; a pod bound a moment ago may not be
// there yet, which refuses (never wrongly admits) the node's request.
func Listers(f informers.SharedInformerFactory) Getter {
	return listers{f.Core().V1().Pods().Lister(), f.Core().V1().Nodes().Lister()}
}

type listers struct {
	pods  corelisters.PodLister
	nodes corelisters.NodeLister
}

func (l listers) Pod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	return l.pods.Pods(namespace).Get(name)
}

func (l listers) Node(_ context.Context, name string) (*corev1.Node, error) {
	return l.nodes.Get(name)
}

type operation string

const (
	opCreate operation = "CREATE"
	opUpdate operation = "UPDATE"
	opDelete operation = "DELETE"
)

func operationOf(verb string) (operation, bool) {
	switch verb {
	case "create":
		return opCreate, true
	case "update", "patch":
		return opUpdate, true
	case "delete", "deletecollection":
		return opDelete, true
	}
	return "", false
}

var (
	podsResource     = corev1.Resource("pods")
	nodesResource    = corev1.Resource("nodes")
	pvcsResource     = corev1.Resource("persistentvolumeclaims")
	accountsResource = corev1.Resource("serviceaccounts")
	leasesResource   = coordinationv1.Resource("leases")
	csiNodesResource = storagev1.Resource("csinodes")
)

// request is one node's write under judgement.
type request struct {
	*Attributes
	node string
	op   operation
}

// forbidden is Kubernetes' refusal: `RESOURCE "NAME" is forbidden: why`.
func (r *request) forbidden(format string, args ...any) error {
	return apierrors.NewForbidden(r.Resource, r.name(), fmt.Errorf(format, args...))
}

// name is the request's object name, from the path or else the object.
func (r *request) name() string {
	if r.Name != "" {
		return r.Name
	}
	if r.Object != nil {
		if m, err := meta.Accessor(r.Object); err == nil {
			return m.GetName()
		}
	}
	return ""
}

// Admit returns nil when a may proceed. A refusal is an
// *apierrors.StatusError: Forbidden with Kubernetes' message, or the
// Getter's NotFound error when the pod or node a check needs is gone.
func (p *Plugin) Admit(ctx context.Context, a Attributes) error {
	nodeName, isNode := node.Identity(a.User)
	if !isNode {
		return nil
	}
	op, ok := operationOf(a.Verb)
	if !ok {
		return nil
	}
	r := &request{Attributes: &a, node: nodeName, op: op}
	if nodeName == "" {
		return r.forbidden("could not determine node from user %q", a.User.Name)
	}
	switch a.Resource {
	case podsResource:
		switch a.Subresource {
		case "":
			return p.admitPod(ctx, r)
		case "status":
			return admitPodStatus(r)
		case "eviction":
			return p.admitEviction(ctx, r)
		default:
			return r.forbidden("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.Subresource)
		}
	case nodesResource:
		return admitNode(r)
	case pvcsResource:
		if a.Subresource != "status" {
			return r.forbidden("may only update PVC status")
		}
		return admitClaimStatus(r)
	case accountsResource:
		return p.admitToken(ctx, r)
	case leasesResource:
		return admitLease(r)
	case csiNodesResource:
		if r.name() != nodeName {
			return r.forbidden("can only access CSINode with the same name as the requesting node")
		}
	}
	return nil
}

// admitPod lets a node create its mirror pods and delete pods bound to it.
func (p *Plugin) admitPod(ctx context.Context, r *request) error {
	switch r.op {
	case opCreate:
		return p.admitMirrorPod(ctx, r)
	case opDelete:
		pod, err := p.storedPod(ctx, r, r.Name)
		if err != nil {
			return err
		}
		if pod.Spec.NodeName != r.node {
			return r.forbidden("node %q can only delete pods with spec.nodeName set to itself", r.node)
		}
		return nil
	}
	return r.forbidden("unexpected operation %q, node %q can only create and delete mirror pods", r.op, r.node)
}

// storedPod is the pod the request is about: the caller's old object when
// it passed one, else the Getter's.
func (p *Plugin) storedPod(ctx context.Context, r *request, name string) (*corev1.Pod, error) {
	if pod, ok := r.OldObject.(*corev1.Pod); ok && pod != nil {
		return pod, nil
	}
	pod, err := p.get.Pod(ctx, r.Namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, err
	}
	if err != nil {
		return nil, apierrors.NewForbidden(r.Resource, r.name(), err)
	}
	return pod, nil
}

// admitMirrorPod admits the API copy of one of the node's static pods: it
// must say it is a mirror pod, be bound to the node and owned by its Node
// object, and use nothing the node could not read without it — creating a
// pod must never widen what the Node authorizer grants.
func (p *Plugin) admitMirrorPod(ctx context.Context, r *request) error {
	pod, ok := r.Object.(*corev1.Pod)
	if !ok {
		return r.forbidden("unexpected type %T", r.Object)
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return r.forbidden("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, r.node)
	}
	if pod.Spec.NodeName != r.node {
		return r.forbidden("node %q can only create pods with spec.nodeName set to itself", r.node)
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return r.forbidden("node %q can only create pods with an owner reference set to itself", r.node)
	case 1:
	default:
		return r.forbidden("node %q can only create pods with a single owner reference set to itself", r.node)
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != corev1.SchemeGroupVersion.String() || owner.Kind != "Node" || owner.Name != r.node {
		return r.forbidden("node %q can only create pods with an owner reference set to itself", r.node)
	}
	if owner.Controller == nil || !*owner.Controller {
		return r.forbidden("node %q can only create pods with a controller owner reference set to itself", r.node)
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return r.forbidden("node %q must not set blockOwnerDeletion on an owner reference", r.node)
	}
	n, err := p.get.Node(ctx, r.node)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return r.forbidden("error looking up node %s to verify uid: %v", r.node, err)
	}
	if owner.UID != n.UID {
		return r.forbidden("node %s UID mismatch: expected %s got %s", r.node, owner.UID, n.UID)
	}

	refs := node.PodReferences(pod)
	uses := func(resource string) bool {
		return slices.ContainsFunc(refs, func(x node.Reference) bool { return x.Resource == resource })
	}
	if uses("serviceaccounts") {
		return r.forbidden("node %q can not create pods that reference a service account", r.node)
	}
	if uses("secrets") {
		return r.forbidden("node %q can not create pods that reference secrets", r.node)
	}
	if uses("configmaps") {
		return r.forbidden("node %q can not create pods that reference configmaps", r.node)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ClusterTrustBundle != nil {
				return r.forbidden("node %q can not create pods that reference clustertrustbundles", r.node)
			}
		}
	}
	if uses("persistentvolumeclaims") {
		return r.forbidden("node %q can not create pods that reference persistentvolumeclaims", r.node)
	}
	return nil
}

// admitPodStatus lets a node report the status of pods bound to it, and
// nothing else through the status: not their labels, not which resource
// claims they hold.
func admitPodStatus(r *request) error {
	if r.op != opUpdate {
		return r.forbidden("unexpected operation %q", r.op)
	}
	old, ok := r.OldObject.(*corev1.Pod)
	if !ok {
		return r.forbidden("unexpected type %T", r.OldObject)
	}
	if old.Spec.NodeName != r.node {
		return r.forbidden("node %q can only update pod status for pods with spec.nodeName set to itself", r.node)
	}
	pod, ok := r.Object.(*corev1.Pod)
	if !ok {
		return r.forbidden("unexpected type %T", r.Object)
	}
	if !labels.Equals(old.Labels, pod.Labels) {
		return r.forbidden("node %q cannot update labels through pod status", r.node)
	}
	if !claimStatusesEqual(old.Status.ResourceClaimStatuses, pod.Status.ResourceClaimStatuses) {
		// Kubernetes' message, spelling included.
		return r.forbidden("node %q cannot update resource claim statues", r.node)
	}
	return nil
}

func claimStatusesEqual(a, b []corev1.PodResourceClaimStatus) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.PodResourceClaimStatus) bool {
		if x.Name != y.Name || (x.ResourceClaimName == nil) != (y.ResourceClaimName == nil) {
			return false
		}
		return x.ResourceClaimName == nil || *x.ResourceClaimName == *y.ResourceClaimName
	})
}

// admitEviction lets a node evict only pods bound to it. The pod is the
// one the path names, else the one the Eviction names.
func (p *Plugin) admitEviction(ctx context.Context, r *request) error {
	if r.op != opCreate {
		return r.forbidden("unexpected operation %s", r.op)
	}
	if r.Object == nil {
		return r.forbidden("unexpected type %T", r.Object)
	}
	name := r.Name
	if name == "" {
		m, err := meta.Accessor(r.Object)
		if err != nil {
			return r.forbidden("unexpected type %T", r.Object)
		}
		name = m.GetName()
	}
	if name == "" {
		return r.forbidden("could not determine pod from request data")
	}
	pod, err := p.storedPod(ctx, r, name)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName != r.node {
		return r.forbidden("node %s can only evict pods with spec.nodeName set to itself", r.node)
	}
	return nil
}

// admitNode keeps a node to its own Node object, and keeps it from
// steering workloads to itself: it may not change its taints, nor set
// labels that administrators reserve for placing privileged workloads.
func admitNode(r *request) error {
	if name := r.name(); name != r.node {
		return r.forbidden("node %q is not allowed to modify node %q", r.node, name)
	}
	switch r.op {
	case opCreate:
		n, ok := r.Object.(*corev1.Node)
		if !ok {
			return r.forbidden("unexpected type %T", r.Object)
		}
		if n.Spec.ConfigSource != nil {
			// Kubernetes' message, "pods" included.
			return r.forbidden("node %q is not allowed to create pods with a non-nil configSource", r.node)
		}
		if bad := forbiddenLabels(n.Labels, nil); len(bad) > 0 {
			return r.forbidden("node %q is not allowed to set the following labels: %s", r.node, strings.Join(bad, ", "))
		}
	case opUpdate:
		n, ok := r.Object.(*corev1.Node)
		if !ok {
			return r.forbidden("unexpected type %T", r.Object)
		}
		old, ok := r.OldObject.(*corev1.Node)
		if !ok {
			return r.forbidden("unexpected type %T", r.OldObject)
		}
		if n.Spec.ConfigSource != nil && !equality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) {
			return r.forbidden("node %q is not allowed to update configSource to a new non-nil configSource", r.node)
		}
		if !equality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return r.forbidden("node %q is not allowed to modify taints", r.node)
		}
		if bad := forbiddenLabels(n.Labels, old.Labels); len(bad) > 0 {
			return r.forbidden("is not allowed to modify labels: %s", strings.Join(bad, ", "))
		}
	}
	return nil
}

// admitClaimStatus lets a node change only a claim's capacity, conditions
// and the resizing progress it reports.
func admitClaimStatus(r *request) error {
	if r.op != opUpdate {
		return r.forbidden("unexpected operation %q", r.op)
	}
	old, ok := r.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok {
		return r.forbidden("unexpected type %T", r.OldObject)
	}
	pvc, ok := r.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return r.forbidden("unexpected type %T", r.Object)
	}
	strip := func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		c = c.DeepCopy()
		// An unconditional update leaves the version out; field
		// ownership is the server's to record.
		c.ResourceVersion = ""
		c.ManagedFields = nil
		c.Status.Capacity = nil
		c.Status.Conditions = nil
		c.Status.AllocatedResources = nil
		c.Status.AllocatedResourceStatuses = nil
		return c
	}
	if !equality.Semantic.DeepEqual(strip(old), strip(pvc)) {
		return r.forbidden("node %q is not allowed to update fields other than status.capacity and status.conditions", r.node)
	}
	return nil
}

// admitToken lets a node request a service account token only bound to a
// pod it runs, so a token never outlives the pod or leaves the node.
func (p *Plugin) admitToken(ctx context.Context, r *request) error {
	if r.op != opCreate || r.Subresource != "token" {
		return nil
	}
	tr, ok := r.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return r.forbidden("unexpected type %T", r.Object)
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return r.forbidden("node requested token not bound to a pod")
	}
	if ref.UID == "" {
		return r.forbidden("node requested token with a pod binding without a uid")
	}
	pod, err := p.get.Pod(ctx, r.Namespace, ref.Name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return apierrors.NewForbidden(r.Resource, r.name(), err)
	}
	if ref.UID != pod.UID {
		return r.forbidden("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID)
	}
	if pod.Spec.NodeName != r.node {
		return r.forbidden("node requested token bound to a pod scheduled on a different node")
	}
	return nil
}

// admitLease keeps a node to its own heartbeat lease.
func admitLease(r *request) error {
	if r.Namespace != corev1.NamespaceNodeLease {
		return r.forbidden("can only access leases in the %q system namespace", corev1.NamespaceNodeLease)
	}
	if r.name() != r.node {
		return r.forbidden("can only access node lease with the same name as the requesting node")
	}
	return nil
}
