// Package node owns the Node authorizer: what a node agent, authenticated
// as system:node:NAME in group system:nodes, may do. It grants reading a
// Secret, ConfigMap, PersistentVolumeClaim or PersistentVolume only when a
// pod bound to that node uses it, tokens only for the service accounts of
// such pods, its own Node and its own lease; everything else a node needs
// (watching pods and services, posting events, creating mirror pods) it
// grants from the static system:node rules, leaving to NodeRestriction
// admission the checks that need the request's object. It never denies:
// a request it does not grant gets no opinion, with the reason.
package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Identity returns the node a user acts for: NAME for a user named
// system:node:NAME in group system:nodes. ok is false for anyone else.
// A user in the group named exactly system:node: is a node with an empty
// name, which nothing is granted to.
func Identity(u user.Info) (name string, ok bool) {
	name, ok = strings.CutPrefix(u.Name, user.NodeUserPrefix)
	if !ok || !slices.Contains(u.Groups, user.NodesGroup) {
		return "", false
	}
	return name, true
}

// Authorizer decides on node agents' requests from an index of which
// objects the pods bound to each node use, kept current from pod and
// persistent volume informers.
type Authorizer struct {
	idx   *index
	rules []rbacv1.PolicyRule
}

var (
	_ authorizer.Authorizer   = (*Authorizer)(nil)
	_ authorizer.RuleResolver = (*Authorizer)(nil)
)

// ErrNoRuleList is returned by RulesFor for a node: what a node may read
// depends on its pods, object by object, which no list of rules says.
var ErrNoRuleList = errors.New("node authorizer does not support user rule resolution")

// New returns an authorizer fed by f's pod and persistent volume
// informers. The caller starts f; until HasSynced the authorizer may miss
// relationships and so refuse (never wrongly grant) a node's reads.
func New(f informers.SharedInformerFactory) *Authorizer {
	x := newIndex()
	x.watch(f.Core().V1().Pods().Informer(), f.Core().V1().PersistentVolumes().Informer())
	return &Authorizer{idx: x, rules: rbac.NodeRules()}
}

// HasSynced reports whether the index has seen the informers' initial lists.
func (z *Authorizer) HasSynced() bool { return z.idx.hasSynced() }

// RulesFor lists no rules: for a node it says the list is incomplete,
// with ErrNoRuleList; for anyone else it has nothing to add.
func (z *Authorizer) RulesFor(_ context.Context, u user.Info, _ string) ([]rbacv1.PolicyRule, []rbacv1.PolicyRule, bool, error) {
	if _, ok := Identity(u); ok {
		return nil, nil, true, ErrNoRuleList
	}
	return nil, nil, false, nil
}

// Authorize allows a node's request when it touches an object related to
// that node, or (for kinds not tracked per object) when the system:node
// rules allow it. Users that are not nodes get no opinion and no reason;
// refused node requests get no opinion and the reason. The error is
// always nil.
func (z *Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	node, ok := Identity(a.User)
	if !ok {
		return authorizer.NoOpinion, "", nil
	}
	if node == "" {
		return authorizer.NoOpinion, fmt.Sprintf("unknown node for user %q", a.User.Name), nil
	}
	if a.ResourceRequest {
		switch a.APIGroup {
		case corev1.GroupName:
			switch a.Resource {
			case "secrets":
				return z.read(node, kindSecret, &a)
			case "configmaps":
				return z.read(node, kindConfigMap, &a)
			case "persistentvolumeclaims":
				if a.Subresource == "status" {
					return z.updateStatus(node, &a)
				}
				return z.get(node, &a, func() bool { return z.idx.reaches(node, ref{kindPVC, a.Namespace, a.Name}) })
			case "persistentvolumes":
				return z.get(node, &a, func() bool { return z.idx.reachesPV(node, a.Name) })
			case "serviceaccounts":
				return z.createToken(node, &a)
			case "nodes":
				return nodeObject(node, &a)
			case "pods":
				if a.Subresource == "" && (a.Verb == "list" || a.Verb == "watch") && !selectsField(a.FieldSelector, "spec.nodeName", node) {
					// A node sees the pods bound to it, not every pod.
					return authorizer.NoOpinion, "can only list/watch pods with spec.nodeName field selector", nil
				}
			}
		case coordinationv1.GroupName:
			if a.Resource == "leases" {
				return lease(node, &a)
			}
		case storagev1.GroupName:
			switch a.Resource {
			case "csinodes":
				return csiNode(node, &a)
			case "volumeattachments":
				// bosun does not serve attachments, so none is
				// related to any node.
				return z.get(node, &a, func() bool { return false })
			}
		}
	}
	for i := range z.rules {
		if rbac.RuleAllows(&a, &z.rules[i]) {
			return authorizer.Allow, "", nil
		}
	}
	return authorizer.NoOpinion, "", nil
}

func noRelationship(node string) string {
	return fmt.Sprintf("no relationship found between node '%s' and this object", node)
}

