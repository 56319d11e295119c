package ingress

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// withAddresses returns the load-balancer entries of status with one
// {ip: a} for each of addrs added, sorted, and whether that changed
// anything. Entries other nodes wrote stay.
func withAddresses(current []networkingv1.IngressLoadBalancerIngress, addrs []netip.Addr) ([]networkingv1.IngressLoadBalancerIngress, bool) {
	out := slices.Clone(current)
	for _, a := range addrs {
		ip := a.String()
		if !slices.ContainsFunc(out, func(e networkingv1.IngressLoadBalancerIngress) bool { return e.IP == ip }) {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
		}
	}
	slices.SortStableFunc(out, compareLBIngress)
	changed := len(out) != len(current)
	for i := 0; !changed && i < len(out); i++ {
		changed = out[i].IP != current[i].IP || out[i].Hostname != current[i].Hostname
	}
	return out, changed
}

// compareLBIngress orders IPs numerically (so 10.0.0.9 comes before
// 10.0.0.10), then hostnames.
func compareLBIngress(a, b networkingv1.IngressLoadBalancerIngress) int {
	pa, ea := netip.ParseAddr(a.IP)
	pb, eb := netip.ParseAddr(b.IP)
	if ea == nil && eb == nil {
		if c := pa.Compare(pb); c != 0 {
			return c
		}
	} else if c := strings.Compare(a.IP, b.IP); c != 0 {
		return c
	}
	return strings.Compare(a.Hostname, b.Hostname)
}

// ensureStatus writes addrs into an Ingress' status unless they are all
// there already, re-reading the Ingress when another node's write got in
// first.
func ensureStatus(ctx context.Context, client kubernetes.Interface, ing *networkingv1.Ingress, addrs []netip.Addr) error {
	if _, changed := withAddresses(ing.Status.LoadBalancer.Ingress, addrs); !changed {
		return nil
	}
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := ing
		if !first {
			var err error
			cur, err = client.NetworkingV1().Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
		}
		first = false
		lb, changed := withAddresses(cur.Status.LoadBalancer.Ingress, addrs)
		if !changed {
			return nil
		}
		upd := cur.DeepCopy()
		upd.Status.LoadBalancer.Ingress = lb
		_, err := client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("ingress %s/%s status: %w", ing.Namespace, ing.Name, err)
	}
	return nil
}
