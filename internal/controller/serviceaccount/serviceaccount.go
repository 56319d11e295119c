// Package serviceaccount makes sure every namespace that is not being
// deleted has a ServiceAccount named "default", creating it with the
// namespace and again whenever it is deleted.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

// Name is the ServiceAccount every namespace gets.
const Name = "default"

const workers = 2

// Controller keeps the default ServiceAccounts.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger

	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	queue    *controller.Queue
}

// New returns a ServiceAccount controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "serviceaccount")}
}

// Run keeps the default ServiceAccounts until ctx ends. Queue keys are
// namespace names.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("serviceaccount")
	nsInf := c.ctx.Informers.Core().V1().Namespaces()
	saInf := c.ctx.Informers.Core().V1().ServiceAccounts()
	c.nsLister, c.saLister = nsInf.Lister(), saInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: nsInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.queue.Enqueue,
			UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
		}},
		controller.Watch{Informer: saInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == Name {
					c.queue.Add(sa.Namespace)
				}
			},
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// reconcile creates the default ServiceAccount of namespace ns if it is
// missing and the namespace is active.
func (c *Controller) reconcile(ctx context.Context, ns string) error {
	n, err := c.nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(ns).Get(Name); err == nil {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns}}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	}
	return fmt.Errorf("creating service account %s/%s: %w", ns, Name, err)
}