// read grants get, list and watch of one named Secret or ConfigMap a pod
// on the node uses. A list or watch is named when its field selector is
// metadata.name=NAME, which is how a kubelet watches single objects.
func (z *Authorizer) read(node string, k kind, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return authorizer.NoOpinion, "can only read resources of this type", nil
	}
	if a.Subresource != "" {
		return authorizer.NoOpinion, "cannot read subresource", nil
	}
	if k == kindSecret && a.Name == "" && (a.Verb == "list" || a.Verb == "watch") && selectsType(a.FieldSelector, string(corev1.SecretTypeTLS)) {
		// Every node serves every Ingress, so its Ingress proxy reads
		// the certificates of all of them: TLS Secrets, and no others.
		return authorizer.Allow, "", nil
	}
	if a.Namespace == "" {
		return authorizer.NoOpinion, "can only read namespaced object of this type", nil
	}
	return z.related(node, a, func() bool { return z.idx.reaches(node, ref{k, a.Namespace, a.Name}) })
}

// get grants get of one named object related to the node.
func (z *Authorizer) get(node string, a *authorizer.Attributes, found func() bool) (authorizer.Decision, string, error) {
	if a.Verb != "get" {
		return authorizer.NoOpinion, "can only get individual resources of this type", nil
	}
	if a.Subresource != "" {
		return authorizer.NoOpinion, "cannot get subresource", nil
	}
	return z.related(node, a, found)
}

// updateStatus grants writing the status of a claim a pod on the node
// uses, which is how the node reports a finished volume expansion.
func (z *Authorizer) updateStatus(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.Verb != "update" && a.Verb != "patch" {
		return authorizer.NoOpinion, "can only get/update/patch this type", nil
	}
	return z.related(node, a, func() bool { return z.idx.reaches(node, ref{kindPVC, a.Namespace, a.Name}) })
}

// related allows a request for one named object when found, which looks
// it up in the index, says a pod on the node uses it.
func (z *Authorizer) related(node string, a *authorizer.Attributes, found func() bool) (authorizer.Decision, string, error) {
	if a.Name == "" {
		return authorizer.NoOpinion, "No Object name found", nil
	}
	if !found() {
		return authorizer.NoOpinion, noRelationship(node), nil
	}
	return authorizer.Allow, "", nil
}

// createToken grants a token for a service account a pod on the node
// runs as. Which pod the token is bound to is NodeRestriction's check.
func (z *Authorizer) createToken(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.Verb != "create" || a.Name == "" {
		return authorizer.NoOpinion, "can only create tokens for individual service accounts", nil
	}
	if a.Subresource != "token" {
		return authorizer.NoOpinion, "can only create token subresource of serviceaccount", nil
	}
	if !z.idx.reaches(node, ref{kindServiceAccount, a.Namespace, a.Name}) {
		return authorizer.NoOpinion, noRelationship(node), nil
	}
	return authorizer.Allow, "", nil
}

// nodeObject grants a node its own Node: reading it (by name, or a list
// or watch narrowed to it), writing it and its status. Creation is
// granted whatever the name, which the request path does not carry;
// NodeRestriction checks the object's.
func nodeObject(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "create":
			return authorizer.Allow, "", nil
		case "get", "list", "watch":
			switch a.Name {
			case node:
				return authorizer.Allow, "", nil
			case "":
				return authorizer.NoOpinion, fmt.Sprintf("node '%s' cannot read all nodes, only its own Node object", node), nil
			default:
				return authorizer.NoOpinion, fmt.Sprintf("node '%s' cannot read '%s', only its own Node object", node, a.Name), nil
			}
		case "update", "patch":
			return ownNode(node, a)
		}
	case "status":
		if a.Verb == "update" || a.Verb == "patch" {
			return ownNode(node, a)
		}
	}
	return authorizer.NoOpinion, "", nil
}

func ownNode(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.Name != node {
		return authorizer.NoOpinion, fmt.Sprintf("node '%s' cannot modify '%s', only its own Node object", node, a.Name), nil
	}
	return authorizer.Allow, "", nil
}

// lease grants the node's heartbeat lease: the one named after it in
// kube-node-lease. A create carries no name in its path;
// NodeRestriction checks the object's.
func lease(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authorizer.NoOpinion, "can only get, create, update, patch, or delete a node lease", nil
	}
	if a.Namespace != corev1.NamespaceNodeLease {
		return authorizer.NoOpinion, fmt.Sprintf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease), nil
	}
	if a.Verb != "create" && a.Name != node {
		return authorizer.NoOpinion, "can only access node lease with the same name as the requesting node", nil
	}
	return authorizer.Allow, "", nil
}

// csiNode grants the CSINode named after the node, as lease does the lease.
func csiNode(node string, a *authorizer.Attributes) (authorizer.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authorizer.NoOpinion, "can only get, create, update, patch, or delete a CSINode", nil
	}
	if a.Subresource != "" {
		return authorizer.NoOpinion, "cannot authorize CSINode subresources", nil
	}
	if a.Verb != "create" && a.Name != node {
		return authorizer.NoOpinion, "can only access CSINode with the same name as the requesting node", nil
	}
	return authorizer.Allow, "", nil
}

// selectsType reports whether a field selector admits only objects whose
// type field is t.
func selectsType(reqs fields.Requirements, t string) bool {
	return selectsField(reqs, "type", t)
}

// selectsField reports whether a field selector admits only objects whose
// field is value.
func selectsField(reqs fields.Requirements, field, value string) bool {
	for _, r := range reqs {
		if r.Field == field && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals) && r.Value == value {
			return true
		}
	}
	return false
}
