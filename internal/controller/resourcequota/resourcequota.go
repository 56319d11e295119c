// Package resourcequota keeps every ResourceQuota's status current:
// status.hard copies spec.hard, and status.used is recounted from the
// objects in the quota's namespace with the same measures the API server's
// quota admission charges. The API server adds to status.used as objects
// are created; this loop gives back what deleted, finished or shrunk
// objects held, fills in new quotas, and corrects any overcharge (a create
// charged but never written) on a periodic full recount.
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	quota "github.com/bosun-sh/bosun/internal/admission/resourcequota"
	"github.com/bosun-sh/bosun/internal/controller"
)

const workers = 2

// DefaultResync is how often every quota is recounted in full, as
// kube-controller-manager's --resource-quota-sync-period.
const DefaultResync = 5 * time.Minute

// Options tunes the controller.
type Options struct {
	// Resync is the period of the full recount; 0 means DefaultResync.
	Resync time.Duration
}

// Controller keeps ResourceQuota status.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	log    *slog.Logger
	resync time.Duration

	quotas corelisters.ResourceQuotaLister
	pods   corelisters.PodLister
	svcs   corelisters.ServiceLister
	pvcs   corelisters.PersistentVolumeClaimLister
	counts *counter
	queue  *controller.Queue
}

// New returns a quota controller sharing c's informers. Objects other than
// pods, services and claims are counted from metadata-only informers
// started when a quota first asks for their kind; without c.Metadata they
// are not counted.
func New(c *controller.Context, o Options) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	if o.Resync == 0 {
		o.Resync = DefaultResync
	}
	return &Controller{ctx: c, client: c.Client, log: log.With("controller", "resourcequota"), resync: o.Resync}
}

// Run keeps quota status until ctx ends. Queue keys are quota
// namespace/name keys.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("resourcequota")
	inf := c.ctx.Informers.Core().V1()
	qInf, podInf, svcInf, pvcInf := inf.ResourceQuotas(), inf.Pods(), inf.Services(), inf.PersistentVolumeClaims()
	c.quotas, c.pods, c.svcs, c.pvcs = qInf.Lister(), podInf.Lister(), svcInf.Lister(), pvcInf.Lister()
	c.counts = newCounter(ctx, c.client.Discovery(), c.ctx.Metadata, c.ctx.Clock, func(gr schema.GroupResource, ns string) {
		c.enqueueNamespace(gr, ns)
	})
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: qInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: c.queue.Enqueue,
			UpdateFunc: func(old, cur any) {
				if needsSync(old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)) {
					c.queue.Enqueue(cur)
				}
			},
		}},
		controller.Watch{Informer: podInf.Informer(), Handler: c.released(quota.Pods)},
		controller.Watch{Informer: svcInf.Informer(), Handler: c.released(quota.Services)},
		controller.Watch{Informer: pvcInf.Informer(), Handler: c.released(quota.PersistentVolumeClaims)},
	)
	if err != nil {
		return err
	}
	defer remove()
	go c.resyncEvery(ctx)
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// needsSync reports whether a quota update is one this loop must act on:
// a new spec, or a status whose hard limits are not yet the spec's.
// Charges the API server adds to status.used are not: recounting then
// would race the creates being charged.
func needsSync(old, cur *corev1.ResourceQuota) bool {
	return !apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) || !sameList(cur.Spec.Hard, cur.Status.Hard)
}

// released returns the handler that recounts a namespace's quotas when an
// object of gr goes away or changes what it uses. Creates need nothing:
// the API server charged them.
func (c *Controller) released(gr schema.GroupResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(runtime.Object)
			n, ok2 := cur.(runtime.Object)
			if !ok1 || !ok2 {
				return
			}
			now := c.ctx.Clock.Now()
			ou, err1 := quota.Usage(gr, o, now)
			nu, err2 := quota.Usage(gr, n, now)
			if err1 != nil || err2 != nil || sameList(ou, nu) {
				return
			}
			if m, ok := cur.(metav1.Object); ok {
				c.enqueueNamespace(gr, m.GetNamespace())
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				c.enqueueNamespace(gr, m.GetNamespace())
			}
		},
	}
}

// enqueueNamespace queues the quotas of ns that count objects of gr.
func (c *Controller) enqueueNamespace(gr schema.GroupResource, ns string) {
	qs, err := c.quotas.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		for n := range q.Spec.Hard {
			if t, ok := quota.Tracked(n); ok && t == gr {
				c.queue.Enqueue(q)
				break
			}
		}
	}
}

// resyncEvery queues every quota each resync period.
func (c *Controller) resyncEvery(ctx context.Context) {
	t := c.ctx.Clock.NewTicker(c.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			qs, err := c.quotas.List(labels.Everything())
			if err != nil {
				continue
			}
			for _, q := range qs {
				c.queue.Enqueue(q)
			}
		}
	}
}

// reconcile recounts one quota and writes its status if it changed. The
// write carries the quota's resourceVersion, so a charge the API server
// made since the quota was read makes it fail with a conflict and retry.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, err := c.usage(ns, q)
	if err != nil {
		return err
	}
	if sameList(q.Status.Hard, q.Spec.Hard) && sameList(q.Status.Used, used) {
		return nil
	}
	next := q.DeepCopy()
	next.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy(), Used: used}
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating status of resource quota %s: %w", key, err)
	}
	return nil
}

// usage sums what the namespace's objects use of each resource the quota
// limits and this loop can count. Names no object counts towards, or of
// kinds the server does not serve, are left out.
func (c *Controller) usage(ns string, q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	byGR := map[schema.GroupResource][]corev1.ResourceName{}
	for n := range q.Spec.Hard {
		if gr, ok := quota.Tracked(n); ok {
			byGR[gr] = append(byGR[gr], n)
		}
	}
	now := c.ctx.Clock.Now()
	used := corev1.ResourceList{}
	for gr, names := range byGR {
		objs, err := c.objects(gr, ns)
		if errors.Is(err, errUnknownResource) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			used[n] = *resource.NewQuantity(0, resource.DecimalSI)
		}
		for _, obj := range objs {
			in, err := quota.InScope(&q.Spec, gr, obj)
			if err != nil {
				return nil, fmt.Errorf("quota %s/%s: %w", ns, q.Name, err)
			}
			if !in {
				continue
			}
			u, err := quota.Usage(gr, obj, now)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if v, ok := u[n]; ok {
					total := used[n]
					total.Add(v)
					used[n] = total
				}
			}
		}
	}
	return used, nil
}

// objects lists the namespace's objects of gr from the informer caches.
func (c *Controller) objects(gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	var out []runtime.Object
	switch gr {
	case quota.Pods:
		l, err := c.pods.Pods(ns).List(labels.Everything())
		for _, o := range l {
			out = append(out, o)
		}
		return out, err
	case quota.Services:
		l, err := c.svcs.Services(ns).List(labels.Everything())
		for _, o := range l {
			out = append(out, o)
		}
		return out, err
	case quota.PersistentVolumeClaims:
		l, err := c.pvcs.PersistentVolumeClaims(ns).List(labels.Everything())
		for _, o := range l {
			out = append(out, o)
		}
		return out, err
	}
	return c.counts.objects(gr, ns)
}

// sameList compares resource lists by value; nil and empty are the same.
func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for n, q := range a {
		if p, ok := b[n]; !ok || p.Cmp(q) != 0 {
			return false
		}
	}
	return true
}
