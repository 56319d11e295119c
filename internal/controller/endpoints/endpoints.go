// Package endpoints keeps, for every Service with a selector, an Endpoints
// object of the same name listing the ready and not-ready addresses of the
// pods it selects with their resolved ports, and deletes it with the
// Service. It also holds the pod-to-endpoint rules the EndpointSlice loop
// shares.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

const (
	// TriggerTimeAnnotation records when the change that led to the
	// last write happened.
	TriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"
	// OverCapacityAnnotation marks an Endpoints object whose addresses
	// were cut to MaxAddresses.
	OverCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"
	// MaxAddresses is how many addresses one Endpoints object holds.
	MaxAddresses = 1000
)

const workers = 4

// Controller reconciles Endpoints.
type Controller struct {
	ctx    *controller.Context
	client kubernetes.Interface
	clock  clock.Clock
	log    *slog.Logger

	svcLister corelisters.ServiceLister
	podLister corelisters.PodLister
	epLister  corelisters.EndpointsLister
	queue     *controller.Queue
}

// New returns an Endpoints controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{ctx: c, client: c.Client, clock: c.Clock, log: log.With("controller", "endpoints")}
}

// Run reconciles Endpoints until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("endpoints")
	svcInf := c.ctx.Informers.Core().V1().Services()
	podInf := c.ctx.Informers.Core().V1().Pods()
	epInf := c.ctx.Informers.Core().V1().Endpoints()
	c.svcLister, c.podLister, c.epLister = svcInf.Lister(), podInf.Lister(), epInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: svcInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addPod,
			UpdateFunc: c.updatePod,
			DeleteFunc: c.deletePod,
		}},
		// A deleted Endpoints object of a Service is written again.
		controller.Watch{Informer: epInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{DeleteFunc: c.queue.Enqueue}})
	if err != nil {
		return err
	}
	defer remove()
	c.enqueueLeftovers()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// enqueueLeftovers queues Endpoints whose Service went away while no
// controller ran, so they are deleted.
func (c *Controller) enqueueLeftovers() {
	all, err := c.epLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ep := range all {
		if _, err := c.svcLister.Services(ep.Namespace).Get(ep.Name); apierrors.IsNotFound(err) {
			c.queue.Add(ep.Namespace + "/" + ep.Name)
		}
	}
}

func (c *Controller) addPod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		for _, k := range ServicesForPod(c.svcLister, pod) {
			c.queue.Add(k)
		}
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || !PodChanged(old, pod) {
		return
	}
	for _, k := range ServicesForPod(c.svcLister, pod) {
		c.queue.Add(k)
	}
	if !labels.Equals(old.Labels, pod.Labels) {
		for _, k := range ServicesForPod(c.svcLister, old) {
			c.queue.Add(k)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	if pod, ok := controller.PodFromTombstone(obj); ok {
		for _, k := range ServicesForPod(c.svcLister, pod) {
			c.queue.Add(k)
		}
	}
}

// reconcile writes the Endpoints of one Service, or deletes them when the
// Service is gone.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !ServiceSelects(svc) {
		return nil
	}
	pods, err := c.podLister.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets, truncated := Subsets(svc, pods)
	cur, err := c.epLister.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if cur != nil && upToDate(cur, svc, subsets, truncated) {
		return nil
	}
	next := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if cur != nil {
		next = cur.DeepCopy()
	}
	next.Labels = copyLabels(svc.Labels)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[TriggerTimeAnnotation] = c.clock.Now().UTC().Format(time.RFC3339Nano)
	if truncated {
		next.Annotations[OverCapacityAnnotation] = "truncated"
	} else {
		delete(next.Annotations, OverCapacityAnnotation)
	}
	next.Subsets = subsets
	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, next, metav1.CreateOptions{})
	} else {
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing endpoints %s: %w", key, err)
	}
	return nil
}

func upToDate(cur *corev1.Endpoints, svc *corev1.Service, subsets []corev1.EndpointSubset, truncated bool) bool {
	_, wasTruncated := cur.Annotations[OverCapacityAnnotation]
	return wasTruncated == truncated && labels.Equals(cur.Labels, svc.Labels) &&
		apiequality.Semantic.DeepEqual(normalize(cur.Subsets), normalize(subsets))
}

