// Package garbagecollector deletes objects whose owners are gone and
// carries out the Foreground and Orphan deletion policies. It keeps a graph
// of ownerReferences over every listable, deletable resource the API
// server discovers, fed by metadata-only informers (owners, finalizers
// and deletion are all it reads), and reconciles one object (by UID) at a
// time.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/bosun-sh/bosun/internal/controller"
)

// errWaiting is returned by reconcile while an owner in foreground
// deletion still has blocking dependents.
var errWaiting = errors.New("waiting for dependents")

const (
	workers          = 4
	rediscoverPeriod = 30 * time.Second
	syncTimeout      = 30 * time.Second
)

// Controller is the garbage collector.
type Controller struct {
	dynamic   dynamic.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	log       *slog.Logger

	graph *graph
	queue workqueue.TypedRateLimitingInterface[types.UID]

	mu      sync.Mutex
	absent  map[types.UID]bool // owners confirmed gone; UIDs are never reused
	watched map[schema.GroupVersionResource]bool
}

// New returns a garbage collector using c's clients.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	disc := c.Client.Discovery()
	return &Controller{
		dynamic:   c.Dynamic,
		metadata:  c.Metadata,
		discovery: disc,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		log:       log.With("controller", "garbagecollector"),
		graph:     newGraph(),
		absent:    map[types.UID]bool{},
		watched:   map[schema.GroupVersionResource]bool{},
	}
}

// Run collects garbage until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](50*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbagecollector"})
	defer c.queue.ShutDown()
	factory := metadatainformer.NewSharedInformerFactory(c.metadata, 0)
	defer factory.Shutdown()
	if err := c.watchResources(ctx, factory); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	go func() {
		t := time.NewTicker(rediscoverPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.pruneAbsent()
				c.mapper.Reset()
				if err := c.watchResources(ctx, factory); err != nil && ctx.Err() == nil {
					c.log.Warn("rediscovering resources", "err", err)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// watchResources starts informers for resources not yet watched and
// waits for their caches.
func (c *Controller) watchResources(ctx context.Context, factory metadatainformer.SharedInformerFactory) error {
	lists, err := c.discovery.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return fmt.Errorf("discovering resources: %w", err)
	}
	var synced []cache.InformerSynced
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !collectable(gv, r) {
				continue
			}
			gvr := gv.WithResource(r.Name)
			gvk := gv.WithKind(r.Kind)
			c.mu.Lock()
			seen := c.watched[gvr]
			c.watched[gvr] = true
			c.mu.Unlock()
			if seen {
				continue
			}
			inf := factory.ForResource(gvr).Informer()
			reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { c.observe(gvr, gvk, obj) },
				UpdateFunc: func(_, obj any) { c.observe(gvr, gvk, obj) },
				DeleteFunc: func(obj any) { c.forget(obj) },
			})
			if err != nil {
				return err
			}
			synced = append(synced, reg.HasSynced)
		}
	}
	factory.Start(ctx.Done())
	// A resource whose list keeps failing must not stall collection for
	// all the others: wait a bounded time, then go on without it.
	wait, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(wait.Done(), synced...) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("some resource caches did not sync; collecting without them", "timeout", syncTimeout)
	}
	return nil
}

// collectable reports whether objects of r can have owners the collector
// acts for. Events are left out: they are many, short-lived and unowned.
func collectable(gv schema.GroupVersion, r metav1.APIResource) bool {
	if r.Name == "events" && (gv.Group == "" || gv.Group == "events.k8s.io") {
		return false
	}
	if slices.Contains([]string{"namespaces"}, r.Name) && gv.Group == "" {
		return false // the namespace controller owns their lifecycle
	}
	v := r.Verbs
	return slices.Contains(v, "list") && slices.Contains(v, "watch") && slices.Contains(v, "delete")
}

