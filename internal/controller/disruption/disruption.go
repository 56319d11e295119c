// Package disruption keeps the status of each PodDisruptionBudget: how
// many of its pods are expected, must stay healthy and are healthy, and
// so how many evictions the API server may grant now. It also retires the
// entries the API server adds to status.disruptedPods once the evicted
// pod is seen going away, or after a timeout.
package disruption

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

const workers = 2

// Controller reconciles PodDisruptionBudget status.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	scales    scales
	queue     *controller.Queue
}

// New returns a disruption controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("controllermanager"),
		clock:    c.Clock,
		log:      log.With("controller", "disruption"),
	}
}

// Run reconciles budgets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("disruption")
	inf := c.ctx.Informers
	pdbInf := inf.Policy().V1().PodDisruptionBudgets()
	podInf := inf.Core().V1().Pods()
	rsInf := inf.Apps().V1().ReplicaSets()
	dInf := inf.Apps().V1().Deployments()
	ssInf := inf.Apps().V1().StatefulSets()
	c.pdbLister, c.podLister = pdbInf.Lister(), podInf.Lister()
	c.scales = scales{
		rs: rsInf.Lister(), deploy: dInf.Lister(), sts: ssInf.Lister(),
		rc: func(ns, name string) (*corev1.ReplicationController, error) {
			return c.client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
		},
	}
	scaleChange := cache.ResourceEventHandlerFuncs{UpdateFunc: c.updateWorkload}
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: pdbInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.enqueueForPod(obj) },
			UpdateFunc: c.updatePod,
			DeleteFunc: func(obj any) { c.enqueueForPod(obj) },
		}},
		controller.Watch{Informer: rsInf.Informer(), Handler: scaleChange},
		controller.Watch{Informer: dInf.Informer(), Handler: scaleChange},
		controller.Watch{Informer: ssInf.Informer(), Handler: scaleChange})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// enqueueMatching queues every budget in ns whose selector matches set.
func (c *Controller) enqueueMatching(ns string, set labels.Set) {
	pdbs, err := c.pdbLister.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if selects(pdb, set) {
			c.queue.Add(ns + "/" + pdb.Name)
		}
	}
}

// selects reports whether pdb's selector matches set: a nil selector
// matches nothing, an empty one everything.
func selects(pdb *policyv1.PodDisruptionBudget, set labels.Set) bool {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	return err == nil && sel.Matches(set)
}

func (c *Controller) enqueueForPod(obj any) {
	if p, ok := controller.PodFromTombstone(obj); ok {
		c.enqueueMatching(p.Namespace, p.Labels)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	p, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == p.ResourceVersion {
		return
	}
	c.enqueueMatching(p.Namespace, p.Labels)
	if !labels.Equals(old.Labels, p.Labels) {
		c.enqueueMatching(old.Namespace, old.Labels)
	}
}

// updateWorkload queues the budgets over a workload's pods when its
// scale changes, since that moves expectedPods of percentage and
// maxUnavailable budgets.
func (c *Controller) updateWorkload(oldObj, newObj any) {
	var before, after *int32
	var ns string
	var tmpl map[string]string
	switch n := newObj.(type) {
	case *appsv1.ReplicaSet:
		before, after, ns, tmpl = oldObj.(*appsv1.ReplicaSet).Spec.Replicas, n.Spec.Replicas, n.Namespace, n.Spec.Template.Labels
	case *appsv1.Deployment:
		before, after, ns, tmpl = oldObj.(*appsv1.Deployment).Spec.Replicas, n.Spec.Replicas, n.Namespace, n.Spec.Template.Labels
	case *appsv1.StatefulSet:
		before, after, ns, tmpl = oldObj.(*appsv1.StatefulSet).Spec.Replicas, n.Spec.Replicas, n.Namespace, n.Spec.Template.Labels
	default:
		return
	}
	if replicas(before) != replicas(after) {
		c.enqueueMatching(ns, tmpl)
	}
}

// reconcile recomputes one budget's status and writes it when it
// changed.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pods, err := c.matchingPods(pdb)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	b, syncErr := compute(pdb, pods, c.scales.of, now)
	if err := c.writeStatus(ctx, pdb, nextStatus(pdb, b, syncErr)); err != nil {
		return err
	}
	if syncErr != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Cannot count the pods this budget expects: %v", syncErr)
		return syncErr
	}
	if b.unmanaged > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods",
			"%d selected pods have no controller, so their number is not in expectedPods; an integer minAvailable counts them", b.unmanaged)
	}
	if !b.recheck.IsZero() {
		c.queue.AddAfter(key, b.recheck.Sub(now))
	}
	return nil
}

func (c *Controller) matchingPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, nil // invalid selectors are refused by validation
	}
	return c.podLister.Pods(pdb.Namespace).List(sel)
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, s policyv1.PodDisruptionBudgetStatus) error {
	if apiequality.Semantic.DeepEqual(pdb.Status, s) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = s
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	return err
}
