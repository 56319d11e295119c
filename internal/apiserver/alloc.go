package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-sh/bosun/internal/registry"
	"github.com/bosun-sh/bosun/internal/storage"
)

// Claim keys record which ClusterIPs and NodePorts are taken. They are
// written in the same transaction as the Service, so a crash never leaves
// an address allocated to nothing or two Services on one address.
const (
	ipClaimPrefix   = "/registry/ranges/serviceips/"
	portClaimPrefix = "/registry/ranges/servicenodeports/"
)

// allocation is what one write claims and releases.
type allocation struct {
	claimed  []string
	released []string
	// explicit is true when the client chose the values, so a taken claim
	// is the client's error rather than a race to retry.
	explicit bool
}

func (a *allocation) claims() []string {
	if a == nil {
		return nil
	}
	return a.claimed
}

func (a *allocation) conflictError(rs *resource, name string) error {
	errs := field.ErrorList{}
	for _, c := range a.claimed {
		switch {
		case strings.HasPrefix(c, ipClaimPrefix):
			ip := strings.TrimPrefix(c, ipClaimPrefix)
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), []string{ip}, "failed to allocate IP "+ip+": provided IP is already allocated"))
		case strings.HasPrefix(c, portClaimPrefix):
			port, _ := strconv.Atoi(strings.TrimPrefix(c, portClaimPrefix))
			errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Child("nodePort"), port, "provided port is already allocated"))
		}
	}
	if len(errs) > 1 {
		errs = field.ErrorList{field.Invalid(field.NewPath("spec"), "", "one of the requested cluster IPs or node ports is already allocated")}
	}
	return errInvalid(rs.served.GVK.GroupKind(), name, errs)
}

// claimsOf lists the claim keys an object holds.
func claimsOf(obj runtime.Object) []string {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	var out []string
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ipClaimPrefix+ip)
		}
	}
	seen := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !seen[p.NodePort] {
			seen[p.NodePort] = true
			out = append(out, portClaimPrefix+strconv.Itoa(int(p.NodePort)))
		}
	}
	return out
}

// allocate assigns ClusterIPs and NodePorts to a Service being created
// (old nil) or updated, returning the claims to write with it.
func (s *Server) allocate(ctx context.Context, obj, old runtime.Object) (*allocation, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return &allocation{}, nil
	}
	var prev *corev1.Service
	if old != nil {
		prev = old.(*corev1.Service)
	}
	a := &allocation{}
	var errs field.ErrorList
	if registry.ServiceNeedsClusterIP(svc) {
		if prev != nil && svc.Spec.ClusterIP == "" && registry.ServiceNeedsClusterIP(prev) {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = prev.Spec.ClusterIP, prev.Spec.ClusterIPs
		}
		if svc.Spec.ClusterIP == "" {
			ip, err := s.freeIP(ctx)
			if err != nil {
				return nil, err
			}
			svc.Spec.ClusterIP = ip
		} else if s.cfg.ServiceCIDR != nil {
			a.explicit = true
			ip := net.ParseIP(svc.Spec.ClusterIP)
			if ip == nil || !s.cfg.ServiceCIDR.Contains(ip) || ip.Equal(s.cfg.ServiceCIDR.IP) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), []string{svc.Spec.ClusterIP},
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", svc.Spec.ClusterIP, svc.Spec.ClusterIP, s.cfg.ServiceCIDR)))
			}
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	} else if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}
	if registry.ServiceNeedsNodePorts(svc) {
		used := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			used[p.NodePort] = true
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 && prev != nil {
				for _, op := range prev.Spec.Ports {
					if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 && !used[op.NodePort] {
						p.NodePort = op.NodePort
						used[op.NodePort] = true
					}
				}
			}
			if p.NodePort == 0 {
				port, err := s.freePort(ctx, used)
				if err != nil {
					return nil, err
				}
				p.NodePort = port
				used[port] = true
				continue
			}
			if int(p.NodePort) < s.cfg.NodePortMin || int(p.NodePort) > s.cfg.NodePortMax {
				errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.cfg.NodePortMin, s.cfg.NodePortMax)))
			}
			a.explicit = true
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if len(errs) > 0 {
		return nil, errInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	now := claimsOf(svc)
	var before []string
	if prev != nil {
		before = claimsOf(prev)
	}
	for _, c := range now {
		if !contains(before, c) {
			a.claimed = append(a.claimed, c)
		}
	}
	for _, c := range before {
		if !contains(now, c) {
			a.released = append(a.released, c)
		}
	}
	return a, nil
}

// freeIP picks a random unclaimed address of the service CIDR. The first
// address belongs to the kubernetes Service.
func (s *Server) freeIP(ctx context.Context) (string, error) {
	cidr := s.cfg.ServiceCIDR
	if cidr == nil {
		return "", errors.New("no service CIDR configured")
	}
	ones, bits := cidr.Mask.Size()
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits-ones)).Int64()
	if size > 1<<20 {
		size = 1 << 20
	}
	base := new(big.Int).SetBytes(cidr.IP.To16())
	for try := 0; try < 64; try++ {
		off := 2 + rand.Int64N(size-3) // skip network, .1, broadcast
		ip := net.IP(new(big.Int).Add(base, big.NewInt(off)).FillBytes(make([]byte, 16)))
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if _, err := s.store.Get(ctx, ipClaimPrefix+ip.String()); errors.Is(err, storage.ErrNotFound) {
			return ip.String(), nil
		} else if err != nil {
			return "", err
		}
	}
	return "", newStatus(500, "InternalError", "range is full: no ClusterIP available in "+cidr.String())
}

func (s *Server) freePort(ctx context.Context, used map[int32]bool) (int32, error) {
	n := s.cfg.NodePortMax - s.cfg.NodePortMin + 1
	for try := 0; try < 64; try++ {
		p := int32(s.cfg.NodePortMin + rand.IntN(n))
		if used[p] {
			continue
		}
		if _, err := s.store.Get(ctx, portClaimPrefix+strconv.Itoa(int(p))); errors.Is(err, storage.ErrNotFound) {
			return p, nil
		} else if err != nil {
			return 0, err
		}
	}
	return 0, newStatus(500, "InternalError", "range is full: no NodePort available")
}
