// Package endpointslice keeps the EndpointSlices of every Service with a
// selector: one endpoint per backing pod with its readiness, serving and
// terminating conditions, node and zone, grouped by address type and
// resolved port set into slices of at most 100. A change rewrites only the
// slices it touches; slices other managers own are left alone.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/endpoints"
)

// ManagedBy is the value of the managed-by label on the slices this
// controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is how many endpoints one slice holds.
const MaxEndpointsPerSlice = 100

const workers = 4

// Controller reconciles EndpointSlices.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger

	svcLister   corelisters.ServiceLister
	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	sliceLister discoverylisters.EndpointSliceLister
	queue       *controller.Queue
	// exp holds slices created and not yet seen by the informer, so a
	// lagging cache does not create them twice.
	exp *controller.Expectations
}

// New returns an EndpointSlice controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "endpointslice"), exp: controller.NewExpectations(c.Clock)}
}

// Run reconciles EndpointSlices until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("endpointslice")
	svcInf := c.ctx.Informers.Core().V1().Services()
	podInf := c.ctx.Informers.Core().V1().Pods()
	nodeInf := c.ctx.Informers.Core().V1().Nodes()
	sliceInf := c.ctx.Informers.Discovery().V1().EndpointSlices()
	c.svcLister, c.podLister, c.nodeLister, c.sliceLister = svcInf.Lister(), podInf.Lister(), nodeInf.Lister(), sliceInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: svcInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addPod,
			UpdateFunc: c.updatePod,
			DeleteFunc: c.deletePod,
		}},
		controller.Watch{Informer: nodeInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{}},
		controller.Watch{Informer: sliceInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if key, ok := serviceKey(obj); ok {
					c.exp.Created(key)
					c.queue.Add(key)
				}
			},
			UpdateFunc: func(_, obj any) { c.enqueueSlice(obj) },
			DeleteFunc: c.enqueueSlice,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// serviceKey returns the key of the Service a managed slice belongs to.
func serviceKey(obj any) (string, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return "", false
	}
	return s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName], true
}

func (c *Controller) enqueueSlice(obj any) {
	if key, ok := serviceKey(obj); ok {
		c.queue.Add(key)
	}
}

func (c *Controller) addPod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		for _, k := range endpoints.ServicesForPod(c.svcLister, pod) {
			c.queue.Add(k)
		}
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || !endpoints.PodChanged(old, pod) {
		return
	}
	for _, k := range endpoints.ServicesForPod(c.svcLister, pod) {
		c.queue.Add(k)
	}
	if !labels.Equals(old.Labels, pod.Labels) {
		for _, k := range endpoints.ServicesForPod(c.svcLister, old) {
			c.queue.Add(k)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	if pod, ok := controller.PodFromTombstone(obj); ok {
		for _, k := range endpoints.ServicesForPod(c.svcLister, pod) {
			c.queue.Add(k)
		}
	}
}

// reconcile brings the slices of one Service to what its pods say. A
// Service that is gone or being deleted is left to the garbage collector.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !endpoints.ServiceSelects(svc) || svc.DeletionTimestamp != nil || !c.exp.Satisfied(key) {
		return nil
	}
	pods, err := c.podLister.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	existing, err := c.sliceLister.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ManagedBy,
	}))
	if err != nil {
		return err
	}
	p := Plan(svc, Desired(svc, pods, c.zone), existing, MaxEndpointsPerSlice)
	return c.apply(ctx, key, p)
}

func (c *Controller) zone(node string) string {
	n, err := c.nodeLister.Get(node)
	if err != nil {
		return ""
	}
	return n.Labels[corev1.LabelTopologyZone]
}

func (c *Controller) apply(ctx context.Context, key string, p Changes) error {
	slices := c.client.DiscoveryV1().EndpointSlices
	var errs []error
	for _, s := range p.Delete {
		uid := s.UID
		err := slices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting endpointslice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	for _, s := range p.Update {
		if _, err := slices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("updating endpointslice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	if len(p.Create) > 0 {
		c.exp.ExpectCreates(key, len(p.Create))
	}
	for _, s := range p.Create {
		if _, err := slices(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			c.exp.Created(key)
			errs = append(errs, fmt.Errorf("creating endpointslice for %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
