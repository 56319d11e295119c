package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
	"github.com/bosun-sh/bosun/internal/dns"
	"github.com/bosun-sh/bosun/internal/pki"
)

// The cluster DNS Service keeps kube-dns' name and labels, so manifests and
// tools that look for kube-system/kube-dns find it.
const (
	dnsServiceName      = "kube-dns"
	dnsServiceNamespace = "kube-system"
	// dnsManagedBy marks the EndpointSlice as written by the server, so the
	// endpointslice controller (which only owns its own slices) leaves it.
	dnsManagedBy = "bosun-server"
)

// startDNS serves cluster DNS from this server process rather than from
// every node: one set of Service and EndpointSlice informers per cluster
// server instead of one per node, and nodes that join later are answered
// without running anything of their own. Pods reach it through the
// kube-dns Service, whose endpoint is this server's advertise address.
//
// A port already in use is logged and DNS is left off: the API server
// must not go down because another process (or another server on the
// same host) holds the DNS port.
func startDNS(ctx context.Context, wg *sync.WaitGroup, serverURL string, b *pki.Bundle, cfg Config, advertise net.IP, log *slog.Logger) error {
	rc, err := componentConfig(serverURL, b, rbac.DNSUser, nil, "bosun-dns", 50, 100)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	// The DNS server only reads; writing kube-dns is the server's own
	// business, under its own client, so the reader can stay read-only.
	wc, err := componentConfig(serverURL, b, apiserverUser, []string{user.SystemPrivilegedGroup}, "bosun-server", 5, 10)
	if err != nil {
		return err
	}
	writer, err := kubernetes.NewForConfig(wc)
	if err != nil {
		return err
	}
	log = log.With("component", "dns")
	srv, err := dns.New(client, dns.Config{Domain: cfg.ClusterDomain, Logger: log})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("", strconv.Itoa(cfg.DNSPort))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		log.Error("cluster DNS is off: cannot listen", "addr", addr, "err", err)
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)))
	if err != nil {
		pc.Close()
		log.Error("cluster DNS is off: cannot listen", "addr", addr, "err", err)
		return nil
	}
	port := int32(pc.LocalAddr().(*net.UDPAddr).Port)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, pc, ln); err != nil && ctx.Err() == nil {
			log.Error("cluster DNS stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		ensureDNSService(ctx, writer, net.ParseIP(cfg.ClusterDNS), advertise, port, log)
	}()
	return nil
}

// dnsResync is how often the kube-dns objects are checked again, so one
// deleted or edited by hand comes back, as the API server does for the
// kubernetes Service.
const dnsResync = time.Minute

