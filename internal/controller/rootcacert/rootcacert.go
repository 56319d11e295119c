// Package rootcacert keeps a ConfigMap named kube-root-ca.crt in every
// namespace that is not being deleted, holding the cluster CA under the
// key ca.crt: pods read it through their service account volume to
// verify the API server. The ConfigMap is created with the namespace,
// again when deleted, and put back when edited.
package rootcacert

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/controller"
)

// Name is the ConfigMap every namespace gets, and Key its one entry.
const (
	Name = "kube-root-ca.crt"
	Key  = "ca.crt"
)

const workers = 2

// Controller keeps the kube-root-ca.crt ConfigMaps.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger
	ca     string

	nsLister corelisters.NamespaceLister
	cmLister corelisters.ConfigMapLister
	queue    *controller.Queue
}

// New returns a controller publishing caPEM, the cluster CA certificate
// in PEM, and sharing c's informers.
func New(c *controller.Context, caPEM []byte) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "root-ca-cert-publisher"), ca: string(caPEM)}
}

// Run keeps the ConfigMaps until ctx ends. Queue keys are namespace
// names.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("root-ca-cert-publisher")
	nsInf := c.ctx.Informers.Core().V1().Namespaces()
	c.nsLister = nsInf.Lister()
	// Only the one ConfigMap per namespace matters; watching every
	// ConfigMap of the cluster would cache them all for nothing.
	cmInf := coreinformers.NewFilteredConfigMapInformer(c.client, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", Name).String()
		})
	c.cmLister = corelisters.NewConfigMapLister(cmInf.GetIndexer())
	go cmInf.Run(ctx.Done())
	enqueueNamespace := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == Name {
			c.queue.Add(cm.Namespace)
		}
	}
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: nsInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.queue.Enqueue,
			UpdateFunc: func(_, obj any) { c.queue.Enqueue(obj) },
		}},
		controller.Watch{Informer: cmInf, Handler: cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, obj any) { enqueueNamespace(obj) },
			DeleteFunc: enqueueNamespace,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// reconcile makes namespace ns's kube-root-ca.crt hold exactly the CA,
// unless the namespace is gone or being deleted.
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
	want := map[string]string{Key: c.ca}
	cm, err := c.cmLister.ConfigMaps(ns).Get(Name)
	if apierrors.IsNotFound(err) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns}, Data: want}
		_, err = c.client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			return nil
		}
		return fmt.Errorf("creating %s/%s: %w", ns, Name, err)
	}
	if err != nil {
		return err
	}
	if len(cm.Data) == 1 && cm.Data[Key] == c.ca && len(cm.BinaryData) == 0 {
		return nil
	}
	fixed := cm.DeepCopy()
	fixed.Data, fixed.BinaryData = want, nil
	_, err = c.client.CoreV1().ConfigMaps(ns).Update(ctx, fixed, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted meanwhile: the delete event brings it back.
		return nil
	}
	if err != nil {
		return fmt.Errorf("updating %s/%s: %w", ns, Name, err)
	}
	return nil
}