// observe records an object of gvr, whose kind is gvk: metadata-only
// objects carry no kind of their own.
func (c *Controller) observe(gvr schema.GroupVersionResource, gvk schema.GroupVersionKind, obj any) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	n := &node{
		gvr:        gvr,
		apiVersion: gvk.GroupVersion().String(),
		kind:       gvk.Kind,
		namespace:  m.GetNamespace(),
		name:       m.GetName(),
		uid:        m.GetUID(),
		owners:     m.GetOwnerReferences(),
		finalizers: m.GetFinalizers(),
		deleting:   m.GetDeletionTimestamp() != nil,
	}
	for _, o := range c.graph.upsert(n) {
		c.queue.Add(o) // an owner waiting on this dependent may be free now
	}
	if len(n.owners) > 0 || n.deleting {
		c.queue.Add(n.uid)
	}
	if n.deleting {
		for _, r := range n.owners {
			c.queue.Add(r.UID)
		}
	}
}

func (c *Controller) forget(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	owners, deps := c.graph.remove(m.GetUID())
	if len(deps) > 0 {
		c.mu.Lock()
		c.absent[m.GetUID()] = true
		c.mu.Unlock()
	}
	for _, u := range owners {
		c.queue.Add(u)
	}
	for _, u := range deps {
		c.queue.Add(u)
	}
}

// pruneAbsent forgets gone owners that no dependent names any more.
func (c *Controller) pruneAbsent() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid := range c.absent {
		if !c.graph.hasDependents(uid) {
			delete(c.absent, uid)
		}
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	uid, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(uid)
	err := c.reconcile(ctx, uid)
	switch {
	case err == nil:
		c.queue.Forget(uid)
	case errors.Is(err, errWaiting):
		c.queue.Forget(uid)
		c.queue.AddAfter(uid, 5*time.Second) // a dependent's deletion also requeues
	default:
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			c.log.Warn("reconcile", "uid", uid, "err", err)
		}
		c.queue.AddRateLimited(uid)
	}
	return true
}

// reconcile acts for one object: carries out its own Orphan or Foreground
// deletion, or deletes it (or drops references) when its owners are gone.
func (c *Controller) reconcile(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok {
		return nil
	}
	if n.deleting {
		switch {
		case n.hasFinalizer(metav1.FinalizerOrphanDependents):
			return c.orphanDependents(ctx, n)
		case n.hasFinalizer(metav1.FinalizerDeleteDependents):
			return c.deleteDependents(ctx, n)
		}
		return nil
	}
	if len(n.owners) == 0 {
		return nil
	}
	var gone []types.UID
	waiting := 0
	for _, r := range n.owners {
		state, err := c.ownerState(ctx, n, r)
		if err != nil {
			return err
		}
		switch state {
		case ownerAbsent:
			gone = append(gone, r.UID)
		case ownerDeletingForeground:
			waiting++
		}
	}
	switch {
	case len(gone) == 0:
		return nil // owners in foreground deletion delete this themselves
	case len(gone) == len(n.owners):
		return c.delete(ctx, n, metav1.DeletePropagationBackground)
	case len(gone)+waiting == len(n.owners):
		// Every remaining owner waits for its dependents.
		return c.delete(ctx, n, metav1.DeletePropagationForeground)
	default:
		return c.dropOwners(ctx, n, gone)
	}
}

type ownerStatus int

const (
	ownerPresent ownerStatus = iota
	ownerAbsent
	ownerDeletingForeground
)

// ownerState finds out whether the owner named by r exists, asking the
// API server when the graph has not seen it.
func (c *Controller) ownerState(ctx context.Context, dep node, r metav1.OwnerReference) (ownerStatus, error) {
	if o, ok := c.graph.get(r.UID); ok {
		if o.deleting && o.hasFinalizer(metav1.FinalizerDeleteDependents) {
			return ownerDeletingForeground, nil
		}
		return ownerPresent, nil
	}
	c.mu.Lock()
	gone := c.absent[r.UID]
	c.mu.Unlock()
	if gone {
		return ownerAbsent, nil
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return ownerAbsent, nil
	}
	mapping, err := c.mapper.RESTMapping(gv.WithKind(r.Kind).GroupKind(), gv.Version)
	if err != nil {
		// An unknown kind may be one discovery has not caught up with
		// (a new CRD): retry rather than delete on a guess.
		c.mapper.Reset()
		return ownerPresent, fmt.Errorf("owner %s %s of %s/%s: %w", r.APIVersion, r.Kind, dep.namespace, dep.name, err)
	}
	ri := c.dynamic.Resource(mapping.Resource)
	var obj metav1.Object
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if dep.namespace == "" {
			return ownerAbsent, nil // a cluster-scoped object cannot have a namespaced owner
		}
		obj, err = ri.Namespace(dep.namespace).Get(ctx, r.Name, metav1.GetOptions{})
	} else {
		obj, err = ri.Get(ctx, r.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) || (err == nil && obj.GetUID() != r.UID) {
		c.mu.Lock()
		c.absent[r.UID] = true
		c.mu.Unlock()
		return ownerAbsent, nil
	}
	if err != nil {
		return ownerPresent, err
	}
	if obj.GetDeletionTimestamp() != nil && slices.Contains(obj.GetFinalizers(), metav1.FinalizerDeleteDependents) {
		return ownerDeletingForeground, nil
	}
	return ownerPresent, nil
}

