// Package nodeipam gives every Node a pod range: a /24 (or the size
// asked for) carved out of the cluster CIDR, written once into
// spec.podCIDR and spec.podCIDRs. Node agents build their pod networks
// from it. Ranges already set on nodes — by this loop, by hand or by
// simulated nodes — are never handed out again.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

// Controller allocates node pod ranges.
type Controller struct {
	ctx   *controller.Context
	log   *slog.Logger
	alloc *Allocator
	nodes corelisters.NodeLister
	queue *controller.Queue

	// assigned remembers the ranges this loop wrote until the informer
	// shows them: a node update already queued must not get a second one.
	mu       sync.Mutex
	assigned map[string]string
}

// New returns a controller carving node ranges of maskBits out of cluster.
func New(c *controller.Context, cluster netip.Prefix, maskBits int) (*Controller, error) {
	a, err := NewAllocator(cluster, maskBits)
	if err != nil {
		return nil, err
	}
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, alloc: a, log: log.With("controller", "nodeipam"), assigned: map[string]string{}}, nil
}

// Run allocates until ctx ends. Queue keys are node names.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("nodeipam")
	inf := c.ctx.Informers.Core().V1().Nodes()
	c.nodes = inf.Lister()
	remove, err := c.ctx.Sync(ctx, controller.Watch{Informer: inf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.Enqueue,
		UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.alloc.Release(n.Spec.PodCIDRs)
				c.mu.Lock()
				delete(c.assigned, n.Name)
				c.mu.Unlock()
			}
		},
	}})
	if err != nil {
		return err
	}
	defer remove()
	// Every range in use is known before the first allocation.
	all, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range all {
		c.alloc.Occupy(n.Spec.PodCIDRs)
	}
	return c.queue.Run(ctx, 1, c.log, time.Second, c.reconcile)
}

func (c *Controller) reconcile(ctx context.Context, name string) error {
	n, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	_, pending := c.assigned[name]
	if len(n.Spec.PodCIDRs) > 0 || n.Spec.PodCIDR != "" {
		delete(c.assigned, name)
	}
	c.mu.Unlock()
	if len(n.Spec.PodCIDRs) > 0 || n.Spec.PodCIDR != "" {
		c.alloc.Occupy(n.Spec.PodCIDRs)
		return nil
	}
	if pending {
		return nil
	}
	p, err := c.alloc.Next()
	if err != nil {
		c.log.Warn("no pod range left for node", "node", name, "err", err)
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": p.String(), "podCIDRs": []string{p.String()}}})
	if _, err := c.ctx.Client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		c.alloc.Release([]string{p.String()})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("node %s: setting pod range %s: %w", name, p, err)
	}
	c.mu.Lock()
	c.assigned[name] = p.String()
	c.mu.Unlock()
	c.log.Info("assigned pod range", "node", name, "podCIDR", p.String())
	return nil
}

// Allocator hands out fixed-size ranges of a cluster prefix.
type Allocator struct {
	mu      sync.Mutex
	cluster netip.Prefix
	bits    int
	used    map[netip.Prefix]bool
	next    uint64
	count   uint64
}

// NewAllocator returns an allocator of /bits ranges inside cluster.
func NewAllocator(cluster netip.Prefix, bits int) (*Allocator, error) {
	cluster = cluster.Masked()
	if bits < cluster.Bits() || bits > cluster.Addr().BitLen()-2 {
		return nil, fmt.Errorf("node range /%d does not fit in cluster range %s", bits, cluster)
	}
	if bits-cluster.Bits() > 32 {
		return nil, fmt.Errorf("node range /%d in %s: too many ranges", bits, cluster)
	}
	return &Allocator{cluster: cluster, bits: bits, used: map[netip.Prefix]bool{}, count: 1 << (bits - cluster.Bits())}, nil
}

// Occupy marks ranges as taken; ones outside the cluster range are ignored.
func (a *Allocator) Occupy(cidrs []string) { a.mark(cidrs, true) }

// Release frees ranges.
func (a *Allocator) Release(cidrs []string) { a.mark(cidrs, false) }

func (a *Allocator) mark(cidrs []string, used bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Bits() != a.bits || !a.cluster.Contains(p.Addr()) {
			continue
		}
		if used {
			a.used[p.Masked()] = true
		} else {
			delete(a.used, p.Masked())
		}
	}
}

// Next returns a free range, searching round-robin from the last one
// handed out so that a released range is not reused at once.
func (a *Allocator) Next() (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range a.count {
		i := a.next
		a.next = (a.next + 1) % a.count
		p := a.nth(i)
		if !a.used[p] {
			a.used[p] = true
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("all %d ranges of /%d in %s are in use", a.count, a.bits, a.cluster)
}

// nth is the i-th /bits range of the cluster prefix.
func (a *Allocator) nth(i uint64) netip.Prefix {
	base := a.cluster.Addr().AsSlice()
	n := new(big.Int).SetBytes(base)
	n.Add(n, new(big.Int).Lsh(new(big.Int).SetUint64(i), uint(len(base)*8-a.bits)))
	b := n.FillBytes(make([]byte, len(base)))
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, a.bits)
}
