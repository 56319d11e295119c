package registry

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func networkPolicies() *Kind {
	return &Kind{
		GVK:        networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
		Resource:   "networkpolicies",
		Singular:   "networkpolicy",
		ShortNames: []string{"netpol"},
		Namespaced: true,
		New:        func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		NewList:    func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
		Defaults:   func(obj runtime.Object) { defaultNetworkPolicy(&obj.(*networkingv1.NetworkPolicy).Spec) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validateNetworkPolicySpec(&obj.(*networkingv1.NetworkPolicy).Spec, field.NewPath("spec"))
		},
		Generation: true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Pod-Selector", "string", "Pods the policy applies to."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			np := obj.(*networkingv1.NetworkPolicy)
			return []any{np.Name, selectorString(&np.Spec.PodSelector), age(obj)}
		},
	}
}

func defaultNetworkPolicy(s *networkingv1.NetworkPolicySpec) {
	defaultPorts := func(ports []networkingv1.NetworkPolicyPort) {
		for i := range ports {
			if ports[i].Protocol == nil {
				ports[i].Protocol = new(corev1.ProtocolTCP)
			}
		}
	}
	for i := range s.Ingress {
		defaultPorts(s.Ingress[i].Ports)
	}
	for i := range s.Egress {
		defaultPorts(s.Egress[i].Ports)
	}
	// Every policy isolates ingress; one with egress rules isolates egress too.
	if len(s.PolicyTypes) == 0 {
		s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(s.Egress) > 0 {
			s.PolicyTypes = append(s.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

func validateNetworkPolicySpec(s *networkingv1.NetworkPolicySpec, p *field.Path) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{}
	errs := metav1validation.ValidateLabelSelector(&s.PodSelector, opts, p.Child("podSelector"))
	for i, r := range s.Ingress {
		rp := p.Child("ingress").Index(i)
		for j := range r.Ports {
			errs = append(errs, validateNetworkPolicyPort(&r.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range r.From {
			errs = append(errs, validateNetworkPolicyPeer(&r.From[j], rp.Child("from").Index(j))...)
		}
	}
	for i, r := range s.Egress {
		rp := p.Child("egress").Index(i)
		for j := range r.Ports {
			errs = append(errs, validateNetworkPolicyPort(&r.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range r.To {
			errs = append(errs, validateNetworkPolicyPeer(&r.To[j], rp.Child("to").Index(j))...)
		}
	}
	tp := p.Child("policyTypes")
	if len(s.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(tp, s.PolicyTypes, "may not specify more than two policyTypes"))
	}
	seen := map[networkingv1.PolicyType]bool{}
	for i, t := range s.PolicyTypes {
		switch {
		case t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress:
			errs = append(errs, field.NotSupported(tp.Index(i), t, []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}))
		case seen[t]:
			errs = append(errs, field.Duplicate(tp.Index(i), t))
		}
		seen[t] = true
	}
	return errs
}

func validateNetworkPolicyPort(port *networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Protocol != nil {
		switch *port.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol,
				[]string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}))
		}
	}
	if port.Port != nil {
		if port.Port.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.IntVal, msg))
			}
		} else {
			for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.StrVal, msg))
			}
		}
	}
	if port.EndPort != nil {
		ep := p.Child("endPort")
		switch {
		case port.Port == nil:
			errs = append(errs, field.Required(p.Child("port"), "when endPort is specified"))
		case port.Port.Type == intstr.String:
			errs = append(errs, field.Forbidden(ep, "may not be specified when `port` is non-numeric"))
		case *port.EndPort < port.Port.IntVal:
			errs = append(errs, field.Invalid(ep, *port.EndPort, "must be greater than or equal to `port`"))
		}
		for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
			errs = append(errs, field.Invalid(ep, *port.EndPort, msg))
		}
	}
	return errs
}

func validateNetworkPolicyPeer(peer *networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	opts := metav1validation.LabelSelectorValidationOptions{}
	selectors := peer.PodSelector != nil || peer.NamespaceSelector != nil
	switch {
	case peer.IPBlock != nil && selectors:
		return append(errs, field.Forbidden(p, "may not specify more than 1 peer type"))
	case peer.IPBlock != nil:
		return validateIPBlock(peer.IPBlock, p.Child("ipBlock"))
	case !selectors:
		return append(errs, field.Required(p, "must specify a peer"))
	}
	if peer.PodSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, p.Child("namespaceSelector"))...)
	}
	return errs
}

// validateIPBlock takes the CIDRs as leniently as Kubernetes always has for
// this field (host bits may be set), but insists the exceptions lie inside.
func validateIPBlock(b *networkingv1.IPBlock, p *field.Path) field.ErrorList {
	cp := p.Child("cidr")
	if b.CIDR == "" {
		return field.ErrorList{field.Required(cp, "")}
	}
	errs := validation.IsValidCIDRForLegacyField(cp, b.CIDR, false, nil)
	if len(errs) > 0 {
		return errs
	}
	_, outer, outerErr := net.ParseCIDR(b.CIDR)
	for i, ex := range b.Except {
		ep := p.Child("except").Index(i)
		exErrs := validation.IsValidCIDRForLegacyField(ep, ex, false, nil)
		if len(exErrs) > 0 {
			errs = append(errs, exErrs...)
			continue
		}
		_, inner, err := net.ParseCIDR(ex)
		if err != nil || outerErr != nil {
			continue
		}
		outerBits, size := outer.Mask.Size()
		innerBits, innerSize := inner.Mask.Size()
		if size != innerSize || innerBits <= outerBits || !outer.Contains(inner.IP) {
			errs = append(errs, field.Invalid(ep, ex, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}