func (c *Controller) resource(n node) dynamic.ResourceInterface {
	if n.namespace == "" {
		return c.dynamic.Resource(n.gvr)
	}
	return c.dynamic.Resource(n.gvr).Namespace(n.namespace)
}

func (c *Controller) delete(ctx context.Context, n node, policy metav1.DeletionPropagation) error {
	uid := n.uid
	err := c.resource(n).Delete(ctx, n.name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or a new object under the same name
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}

// dropOwners removes the references to gone owners from n.
func (c *Controller) dropOwners(ctx context.Context, n node, gone []types.UID) error {
	return c.edit(ctx, n, func(m metav1.Object) bool {
		refs := m.GetOwnerReferences()
		keep := slices.DeleteFunc(slices.Clone(refs), func(r metav1.OwnerReference) bool { return slices.Contains(gone, r.UID) })
		if len(keep) == len(refs) {
			return false
		}
		m.SetOwnerReferences(keep)
		return true
	})
}

// edit applies change to the live object and writes it if change reports
// a difference, retrying on conflicts.
func (c *Controller) edit(ctx context.Context, n node, change func(metav1.Object) bool) error {
	ri := c.resource(n)
	for attempt := 0; ; attempt++ {
		obj, err := ri.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.GetUID() != n.uid || !change(obj) {
			return nil
		}
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
}

func (c *Controller) removeFinalizer(ctx context.Context, n node, f string) error {
	return c.edit(ctx, n, func(m metav1.Object) bool {
		fs := m.GetFinalizers()
		keep := slices.DeleteFunc(slices.Clone(fs), func(s string) bool { return s == f })
		if len(keep) == len(fs) {
			return false
		}
		m.SetFinalizers(keep)
		return true
	})
}

// orphanDependents removes owner's references from its dependents, then
// its orphan finalizer.
func (c *Controller) orphanDependents(ctx context.Context, owner node) error {
	var errs []error
	for _, d := range c.graph.dependentsOf(owner.uid) {
		errs = append(errs, c.dropOwners(ctx, d, []types.UID{owner.uid}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// deleteDependents deletes owner's dependents and, once none that block
// its deletion remain, removes its foregroundDeletion finalizer.
func (c *Controller) deleteDependents(ctx context.Context, owner node) error {
	var errs []error
	blocking := 0
	for _, d := range c.graph.dependentsOf(owner.uid) {
		r, ok := ownerRef(d.owners, owner.uid)
		if !ok {
			continue
		}
		if r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			blocking++
		}
		if d.deleting {
			continue
		}
		// Dependents with dependents of their own are deleted in the
		// foreground too, so that the whole tree is gone before owner.
		policy := metav1.DeletePropagationBackground
		if len(c.graph.dependentsOf(d.uid)) > 0 {
			policy = metav1.DeletePropagationForeground
		}
		errs = append(errs, c.delete(ctx, d, policy))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if blocking > 0 {
		return fmt.Errorf("%s %s/%s: %d dependents: %w", owner.gvr.Resource, owner.namespace, owner.name, blocking, errWaiting)
	}
	return c.removeFinalizer(ctx, owner, metav1.FinalizerDeleteDependents)
}