// ensureDNSService keeps the kube-dns Service, Endpoints and EndpointSlice
// as they should be until ctx ends: at once, every dnsResync, and every
// second while writing them fails.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, clusterIP, addr net.IP, port int32, log *slog.Logger) {
	var lastErr string
	for {
		wait := dnsResync
		err := writeDNSService(ctx, client, clusterIP, addr, port)
		var taken *clusterIPTakenError
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			lastErr = ""
		case err.Error() == lastErr:
			// Said already; a failure repeating every second is noise.
		case errors.As(err, &taken):
			// Pods are told to use this address regardless; say loudly
			// why their lookups go elsewhere, and keep serving.
			lastErr = err.Error()
			log.Error("cluster DNS address is held by another Service; pods will not reach DNS until it is freed or --cluster-dns changes", "clusterIP", clusterIP, "service", taken.holder)
		default:
			lastErr = err.Error()
			log.Warn("writing the kube-dns Service", "err", err)
		}
		if err != nil && taken == nil {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

type clusterIPTakenError struct {
	ip     string
	holder string
	err    error
}

func (e *clusterIPTakenError) Error() string {
	return fmt.Sprintf("cluster IP %s is held by %s: %v", e.ip, e.holder, e.err)
}

func (e *clusterIPTakenError) Unwrap() error { return e.err }

// writeDNSService creates or updates kube-system/kube-dns with clusterIP,
// and points its Endpoints and EndpointSlice at addr:port. It is
// idempotent; a kube-dns Service with another ClusterIP (after
// --cluster-dns changed) is recreated, as a ClusterIP cannot be changed.
func writeDNSService(ctx context.Context, client kubernetes.Interface, clusterIP, addr net.IP, port int32) error {
	labels := map[string]string{
		"k8s-app":                       "kube-dns",
		"kubernetes.io/cluster-service": "true",
		"kubernetes.io/name":            "DNS",
	}
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: dnsServiceName, Namespace: dnsServiceNamespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(port)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(port)},
			},
		},
	}
	services := client.CoreV1().Services(dnsServiceNamespace)
	cur, err := services.Get(ctx, dnsServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		err = createDNSService(ctx, client, want)
	case err != nil:
	case cur.Spec.ClusterIP != want.Spec.ClusterIP:
		uid := cur.UID
		err = services.Delete(ctx, dnsServiceName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err == nil || apierrors.IsNotFound(err) {
			err = createDNSService(ctx, client, want)
		}
	case !maps.Equal(cur.Labels, labels) || len(cur.Spec.Selector) > 0 || !apiequality.Semantic.DeepEqual(cur.Spec.Ports, want.Spec.Ports):
		next := cur.DeepCopy()
		next.Labels = labels
		next.Spec.Ports = want.Spec.Ports
		next.Spec.Selector = nil
		_, err = services.Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("service %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
	}

	epLabels := map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
	for k, v := range labels {
		epLabels[k] = v
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: dnsServiceName, Namespace: dnsServiceNamespace, Labels: epLabels},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports: []corev1.EndpointPort{
				{Name: "dns", Port: port, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: port, Protocol: corev1.ProtocolTCP},
			},
		}},
	}
	endpoints := client.CoreV1().Endpoints(dnsServiceNamespace)
	if cur, err := endpoints.Get(ctx, dnsServiceName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = endpoints.Create(ctx, ep, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpoints %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
		}
	} else if err != nil {
		return fmt.Errorf("endpoints %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
	} else if !maps.Equal(cur.Labels, ep.Labels) || !apiequality.Semantic.DeepEqual(cur.Subsets, ep.Subsets) {
		ep.ResourceVersion = cur.ResourceVersion
		if _, err := endpoints.Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("endpoints %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
		}
	}

	sliceLabels := map[string]string{
		discoveryv1.LabelServiceName: dnsServiceName,
		discoveryv1.LabelManagedBy:   dnsManagedBy,
	}
	for k, v := range labels {
		sliceLabels[k] = v
	}
	ready := true
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	udpName, tcpName := "dns", "dns-tcp"
	addrType := discoveryv1.AddressTypeIPv4
	if addr.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: dnsServiceName, Namespace: dnsServiceNamespace, Labels: sliceLabels},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: &udpName, Protocol: &udp, Port: &port},
			{Name: &tcpName, Protocol: &tcp, Port: &port},
		},
	}
	slices := client.DiscoveryV1().EndpointSlices(dnsServiceNamespace)
	if cur, err := slices.Get(ctx, dnsServiceName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpointslice %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
		}
	} else if err != nil {
		return fmt.Errorf("endpointslice %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
	} else if !maps.Equal(cur.Labels, slice.Labels) || cur.AddressType != slice.AddressType ||
		!apiequality.Semantic.DeepEqual(cur.Endpoints, slice.Endpoints) || !apiequality.Semantic.DeepEqual(cur.Ports, slice.Ports) {
		slice.ResourceVersion = cur.ResourceVersion
		if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("endpointslice %s/%s: %w", dnsServiceNamespace, dnsServiceName, err)
		}
	}
	return nil
}

// createDNSService creates svc; when its ClusterIP is held by another
// Service it reports which one as a *clusterIPTakenError.
func createDNSService(ctx context.Context, client kubernetes.Interface, svc *corev1.Service) error {
	_, err := client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsConflict(err) {
		return err
	}
	list, lerr := client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return err
	}
	for _, s := range list.Items {
		for _, ip := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
			if ip == svc.Spec.ClusterIP {
				return &clusterIPTakenError{ip: ip, holder: s.Namespace + "/" + s.Name, err: err}
			}
		}
	}
	return err
}
