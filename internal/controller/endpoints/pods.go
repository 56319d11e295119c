package endpoints

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// This file holds what the Endpoints and EndpointSlice loops agree on:
// which pods back a Service, on which port, under which address.

// ServiceSelects reports whether svc is one whose endpoints a controller
// manages: it has a non-empty selector and is not an ExternalName alias,
// which has no endpoints.
func ServiceSelects(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// ServicesForPod returns the keys of the Services in pod's namespace whose
// selectors match pod's labels. Only that namespace's Services are read.
func ServicesForPod(lister corelisters.ServiceLister, pod *corev1.Pod) []string {
	svcs, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	set := labels.Set(pod.Labels)
	for _, svc := range svcs {
		if ServiceSelects(svc) && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(set) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// PodChanged reports whether an update of a pod can change any Service's
// endpoints: everything the endpoints are built from, and labels.
func PodChanged(old, cur *corev1.Pod) bool {
	if old.Status.PodIP != cur.Status.PodIP || len(old.Status.PodIPs) != len(cur.Status.PodIPs) ||
		old.Status.Phase != cur.Status.Phase || controllerReady(old) != controllerReady(cur) ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Spec.NodeName != cur.Spec.NodeName || old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain || !labels.Equals(old.Labels, cur.Labels) {
		return true
	}
	for i := range old.Status.PodIPs {
		if old.Status.PodIPs[i].IP != cur.Status.PodIPs[i].IP {
			return true
		}
	}
	return false
}

func controllerReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodServed reports whether pod can appear among a Service's endpoints
// at all: it has an IP and has not finished. A pod being deleted counts
// only when includeTerminating.
func PodServed(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// PodIPs returns pod's IPs, primary first.
func PodIPs(pod *corev1.Pod) []string {
	if len(pod.Status.PodIPs) == 0 {
		if pod.Status.PodIP == "" {
			return nil
		}
		return []string{pod.Status.PodIP}
	}
	out := make([]string, 0, len(pod.Status.PodIPs))
	for _, ip := range pod.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

// Family returns the IP family of ip, or "" when ip does not parse.
func Family(ip string) corev1.IPFamily {
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return ""
	case a.Is4() || a.Is4In6():
		return corev1.IPv4Protocol
	default:
		return corev1.IPv6Protocol
	}
}

// PodIPFor returns pod's IP of the Service's primary family, or its
// primary IP when the Service names no family.
func PodIPFor(svc *corev1.Service, pod *corev1.Pod) (string, bool) {
	ips := PodIPs(pod)
	if len(ips) == 0 {
		return "", false
	}
	if len(svc.Spec.IPFamilies) == 0 {
		return ips[0], true
	}
	for _, ip := range ips {
		if Family(ip) == svc.Spec.IPFamilies[0] {
			return ip, true
		}
	}
	return "", false
}

// Hostname is the DNS name pod has under svc: its spec.hostname when its
// subdomain is the Service.
func Hostname(svc *corev1.Service, pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// ResolvePort returns the port on pod that sp targets: a number as is, a
// name looked up among the pod's container ports (and restartable init
// containers') of the same protocol.
func ResolvePort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch {
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0:
		return sp.Port, true
	case sp.TargetPort.Type == intstr.Int:
		return sp.TargetPort.IntVal, true
	}
	name := sp.TargetPort.StrVal
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	match := func(cs []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for _, c := range cs {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == name && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if n, ok := match(pod.Spec.Containers, false); ok {
		return n, true
	}
	return match(pod.Spec.InitContainers, true)
}
