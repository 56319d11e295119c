package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-sh/bosun/internal/storage"
)

// SystemNamespaces exist from the first start.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// IngressClass is the class of Ingresses the node agents' built-in
// Ingress controller serves; Bootstrap creates it as the default class.
const IngressClass = "bosun"

// IngressController is the controller name of IngressClass.
const IngressController = "bosun.sh/ingress"

// Bootstrap creates what every cluster has: the system namespaces, the
// default IngressClass, the default RBAC policy and the kubernetes Service with endpoints pointing
// at this server. It is safe to run on every start and from several
// servers at once; an IngressClass the administrator changed is left as it is.
func (s *Server) Bootstrap(ctx context.Context) error {
	for _, ns := range SystemNamespaces {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if err := s.ensure(ctx, "", obj); err != nil {
			return err
		}
	}
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: IngressClass, Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: IngressController},
	}
	if err := s.ensure(ctx, "", class); err != nil {
		return err
	}
	if err := s.bootstrapPolicy(ctx); err != nil {
		return err
	}
	if s.cfg.ServiceCIDR == nil {
		return nil
	}
	first := nthIP(s.cfg.ServiceCIDR, 1)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: first.String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(s.cfg.Port))}},
		},
	}
	if err := s.ensure(ctx, "default", svc); err != nil {
		return err
	}
	addr := s.cfg.AdvertiseAddress
	if addr == nil {
		return nil
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(s.cfg.Port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.ensureCurrent(ctx, "default", ep); err != nil {
		return err
	}
	ready := true
	name, proto, port := "https", corev1.ProtocolTCP, int32(s.cfg.Port)
	addrType := discoveryv1.AddressTypeIPv4
	if addr.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	return s.ensureCurrent(ctx, "default", slice)
}

// ensure creates obj unless it exists.
func (s *Server) ensure(ctx context.Context, ns string, obj runtime.Object) error {
	rs := s.byGVK[gvkOf(obj)]
	if rs == nil {
		return fmt.Errorf("bootstrap: %T is not served", obj)
	}
	setTypeMeta(obj, rs.served.GVK)
	_, err := s.createObject(ctx, rs, ns, obj, false)
	var se *statusError
	if errors.As(err, &se) && se.s.Reason == metav1.StatusReasonAlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bootstrap %s %s/%s: %w", rs.served.GVK.Kind, ns, accessor(obj).GetName(), err)
	}
	return nil
}

// ensureCurrent creates obj, or replaces an existing one's content.
func (s *Server) ensureCurrent(ctx context.Context, ns string, obj runtime.Object) error {
	rs := s.byGVK[gvkOf(obj)]
	name := accessor(obj).GetName()
	if _, _, err := rs.get(ctx, s.store, ns, name); errors.Is(err, storage.ErrNotFound) {
		return s.ensure(ctx, ns, obj)
	}
	setTypeMeta(obj, rs.served.GVK)
	_, err := s.updateObject(ctx, rs, ns, name, "", false, func(cur runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		accessor(next).SetNamespace(ns)
		return next, nil
	})
	return err
}

func gvkOf(obj runtime.Object) schema.GroupVersionKind {
	switch obj.(type) {
	case *corev1.Namespace:
		return corev1.SchemeGroupVersion.WithKind("Namespace")
	case *corev1.Service:
		return corev1.SchemeGroupVersion.WithKind("Service")
	case *corev1.Endpoints:
		return corev1.SchemeGroupVersion.WithKind("Endpoints")
	case *discoveryv1.EndpointSlice:
		return discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice")
	case *networkingv1.IngressClass:
		return networkingv1.SchemeGroupVersion.WithKind("IngressClass")
	case *rbacv1.ClusterRole:
		return rbacv1.SchemeGroupVersion.WithKind("ClusterRole")
	case *rbacv1.ClusterRoleBinding:
		return rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding")
	}
	return obj.GetObjectKind().GroupVersionKind()
}

// nthIP returns the n-th address of a network.
func nthIP(n *net.IPNet, i int) net.IP {
	ip := make(net.IP, len(n.IP.To16()))
	copy(ip, n.IP.To16())
	for j := len(ip) - 1; j >= 0 && i > 0; j-- {
		sum := int(ip[j]) + i
		ip[j] = byte(sum)
		i = sum >> 8
	}
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}