// normalize lets nil and empty lists compare equal.
func normalize(s []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(s) == 0 {
		return nil
	}
	return s
}

func copyLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Subsets computes the subsets of svc's Endpoints from the pods its
// selector matches: pods grouped by the ports they resolve, ready ones
// under addresses, the rest under notReadyAddresses, everything sorted so
// equal inputs give equal output. truncated reports that more than
// MaxAddresses were found and some were left out.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) (subsets []corev1.EndpointSubset, truncated bool) {
	publish := svc.Spec.PublishNotReadyAddresses
	headlessNoPorts := len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP == corev1.ClusterIPNone
	groups := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !PodServed(pod, publish) {
			continue
		}
		ip, ok := PodIPFor(svc, pod)
		if !ok {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := ResolvePort(pod, sp)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && !headlessNoPorts {
			continue
		}
		sortPorts(ports)
		k := portsKey(ports)
		g, ok := groups[k]
		if !ok {
			g = &corev1.EndpointSubset{Ports: ports}
			groups[k] = g
		}
		addr := corev1.EndpointAddress{
			IP:        ip,
			Hostname:  Hostname(svc, pod),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = new(pod.Spec.NodeName)
		}
		if publish || (controller.PodReady(pod) && pod.DeletionTimestamp == nil) {
			g.Addresses = append(g.Addresses, addr)
		} else {
			g.NotReadyAddresses = append(g.NotReadyAddresses, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		sortAddresses(g.Addresses)
		sortAddresses(g.NotReadyAddresses)
		subsets = append(subsets, *g)
	}
	return truncate(subsets)
}

func sortPorts(ps []corev1.EndpointPort) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		if ps[i].Port != ps[j].Port {
			return ps[i].Port < ps[j].Port
		}
		return ps[i].Protocol < ps[j].Protocol
	})
}

func portsKey(ps []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Name)
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(p.Port)))
		b.WriteByte('/')
		b.WriteString(string(p.Protocol))
		if p.AppProtocol != nil {
			b.WriteByte('/')
			b.WriteString(*p.AppProtocol)
		}
		b.WriteByte(',')
	}
	return b.String()
}

func sortAddresses(as []corev1.EndpointAddress) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].IP != as[j].IP {
			return as[i].IP < as[j].IP
		}
		return as[i].TargetRef.UID < as[j].TargetRef.UID
	})
}

// truncate cuts subsets to MaxAddresses, keeping ready addresses before
// not-ready ones and taking from each subset in proportion to its size.
func truncate(subsets []corev1.EndpointSubset) ([]corev1.EndpointSubset, bool) {
	ready, notReady := 0, 0
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= MaxAddresses {
		return subsets, false
	}
	readyBudget := min(ready, MaxAddresses)
	notReadyBudget := MaxAddresses - readyBudget
	readyKeep := shares(subsets, ready, readyBudget, func(s *corev1.EndpointSubset) int { return len(s.Addresses) })
	notReadyKeep := shares(subsets, notReady, notReadyBudget, func(s *corev1.EndpointSubset) int { return len(s.NotReadyAddresses) })
	out := subsets[:0]
	for i := range subsets {
		s := subsets[i]
		s.Addresses = s.Addresses[:readyKeep[i]]
		s.NotReadyAddresses = s.NotReadyAddresses[:notReadyKeep[i]]
		if len(s.Addresses) == 0 {
			s.Addresses = nil
		}
		if len(s.NotReadyAddresses) == 0 {
			s.NotReadyAddresses = nil
		}
		if s.Addresses != nil || s.NotReadyAddresses != nil {
			out = append(out, s)
		}
	}
	return out, true
}

// shares splits budget over the subsets in proportion to count(subset),
// handing the rounding remainder to the first subsets that have room.
func shares(subsets []corev1.EndpointSubset, total, budget int, count func(*corev1.EndpointSubset) int) []int {
	keep := make([]int, len(subsets))
	if total == 0 || budget == 0 {
		return keep
	}
	left := budget
	for i := range subsets {
		keep[i] = count(&subsets[i]) * budget / total
		left -= keep[i]
	}
	for i := range subsets {
		if left == 0 {
			break
		}
		if keep[i] < count(&subsets[i]) {
			keep[i]++
			left--
		}
	}
	return keep
}
