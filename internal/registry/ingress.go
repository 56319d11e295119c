package registry

import (
	"fmt"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ingresses() *Kind {
	return &Kind{
		GVK:        networkingv1.SchemeGroupVersion.WithKind("Ingress"),
		Resource:   "ingresses",
		Singular:   "ingress",
		ShortNames: []string{"ing"},
		Namespaced: true,
		New:        func() runtime.Object { return &networkingv1.Ingress{} },
		NewList:    func() runtime.Object { return &networkingv1.IngressList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validateIngressSpec(&obj.(*networkingv1.Ingress).Spec, field.NewPath("spec"))
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*networkingv1.Ingress).Status = networkingv1.IngressStatus{} },
		Generation:       true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Class", "string", "The name of the IngressClass."),
			col("Hosts", "string", "Hosts the rules apply to."),
			col("Address", "string", "Address of the load balancer."),
			col("Ports", "string", "Ports of the load balancer."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			ing := obj.(*networkingv1.Ingress)
			class := "<none>"
			if ing.Spec.IngressClassName != nil {
				class = *ing.Spec.IngressClassName
			}
			ports := "80"
			if len(ing.Spec.TLS) > 0 {
				ports = "80, 443"
			}
			return []any{ing.Name, class, ingressHosts(ing.Spec.Rules), ingressAddress(ing.Status.LoadBalancer), ports, age(obj)}
		},
	}
}

func ingressHosts(rules []networkingv1.IngressRule) string {
	const shown = 3
	var hosts []string
	for _, r := range rules {
		if r.Host != "" && len(hosts) < shown {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	s := strings.Join(hosts, ",")
	if len(rules) > shown {
		s += fmt.Sprintf(" + %d more...", len(rules)-shown)
	}
	return s
}

func ingressAddress(lb networkingv1.IngressLoadBalancerStatus) string {
	var addrs []string
	for _, in := range lb.Ingress {
		switch {
		case in.IP != "":
			addrs = append(addrs, in.IP)
		case in.Hostname != "":
			addrs = append(addrs, in.Hostname)
		}
	}
	return strings.Join(addrs, ",")
}

var pathTypes = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypePrefix), string(networkingv1.PathTypeImplementationSpecific)}

func validateIngressSpec(s *networkingv1.IngressSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Rules) == 0 && s.DefaultBackend == nil {
		errs = append(errs, field.Invalid(p, s.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if s.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(s.DefaultBackend, p.Child("defaultBackend"))...)
	}
	if c := s.IngressClassName; c != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*c) {
			errs = append(errs, field.Invalid(p.Child("ingressClassName"), *c, msg))
		}
	}
	for i, tls := range s.TLS {
		tp := p.Child("tls").Index(i)
		for j, h := range tls.Hosts {
			errs = append(errs, validateIngressHost(h, tp.Child("hosts").Index(j))...)
		}
		if tls.SecretName != "" {
			for _, msg := range validation.IsDNS1123Subdomain(tls.SecretName) {
				errs = append(errs, field.Invalid(tp.Child("secretName"), tls.SecretName, msg))
			}
		}
	}
	for i, r := range s.Rules {
		rp := p.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, rp.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := rp.Child("http", "paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(hp, ""))
		}
		for j := range r.HTTP.Paths {
			errs = append(errs, validateIngressPath(&r.HTTP.Paths[j], hp.Index(j))...)
		}
	}
	return errs
}

func validateIngressHost(h string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := netip.ParseAddr(h); err == nil {
		return append(errs, field.Invalid(p, h, "must be a DNS name, not an IP address"))
	}
	check := validation.IsDNS1123Subdomain
	if strings.Contains(h, "*") {
		check = validation.IsWildcardDNS1123Subdomain
	}
	for _, msg := range check(h) {
		errs = append(errs, field.Invalid(p, h, msg))
	}
	return errs
}

// Path segments a proxy would normalise away, letting a Prefix or Exact
// rule match more than it says.
var unsafePathParts = []string{"//", "/./", "/../", "%2f", "%2F"}

func validateIngressPath(hp *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if hp.PathType == nil {
		return append(errs, field.Required(p.Child("pathType"), "pathType must be specified"))
	}
	pp := p.Child("path")
	switch *hp.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(hp.Path, "/") {
			errs = append(errs, field.Invalid(pp, hp.Path, "must be an absolute path"))
		}
		for _, bad := range unsafePathParts {
			if strings.Contains(hp.Path, bad) {
				errs = append(errs, field.Invalid(pp, hp.Path, fmt.Sprintf("must not contain '%s'", bad)))
			}
		}
		for _, bad := range []string{"/..", "/."} {
			if strings.HasSuffix(hp.Path, bad) {
				errs = append(errs, field.Invalid(pp, hp.Path, fmt.Sprintf("cannot end with '%s'", bad)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if hp.Path != "" && !strings.HasPrefix(hp.Path, "/") {
			errs = append(errs, field.Invalid(pp, hp.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("pathType"), *hp.PathType, pathTypes))
	}
	errs = append(errs, validateIngressBackend(&hp.Backend, p.Child("backend"))...)
	return errs
}

func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Service != nil && b.Resource != nil:
		return append(errs, field.Invalid(p, "", "cannot set both resource and service backends"))
	case b.Resource != nil:
		r := b.Resource
		if r.Kind == "" {
			errs = append(errs, field.Required(p.Child("resource", "kind"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("resource", "name"), ""))
		}
		if r.APIGroup != nil && *r.APIGroup != "" {
			for _, msg := range validation.IsDNS1123Subdomain(*r.APIGroup) {
				errs = append(errs, field.Invalid(p.Child("resource", "apiGroup"), *r.APIGroup, msg))
			}
		}
	case b.Service != nil:
		sp := p.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			for _, msg := range validation.IsDNS1035Label(b.Service.Name) {
				errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		pp := sp.Child("port")
		switch {
		case port.Name != "" && port.Number != 0:
			errs = append(errs, field.Invalid(pp, port, "cannot set both port name & port number"))
		case port.Name != "":
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
		case port.Number != 0:
			for _, msg := range validation.IsValidPortNum(int(port.Number)) {
				errs = append(errs, field.Invalid(pp.Child("number"), port.Number, msg))
			}
		default:
			errs = append(errs, field.Required(pp, "port name or number is required"))
		}
	default:
		errs = append(errs, field.Invalid(p, "", "resource or service backend is required"))
	}
	return errs
}
