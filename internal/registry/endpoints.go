package registry

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func endpoints() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Endpoints"),
		Resource:   "endpoints",
		Singular:   "endpoints",
		ShortNames: []string{"ep"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Endpoints{} },
		NewList:    func() runtime.Object { return &corev1.EndpointsList{} },
		Defaults: func(obj runtime.Object) {
			ep := obj.(*corev1.Endpoints)
			for i := range ep.Subsets {
				for j := range ep.Subsets[i].Ports {
					if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
						p.Protocol = corev1.ProtocolTCP
					}
				}
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			ep := obj.(*corev1.Endpoints)
			var errs field.ErrorList
			for i := range ep.Subsets {
				errs = append(errs, validateEndpointSubset(&ep.Subsets[i], field.NewPath("subsets").Index(i))...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Endpoints", "string", "The ready addresses and ports of the endpoints."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			ep := obj.(*corev1.Endpoints)
			return []any{ep.Name, formatEndpoints(ep.Subsets), age(obj)}
		},
	}
}

func validateEndpointSubset(ss *corev1.EndpointSubset, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
		errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
	}
	for i := range ss.Addresses {
		errs = append(errs, validateEndpointAddress(&ss.Addresses[i], p.Child("addresses").Index(i))...)
	}
	for i := range ss.NotReadyAddresses {
		errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[i], p.Child("notReadyAddresses").Index(i))...)
	}
	names := map[string]bool{}
	for i, port := range ss.Ports {
		pp := p.Child("ports").Index(i)
		switch {
		case port.Name == "" && len(ss.Ports) > 1:
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
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ip := net.ParseIP(a.IP)
	switch {
	case ip == nil:
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "must be a valid IP address"))
	case ip.IsUnspecified():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be unspecified (0.0.0.0, ::)"))
	case ip.IsLoopback():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	errs = append(errs, dnsCheck(validation.IsDNS1123Label, a.Hostname, p.Child("hostname"))...)
	if a.NodeName != nil {
		errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, *a.NodeName, p.Child("nodeName"))...)
	}
	return errs
}

// maxShownEndpoints bounds the ENDPOINTS cell; the rest is counted.
const maxShownEndpoints = 3

// formatEndpoints renders ready addresses as "ip:port" (port by port), or
// bare IPs for a subset without ports: "10.0.0.1:80,10.0.0.2:80 + 3 more...".
// Without subsets it is "<none>"; with only not-ready addresses, empty.
func formatEndpoints(subsets []corev1.EndpointSubset) string {
	if len(subsets) == 0 {
		return "<none>"
	}
	var shown []string
	count := 0
	show := func(s string) {
		if len(shown) < maxShownEndpoints {
			shown = append(shown, s)
		}
		count++
	}
	for _, ss := range subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				show(a.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			for _, a := range ss.Addresses {
				show(net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	out := strings.Join(shown, ",")
	if count > maxShownEndpoints {
		out += fmt.Sprintf(" + %d more...", count-maxShownEndpoints)
	}
	return out
}
