package registry

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Size limits keep one slice a bounded amount of work for every proxy.
const (
	maxSliceEndpoints = 1000
	maxSlicePorts     = 20000
	maxSliceAddresses = 100
)

func endpointSlices() *Kind {
	return &Kind{
		GVK:        discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"),
		Resource:   "endpointslices",
		Singular:   "endpointslice",
		Namespaced: true,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Defaults: func(obj runtime.Object) {
			es := obj.(*discoveryv1.EndpointSlice)
			for i := range es.Ports {
				if es.Ports[i].Name == nil {
					es.Ports[i].Name = new("")
				}
				if es.Ports[i].Protocol == nil {
					es.Ports[i].Protocol = new(corev1.ProtocolTCP)
				}
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			es := obj.(*discoveryv1.EndpointSlice)
			errs := validateSliceEndpoints(es)
			errs = append(errs, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
			if o, ok := old.(*discoveryv1.EndpointSlice); ok {
				errs = append(errs, immutableField(es.AddressType, o.AddressType, field.NewPath("addressType"))...)
			}
			return errs
		},
		Generation: true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("AddressType", "string", "Type of the addresses."),
			col("Ports", "string", "Ports of the slice."),
			col("Endpoints", "string", "Addresses of the endpoints."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			es := obj.(*discoveryv1.EndpointSlice)
			var ports, addrs []string
			for _, p := range es.Ports {
				switch {
				case p.Port != nil:
					ports = append(ports, strconv.Itoa(int(*p.Port)))
				case p.Name != nil && *p.Name != "":
					ports = append(ports, *p.Name)
				default:
					ports = append(ports, "*")
				}
			}
			for _, ep := range es.Endpoints {
				addrs = append(addrs, ep.Addresses...)
			}
			return []any{es.Name, string(es.AddressType), firstFew(ports), firstFew(addrs), age(obj)}
		},
	}
}

// firstFew joins up to three items and counts the rest, "<unset>" for none.
func firstFew(items []string) string {
	const shown = 3
	if len(items) == 0 {
		return "<unset>"
	}
	if len(items) <= shown {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:shown], ","), len(items)-shown)
}

func validateSliceEndpoints(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	types := []string{string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN)}
	switch es.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	case "":
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), es.AddressType, types))
	}
	p := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(p, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, ep := range es.Endpoints {
		epp := p.Index(i)
		ap := epp.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(ep.Addresses) > maxSliceAddresses:
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxSliceAddresses))
		}
		for j, a := range ep.Addresses {
			errs = append(errs, validateSliceAddress(es.AddressType, a, ap.Index(j))...)
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(epp.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*ep.NodeName) {
				errs = append(errs, field.Invalid(epp.Child("nodeName"), *ep.NodeName, msg))
			}
		}
	}
	return errs
}

func validateSliceAddress(t discoveryv1.AddressType, a string, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(p, a)
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return field.ErrorList{field.Invalid(p, a, "must be a valid IP address")}
		}
		if (t == discoveryv1.AddressTypeIPv4) != addr.Is4() {
			return field.ErrorList{field.Invalid(p, a, "must be an "+string(t)+" address")}
		}
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(p, len(ports), maxSlicePorts))
	}
	names := map[string]bool{}
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != nil {
			n := *port.Name
			if n != "" {
				for _, msg := range validation.IsDNS1123Label(n) {
					errs = append(errs, field.Invalid(pp.Child("name"), n, msg))
				}
			}
			if names[n] {
				errs = append(errs, field.Duplicate(pp.Child("name"), n))
			}
			names[n] = true
		}
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				errs = append(errs, field.NotSupported(pp.Child("protocol"), *port.Protocol,
					[]string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}))
			}
		}
		if port.Port != nil {
			for _, msg := range validation.IsInRange(int(*port.Port), 0, 65535) {
				errs = append(errs, field.Invalid(pp.Child("port"), *port.Port, msg))
			}
		}
		if port.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*port.AppProtocol) {
				errs = append(errs, field.Invalid(pp.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}
