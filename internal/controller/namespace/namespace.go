// Package namespace finishes the deletion of namespaces: once a namespace
// is marked for deletion it deletes everything in it, then removes the
// "kubernetes" finalizer so the API server can remove the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrContentRemains is returned by reconcile while objects with
// finalizers still hold the namespace.
var ErrContentRemains = errors.New("namespace content remains")

// Controller deletes the content of terminating namespaces.
type Controller struct {
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	informers informers.SharedInformerFactory
	log       *slog.Logger
}

// New returns a controller using the given clients and the shared
// informer factory of the control loops.
func New(client kubernetes.Interface, dyn dynamic.Interface, inf informers.SharedInformerFactory, log *slog.Logger) *Controller {
	return &Controller{client: client, dynamic: dyn, discovery: client.Discovery(), informers: inf, log: log}
}

// Run watches namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	inf := c.informers.Core().V1().Namespaces().Informer()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 10*time.Second))
	defer q.ShutDown()
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			q.Add(ns.Name)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	c.informers.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		name, quit := q.Get()
		if quit {
			return ctx.Err()
		}
		err := c.reconcile(ctx, name)
		switch {
		case err == nil:
			q.Forget(name)
		case errors.Is(err, ErrContentRemains):
			q.AddAfter(name, time.Second)
		default:
			if ctx.Err() == nil {
				c.log.Warn("namespace deletion", "namespace", name, "err", err)
			}
			q.AddRateLimited(name)
		}
		q.Done(name)
	}
}

// reconcile deletes the content of one terminating namespace and, when it
// is empty, releases it.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	resources, err := c.namespacedResources()
	if err != nil {
		return err
	}
	remaining := 0
	for _, gvr := range resources {
		ri := c.dynamic.Resource(gvr).Namespace(name)
		if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s in %s: %w", gvr.Resource, name, err)
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if list != nil {
			remaining += len(list.Items)
		}
	}
	if remaining > 0 {
		return fmt.Errorf("%d objects in %s: %w", remaining, name, ErrContentRemains)
	}
	var keep []corev1.FinalizerName
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(ns.Spec.Finalizers) {
		return nil
	}
	ns.Spec.Finalizers = keep
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// namespacedResources lists every namespaced resource that can be
// listed and deleted, once per group in its preferred version.
func (c *Controller) namespacedResources() ([]schema.GroupVersionResource, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if hasVerbs(r.Verbs, "list", "deletecollection") {
				out = append(out, gv.WithResource(r.Name))
			}
		}
	}
	return out, nil
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
