// Package servicelb is the cluster's built-in load balancer for Services
// of type LoadBalancer that name no loadBalancerClass: it publishes the
// InternalIP of every Ready, schedulable node in the Service's
// status.loadBalancer.ingress, where every node's service proxy answers
// on the service's ports, and clears the status when the Service stops
// being such a load balancer.
package servicelb

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

// excludeLabel keeps a node out of every load balancer, as in
// Kubernetes.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

const workers = 2

// Controller keeps the load balancer status of Services.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger

	svcLister  corelisters.ServiceLister
	nodeLister corelisters.NodeLister
	queue      *controller.Queue
}

// New returns a load balancer controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "servicelb")}
}

// Run keeps the status of Services until ctx ends. Queue keys are
// Service keys; a node change requeues every Service that has or should
// have a load balancer status.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("servicelb")
	svcInf := c.ctx.Informers.Core().V1().Services()
	nodeInf := c.ctx.Informers.Core().V1().Nodes()
	c.svcLister, c.nodeLister = svcInf.Lister(), nodeInf.Lister()
	nodeChanged := func(any) { c.enqueueBalanced() }
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: svcInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.queue.Enqueue,
			UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
		}},
		controller.Watch{Informer: nodeInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: nodeChanged,
			UpdateFunc: func(old, obj any) {
				o, ok1 := old.(*corev1.Node)
				n, ok2 := obj.(*corev1.Node)
				// Heartbeats change nodes every few seconds; only what
				// decides the addresses is worth a pass over all Services.
				if !ok1 || !ok2 || !slices.Equal(nodeIPs([]*corev1.Node{o}), nodeIPs([]*corev1.Node{n})) {
					c.enqueueBalanced()
				}
			},
			DeleteFunc: nodeChanged,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) enqueueBalanced() {
	svcs, err := c.svcLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if ours(s) || len(s.Status.LoadBalancer.Ingress) > 0 {
			c.queue.Enqueue(s)
		}
	}
}

// ours reports whether svc is a load balancer this controller serves.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// reconcile writes the load balancer status Service key should have.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	switch {
	case ours(svc):
		nodes, err := c.nodeLister.List(labels.Everything())
		if err != nil {
			return err
		}
		for _, ip := range nodeIPs(nodes) {
			want = append(want, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: new(corev1.LoadBalancerIPModeVIP)})
		}
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		return nil // another implementation's
	}
	if apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) || len(svc.Status.LoadBalancer.Ingress) == 0 && len(want) == 0 {
		return nil
	}
	up := svc.DeepCopy()
	up.Status.LoadBalancer.Ingress = want
	_, err = c.client.CoreV1().Services(ns).UpdateStatus(ctx, up, metav1.UpdateOptions{})
	switch {
	case err == nil:
		c.log.Info("load balancer status", "service", key, "ingress", len(want))
		return nil
	case apierrors.IsNotFound(err):
		return nil
	}
	// A conflict means a newer Service is on its way through the
	// informer; the retry reconciles that one.
	return fmt.Errorf("updating load balancer status of %s: %w", key, err)
}

// nodeIPs returns the IPv4 InternalIPs of the Ready, schedulable nodes
// not excluded from load balancers, sorted and without duplicates.
func nodeIPs(nodes []*corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		if n == nil || n.Spec.Unschedulable || n.DeletionTimestamp != nil || !ready(n) {
			continue
		}
		if _, excluded := n.Labels[excludeLabel]; excluded {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			// The proxy programs IPv4 only; an IPv6 address would be
			// published without anything answering on it.
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
				out = append(out, ip)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
