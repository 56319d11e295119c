package registry

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func nodes() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Node"),
		Resource:   "nodes",
		Singular:   "node",
		ShortNames: []string{"no"},
		New:        func() runtime.Object { return &corev1.Node{} },
		NewList:    func() runtime.Object { return &corev1.NodeList{} },
		HasStatus:  true,
		// A kubelet registers its node with the status it already knows,
		// so unlike other kinds the status given on create is kept.
		PrepareForCreate: func(runtime.Object) {},
		Defaults:         func(obj runtime.Object) { defaultNode(obj.(*corev1.Node)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			n := obj.(*corev1.Node)
			errs := validateNodeSpec(&n.Spec, field.NewPath("spec"))
			sp := field.NewPath("status")
			errs = append(errs, validateResourceQuantities(n.Status.Capacity, sp.Child("capacity"))...)
			errs = append(errs, validateResourceQuantities(n.Status.Allocatable, sp.Child("allocatable"))...)
			if o, ok := old.(*corev1.Node); ok {
				errs = append(errs, validateNodeUpdate(&n.Spec, &o.Spec)...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "The readiness of the node, and whether it takes new pods."),
			col("Roles", "string", "The roles of the node, from its node-role.kubernetes.io labels."),
			ageColumn,
			col("Version", "string", "The kubelet version of the node."),
			wideCol("Internal-IP", "string", "The internal IP address of the node."),
			wideCol("External-IP", "string", "The external IP address of the node."),
			wideCol("OS-Image", "string", "The OS image of the node."),
			wideCol("Kernel-Version", "string", "The kernel version of the node."),
			wideCol("Container-Runtime", "string", "The container runtime of the node."),
		},
		Row: func(obj runtime.Object) []any {
			n := obj.(*corev1.Node)
			info := n.Status.NodeInfo
			return []any{n.Name, nodeStatus(n), nodeRoles(n), age(obj), info.KubeletVersion,
				nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
				unknownIfEmpty(info.OSImage), unknownIfEmpty(info.KernelVersion), unknownIfEmpty(info.ContainerRuntimeVersion)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
	}
}

func defaultNode(n *corev1.Node) {
	// podCIDR is the first of podCIDRs; the API returns both.
	switch {
	case n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) == 0:
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	case n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) > 0:
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
	roundResources(n.Status.Capacity)
	roundResources(n.Status.Allocatable)
}

func validateNodeSpec(s *corev1.NodeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.PodCIDRs) > 2 {
		errs = append(errs, field.TooMany(p.Child("podCIDRs"), len(s.PodCIDRs), 2))
	}
	for i, c := range s.PodCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, field.Invalid(p.Child("podCIDRs").Index(i), c, "must be a valid CIDR"))
		}
	}
	if len(s.PodCIDRs) > 0 && s.PodCIDR != s.PodCIDRs[0] {
		errs = append(errs, field.Invalid(p.Child("podCIDR"), s.PodCIDR, "must match the first value of `podCIDRs`"))
	}
	type key struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[key]bool{}
	for i, t := range s.Taints {
		tp := p.Child("taints").Index(i)
		if t.Key == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		}
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(tp.Child("value"), t.Value, msg))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(tp.Child("effect"), ""))
		} else {
			errs = append(errs, oneOf(tp.Child("effect"), t.Effect, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		}
		k := key{t.Key, t.Effect}
		if seen[k] {
			errs = append(errs, field.Duplicate(tp, fmt.Sprintf("%s:%s", t.Key, t.Effect)))
		}
		seen[k] = true
	}
	return errs
}

// validateNodeUpdate: pod CIDRs and the provider ID are assigned once.
func validateNodeUpdate(s, old *corev1.NodeSpec) field.ErrorList {
	var errs field.ErrorList
	if len(old.PodCIDRs) > 0 && !slices.Equal(s.PodCIDRs, old.PodCIDRs) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.ProviderID != "" && s.ProviderID != old.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

// validateResourceQuantities checks that no quantity is negative.
func validateResourceQuantities(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedResourceNames(l) {
		errs = append(errs, nonNegative(l[name], p.Key(string(name)))...)
	}
	return errs
}

// nodeStatus is "Ready", "NotReady" or "Unknown" (no Ready condition yet),
// with ",SchedulingDisabled" for a cordoned node.
func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

const (
	nodeRolePrefix  = "node-role.kubernetes.io/"
	legacyRoleLabel = "kubernetes.io/role"
)

func nodeRoles(n *corev1.Node) string {
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix):
			if r := strings.TrimPrefix(k, nodeRolePrefix); r != "" {
				roles = append(roles, r)
			}
		case k == legacyRoleLabel && v != "":
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 {
		return "<none>"
	}
	slices.Sort(roles)
	return strings.Join(slices.Compact(roles), ",")
}

func nodeAddress(n *corev1.Node, typ corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return "<none>"
}

func unknownIfEmpty(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
