package registry

import (
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func services() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Service"),
		Resource:   "services",
		Singular:   "service",
		ShortNames: []string{"svc"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Service{} },
		NewList:    func() runtime.Object { return &corev1.ServiceList{} },
		NameRule:   apivalidation.NameIsDNS1035Label,
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.Service).Status = corev1.ServiceStatus{}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			prepareServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		Defaults: func(obj runtime.Object) { defaultService(obj.(*corev1.Service)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			svc := obj.(*corev1.Service)
			errs := validateServiceSpec(&svc.Spec, field.NewPath("spec"))
			if o, ok := old.(*corev1.Service); ok {
				errs = append(errs, validateServiceUpdate(&svc.Spec, &o.Spec)...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Type", "string", "The type of the service."),
			col("Cluster-IP", "string", "The cluster IP of the service."),
			col("External-IP", "string", "The external addresses of the service."),
			col("Port(s)", "string", "The ports of the service, with their node ports."),
			ageColumn,
			wideCol("Selector", "string", "The labels of the pods behind the service."),
		},
		Row: func(obj runtime.Object) []any {
			svc := obj.(*corev1.Service)
			return []any{svc.Name, string(svc.Spec.Type), noneIfEmpty(svc.Spec.ClusterIP), serviceExternalIP(svc),
				servicePorts(svc.Spec.Ports), age(obj), labels.FormatLabels(svc.Spec.Selector)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			svc := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
		},
	}
}

// ServiceNeedsClusterIP reports whether the service is to have a cluster
// IP: every type but ExternalName, unless headless (clusterIP "None").
// The API server allocates one when spec.clusterIP is empty.
func ServiceNeedsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// ServiceNeedsNodePorts reports whether the service's ports are to have node
// ports: NodePort services, and LoadBalancer services that do not opt out
// with allocateLoadBalancerNodePorts=false. The API server allocates those
// left at zero.
func ServiceNeedsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// maxClientIPAffinitySeconds caps ClientIP session affinity at a day.
const maxClientIPAffinitySeconds = 86400

func externallyAccessible(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

func defaultService(svc *corev1.Service) {
	s := &svc.Spec
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	switch s.SessionAffinity {
	case "":
		s.SessionAffinity = corev1.ServiceAffinityNone
		s.SessionAffinityConfig = nil
	case corev1.ServiceAffinityNone:
		s.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIP == nil {
			s.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			s.SessionAffinityConfig.ClientIP.TimeoutSeconds = new(corev1.DefaultClientIPServiceAffinitySeconds)
		}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(s.Type) && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.AllocateLoadBalancerNodePorts == nil {
		s.AllocateLoadBalancerNodePorts = new(true)
	}
	if s.Type == corev1.ServiceTypeExternalName {
		return
	}
	if s.InternalTrafficPolicy == nil {
		s.InternalTrafficPolicy = new(corev1.ServiceInternalTrafficPolicyCluster)
	}
	// bosun's service network is single-stack IPv4.
	if s.IPFamilyPolicy == nil {
		s.IPFamilyPolicy = new(corev1.IPFamilyPolicySingleStack)
	}
	if len(s.IPFamilies) == 0 {
		s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	switch {
	case s.ClusterIP == "" && len(s.ClusterIPs) > 0:
		s.ClusterIP = s.ClusterIPs[0]
	case s.ClusterIP != "" && len(s.ClusterIPs) == 0:
		s.ClusterIPs = []string{s.ClusterIP}
	}
}

// prepareServiceUpdate keeps what the server allocated when the client
// omits it (kubectl apply does), and drops what the old type set but the
// new type cannot have, unless the client changed it itself.
func prepareServiceUpdate(svc, old *corev1.Service) {
	s, o := &svc.Spec, &old.Spec
	if s.Type != corev1.ServiceTypeExternalName && s.ClusterIP == "" && len(s.ClusterIPs) == 0 {
		s.ClusterIP, s.ClusterIPs = o.ClusterIP, slices.Clone(o.ClusterIPs)
	}
	if s.Type == o.Type {
		return
	}
	if s.Type == corev1.ServiceTypeExternalName {
		if s.ClusterIP == o.ClusterIP && slices.Equal(s.ClusterIPs, o.ClusterIPs) {
			s.ClusterIP, s.ClusterIPs = "", nil
		}
		if slices.Equal(s.IPFamilies, o.IPFamilies) {
			s.IPFamilies = nil
		}
		if equalPtr(s.IPFamilyPolicy, o.IPFamilyPolicy) {
			s.IPFamilyPolicy = nil
		}
		if equalPtr(s.InternalTrafficPolicy, o.InternalTrafficPolicy) {
			s.InternalTrafficPolicy = nil
		}
	}
	if !ServiceNeedsNodePorts(svc) && ServiceNeedsNodePorts(old) {
		for i := range s.Ports {
			if i < len(o.Ports) && s.Ports[i].NodePort == o.Ports[i].NodePort {
				s.Ports[i].NodePort = 0
			}
		}
	}
	if s.Type != corev1.ServiceTypeLoadBalancer {
		if equalPtr(s.AllocateLoadBalancerNodePorts, o.AllocateLoadBalancerNodePorts) {
			s.AllocateLoadBalancerNodePorts = nil
		}
		if equalPtr(s.LoadBalancerClass, o.LoadBalancerClass) {
			s.LoadBalancerClass = nil
		}
		if s.HealthCheckNodePort == o.HealthCheckNodePort {
			s.HealthCheckNodePort = 0
		}
	}
	if !externallyAccessible(s.Type) && s.ExternalTrafficPolicy == o.ExternalTrafficPolicy {
		s.ExternalTrafficPolicy = ""
	}
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func validateServiceSpec(s *corev1.ServiceSpec, p *field.Path) field.ErrorList {
	errs := oneOf(p.Child("type"), s.Type, corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	headless := s.ClusterIP == corev1.ClusterIPNone

	if s.Type == corev1.ServiceTypeExternalName {
		if s.ExternalName == "" {
			errs = append(errs, field.Required(p.Child("externalName"), ""))
		} else {
			errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, strings.TrimSuffix(s.ExternalName, "."), p.Child("externalName"))...)
		}
		if s.ClusterIP != "" || len(s.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(p.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(s.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
	} else if len(s.Ports) == 0 && !headless {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}

	errs = append(errs, validateServicePorts(s, p.Child("ports"))...)
	errs = append(errs, metav1validation.ValidateLabels(s.Selector, p.Child("selector"))...)

	errs = append(errs, oneOf(p.Child("sessionAffinity"), s.SessionAffinity, corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)...)
	if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
			errs = append(errs, field.Invalid(p.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
		}
	}

	if s.ClusterIP != "" && !headless && net.ParseIP(s.ClusterIP) == nil {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), s.ClusterIP, "must be a valid IP address or `None`"))
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != s.ClusterIP {
		errs = append(errs, field.Invalid(p.Child("clusterIPs"), s.ClusterIPs, "first value of clusterIPs must match clusterIP"))
	}
	for i, ip := range s.ClusterIPs[min(1, len(s.ClusterIPs)):] {
		if headless || net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(p.Child("clusterIPs").Index(i+1), ip, "must be a valid IP address"))
		}
	}
	for i, ip := range s.ExternalIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(p.Child("externalIPs").Index(i), ip, "must be a valid IP address"))
		}
	}

	lb := s.Type == corev1.ServiceTypeLoadBalancer
	for i, r := range s.LoadBalancerSourceRanges {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(r)); err != nil {
			errs = append(errs, field.Invalid(p.Child("loadBalancerSourceRanges").Index(i), r, "must be a valid CIDR"))
		}
	}
	if len(s.LoadBalancerSourceRanges) > 0 && !lb {
		errs = append(errs, field.Forbidden(p.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if s.AllocateLoadBalancerNodePorts != nil && !lb {
		errs = append(errs, field.Forbidden(p.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if s.LoadBalancerClass != nil {
		if !lb {
			errs = append(errs, field.Forbidden(p.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(*s.LoadBalancerClass, p.Child("loadBalancerClass"))...)
		}
	}
	if externallyAccessible(s.Type) {
		errs = append(errs, oneOf(p.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy,
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
	} else if s.ExternalTrafficPolicy != "" {
		errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	}
	if s.HealthCheckNodePort != 0 && !(lb && s.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal) {
		errs = append(errs, field.Invalid(p.Child("healthCheckNodePort"), s.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	if t := s.InternalTrafficPolicy; t != nil {
		errs = append(errs, oneOf(p.Child("internalTrafficPolicy"), *t,
			corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	if pol := s.IPFamilyPolicy; pol != nil {
		errs = append(errs, oneOf(p.Child("ipFamilyPolicy"), *pol,
			corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)...)
		if *pol == corev1.IPFamilyPolicySingleStack && len(s.IPFamilies) > 1 {
			errs = append(errs, field.Invalid(p.Child("ipFamilies"), s.IPFamilies, "must contain at most one family when `ipFamilyPolicy` is 'SingleStack'"))
		}
	}
	if len(s.IPFamilies) > 2 {
		errs = append(errs, field.TooMany(p.Child("ipFamilies"), len(s.IPFamilies), 2))
	}
	for i, f := range s.IPFamilies {
		fp := p.Child("ipFamilies").Index(i)
		errs = append(errs, oneOf(fp, f, corev1.IPv4Protocol, corev1.IPv6Protocol)...)
		if slices.Contains(s.IPFamilies[:i], f) {
			errs = append(errs, field.Duplicate(fp, f))
		}
	}
	return errs
}

func validateServicePorts(s *corev1.ServiceSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	type key struct {
		port  int32
		proto corev1.Protocol
	}
	ports, nodePorts := map[key]bool{}, map[key]bool{}
	for i, port := range s.Ports {
		pp := p.Index(i)
		switch {
		case port.Name == "" && len(s.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), ""))
		case port.Name != "":
			errs = append(errs, dnsCheck(validation.IsDNS1123Label, port.Name, pp.Child("name"))...)
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		errs = append(errs, portNumber(port.Port, pp.Child("port"))...)
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
		errs = append(errs, portNumberOrName(port.TargetPort, pp.Child("targetPort"))...)
		if port.AppProtocol != nil {
			errs = append(errs, metav1validation.ValidateLabelName(*port.AppProtocol, pp.Child("appProtocol"))...)
		}
		k := key{port.Port, port.Protocol}
		if ports[k] {
			errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		}
		ports[k] = true
		if port.NodePort == 0 {
			continue
		}
		if !externallyAccessible(s.Type) {
			errs = append(errs, field.Forbidden(pp.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", s.Type)))
			continue
		}
		errs = append(errs, portNumber(port.NodePort, pp.Child("nodePort"))...)
		nk := key{port.NodePort, port.Protocol}
		if nodePorts[nk] {
			errs = append(errs, field.Duplicate(pp.Child("nodePort"), port.NodePort))
		}
		nodePorts[nk] = true
	}
	return errs
}

// validateServiceUpdate: the cluster IP stays for the service's life,
// unless the service turns into or out of an ExternalName.
func validateServiceUpdate(s, old *corev1.ServiceSpec) field.ErrorList {
	if s.Type == corev1.ServiceTypeExternalName || old.Type == corev1.ServiceTypeExternalName || old.ClusterIP == "" {
		return nil
	}
	if s.ClusterIP != old.ClusterIP {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), s.ClusterIP, "may not change once set")}
	}
	return nil
}

// servicePorts renders "80/TCP" or, with a node port, "80:30080/TCP".
func servicePorts(ports []corev1.ServicePort) string {
	if len(ports) == 0 {
		return "<none>"
	}
	out := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			out[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			out[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(out, ",")
}

func serviceExternalIP(svc *corev1.Service) string {
	s := &svc.Spec
	switch s.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(s.ExternalIPs) > 0 {
			return strings.Join(s.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var ingress []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ingress = append(ingress, in.IP)
			} else if in.Hostname != "" {
				ingress = append(ingress, in.Hostname)
			}
		}
		if len(s.ExternalIPs) > 0 {
			return strings.Join(append(slices.Clone(s.ExternalIPs), ingress...), ",")
		}
		if len(ingress) > 0 {
			return strings.Join(ingress, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return s.ExternalName
	}
	return "<unknown>"
}
