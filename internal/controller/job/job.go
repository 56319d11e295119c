// Package job runs each Job's pods to completion: it creates pods from the
// template up to the job's parallelism until enough of them (or, for
// Indexed jobs, every index) succeeded, waits an exponential backoff after
// failures, fails the job at its backoff limit or active deadline, records
// counts and conditions in the status, and deletes finished jobs whose
// ttlSecondsAfterFinished has passed. Pods carry the job-tracking
// finalizer until their outcome is counted, so a pod deleted right after
// it finished still counts.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

// TrackingFinalizer keeps a job's finished pod until its outcome is in
// the job's status.
const TrackingFinalizer = batchv1.JobTrackingFinalizer

// IndexAnnotation (also a label) carries an Indexed job pod's index.
const IndexAnnotation = batchv1.JobCompletionIndexAnnotation

const (
	workers       = 4
	burstPods     = 500
	indexEnvVar   = "JOB_COMPLETION_INDEX"
	conditionTrue = corev1.ConditionTrue
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller reconciles Jobs.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger
	// BackoffBase is the delay before recreating pods after the first
	// failure; it doubles with each further failure.
	BackoffBase time.Duration

	jobLister batchlisters.JobLister
	podLister corelisters.PodLister
	queue     *controller.Queue
	exp       *controller.Expectations

	mu sync.Mutex
	// counted holds pods whose finalizer this controller removed after
	// counting them, until the informer shows the removal: a lagging
	// cache must not count them twice.
	counted map[types.UID]bool
	// written is the last status this controller wrote per job, newer
	// than the informer's copy until the informer catches up.
	written map[string]*batchv1.Job
}

// New returns a Job controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:         c,
		client:      c.Client,
		recorder:    c.Recorder("job-controller"),
		clock:       c.Clock,
		log:         log.With("controller", "job"),
		BackoffBase: DefaultBackoffBase,
		exp:         controller.NewExpectations(c.Clock),
		counted:     map[types.UID]bool{},
		written:     map[string]*batchv1.Job{},
	}
}

// Run reconciles Jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("job")
	jobInf := c.ctx.Informers.Batch().V1().Jobs()
	podInf := c.ctx.Informers.Core().V1().Pods()
	c.jobLister, c.podLister = jobInf.Lister(), podInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: jobInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: podInf.Informer(), Handler: c.podHandler()})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

// podHandler routes pod events to their jobs, and forgets the counted
// outcome of a pod once its tracking finalizer is gone.
func (c *Controller) podHandler() cache.ResourceEventHandler {
	events := (&controller.PodEvents{Queue: c.queue, Kind: controllerKind, Creates: c.exp, Deletes: c.exp}).Handler()
	forget := func(obj any) {
		if pod, ok := controller.PodFromTombstone(obj); ok {
			c.mu.Lock()
			delete(c.counted, pod.UID)
			c.mu.Unlock()
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { events.OnAdd(obj, false) },
		UpdateFunc: func(oldObj, newObj any) {
			if pod, ok := newObj.(*corev1.Pod); ok && !hasFinalizer(pod) {
				forget(pod)
			}
			events.OnUpdate(oldObj, newObj)
		},
		DeleteFunc: func(obj any) {
			forget(obj)
			events.OnDelete(obj)
		},
	}
}

func hasFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == TrackingFinalizer {
			return true
		}
	}
	return false
}

// tracked reports whether pod still waits to be counted.
func (c *Controller) tracked(pod *corev1.Pod) bool {
	if !hasFinalizer(pod) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.counted[pod.UID]
}

// current returns the job from the informer, or the copy this controller
// last wrote when the informer has not seen it yet.
func (c *Controller) current(key string, j *batchv1.Job) *batchv1.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return j
	}
	if w.UID != j.UID || rvNumber(j.ResourceVersion) >= rvNumber(w.ResourceVersion) {
		delete(c.written, key)
		return j
	}
	return w.DeepCopy()
}

func rvNumber(rv string) int64 {
	n, _ := strconv.ParseInt(rv, 10, 64)
	return n
}

func finishedCondition(j *batchv1.Job) (batchv1.JobConditionType, time.Time, bool) {
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == conditionTrue {
			return cond.Type, cond.LastTransitionTime.Time, true
		}
	}
	return "", time.Time{}, false
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, cond := range j.Status.Conditions {
		if cond.Type == t && cond.Status == conditionTrue {
			return true
		}
	}
	return false
}

// reconcile brings one job's pods and status forward.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		c.mu.Lock()
		delete(c.written, key)
		c.mu.Unlock()
		return c.releaseOrphans(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	j := c.current(key, cached)
	if j.Spec.ManagedBy != nil && *j.Spec.ManagedBy != batchv1.JobControllerName {
		return nil
	}
	pods, err := c.podsOf(j)
	if err != nil {
		return err
	}
	now := c.clock.Now()

	if _, _, done := finishedCondition(j); done || j.DeletionTimestamp != nil {
		// Count what was already listed, and let every other pod go.
		if err := c.countUncounted(ctx, key, j, pods); err != nil {
			return err
		}
		if err := c.removeFinalizers(ctx, pods); err != nil {
			return err
		}
		if done {
			return c.expire(ctx, key, j, now)
		}
		return nil
	}

	status := j.Status.DeepCopy()
	cnt := c.count(j, pods)
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	switch {
	case suspended:
		// Resuming restarts the active deadline, as in Kubernetes.
		status.StartTime = nil
	case status.StartTime == nil:
		t := metav1.NewTime(now)
		status.StartTime = &t
	}
	cjob := j.DeepCopy()
	cjob.Status.StartTime = status.StartTime
	fin, finishing := decideFinish(cjob, cnt, now)
	if f, ok := interimReason(j); ok {
		fin, finishing = f, true // the first decision stands
	}

	var manageErr error
	switch {
	case finishing:
		manageErr = c.deleteActive(ctx, key, j, pods)
	case c.exp.Satisfied(key):
		manageErr = c.manage(ctx, key, j, pods, cnt, now)
	}

	// Count finished pods: list them as uncounted, drop their finalizers,
	// then move them into the counters.
	newSucceeded, newFailed := c.newlyFinished(j, pods)
	setUncounted(status, newSucceeded, newFailed)
	status.Active, status.Ready, status.Terminating = int32(cnt.active), new(int32(cnt.ready)), new(int32(cnt.terminating))
	if indexed(j) {
		status.CompletedIndexes = formatIndexes(cnt.succeededIndexes)
	}
	setSuspended(status, suspended, now)
	if finishing {
		c.finish(j, status, fin, cnt, now)
	}
	written, err := c.writeStatus(ctx, key, j, status)
	if err != nil {
		return errors.Join(manageErr, err)
	}
	if err := c.countUncounted(ctx, key, written, pods); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if !finishing {
		if d, ok := deadline(cjob); ok {
			c.queue.AddAfter(key, d.Sub(now)+10*time.Millisecond)
		}
	}
	if _, _, done := finishedCondition(&batchv1.Job{Status: *status}); done {
		return c.expire(ctx, key, &batchv1.Job{ObjectMeta: j.ObjectMeta, Spec: j.Spec, Status: *status}, now)
	}
	return nil
}

// podsOf returns the pods controlled by j that its selector matches.
func (c *Controller) podsOf(j *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return nil, nil // validation refuses bad selectors
	}
	all, err := c.podLister.Pods(j.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == j.UID {
			out = append(out, p)
		}
	}
	return out, nil
}

// podIndex is an Indexed job pod's index, or -1.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[IndexAnnotation]
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// failedPod reports whether a pod counts as a failure: it failed, or it
// was deleted before finishing while still tracked (nobody but this
// controller removes the finalizer of a pod it deletes on purpose).
func failedPod(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed ||
		(p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && hasFinalizer(p))
}

// count adds up j's pods and recorded status.
func (c *Controller) count(j *batchv1.Job, pods []*corev1.Pod) counts {
	cnt := counts{succeeded: int(j.Status.Succeeded), failed: int(j.Status.Failed)}
	if u := j.Status.UncountedTerminatedPods; u != nil {
		cnt.succeeded += len(u.Succeeded)
		cnt.failed += len(u.Failed)
	}
	if indexed(j) {
		cnt.succeededIndexes = parseIndexes(j.Status.CompletedIndexes, int(*j.Spec.Completions))
	}
	uncounted := uncountedSet(j)
	for _, p := range pods {
		switch {
		case controller.PodActive(p):
			cnt.active++
			if controller.PodReady(p) {
				cnt.ready++
			}
			for _, cs := range p.Status.ContainerStatuses {
				cnt.restarts += int(cs.RestartCount)
			}
		case p.Status.Phase == corev1.PodSucceeded:
			if i := podIndex(p); i >= 0 && indexed(j) {
				cnt.succeededIndexes[i] = true
			}
			if c.tracked(p) && !uncounted[p.UID] {
				cnt.succeeded++
			}
		case failedPod(p):
			if t := finishTime(p); t.After(cnt.lastFailure) {
				cnt.lastFailure = t
			}
			if c.tracked(p) && !uncounted[p.UID] {
				cnt.failed++
			}
		}
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			cnt.terminating++
		}
	}
	if indexed(j) {
		// Indexed jobs count each index once.
		cnt.succeeded = max(cnt.succeeded, len(cnt.succeededIndexes))
	}
	return cnt
}

// finishTime is when a finished pod's last container stopped.
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	return t
}

func uncountedSet(j *batchv1.Job) map[types.UID]bool {
	out := map[types.UID]bool{}
	if u := j.Status.UncountedTerminatedPods; u != nil {
		for _, id := range u.Succeeded {
			out[id] = true
		}
		for _, id := range u.Failed {
			out[id] = true
		}
	}
	return out
}

// newlyFinished returns the tracked finished pods not yet in the status.
func (c *Controller) newlyFinished(j *batchv1.Job, pods []*corev1.Pod) (succeeded, failed []types.UID) {
	uncounted := uncountedSet(j)
	for _, p := range pods {
		if !c.tracked(p) || uncounted[p.UID] {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded = append(succeeded, p.UID)
		case failedPod(p):
			failed = append(failed, p.UID)
		}
	}
	return succeeded, failed
}

func setUncounted(s *batchv1.JobStatus, succeeded, failed []types.UID) {
	if len(succeeded) == 0 && len(failed) == 0 {
		return
	}
	if s.UncountedTerminatedPods == nil {
		s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	s.UncountedTerminatedPods.Succeeded = append(s.UncountedTerminatedPods.Succeeded, succeeded...)
	s.UncountedTerminatedPods.Failed = append(s.UncountedTerminatedPods.Failed, failed...)
}

// countUncounted removes the finalizer of every pod listed as uncounted
// in j's last written status and then moves them into the counters.
func (c *Controller) countUncounted(ctx context.Context, key string, w *batchv1.Job, pods []*corev1.Pod) error {
	u := w.Status.UncountedTerminatedPods
	if u == nil || len(u.Succeeded)+len(u.Failed) == 0 {
		return nil
	}
	want := uncountedSet(w)
	var finalized []*corev1.Pod
	for _, p := range pods {
		if want[p.UID] {
			finalized = append(finalized, p)
		}
	}
	if err := c.removeFinalizers(ctx, finalized); err != nil {
		return err
	}
	status := w.Status.DeepCopy()
	status.Succeeded += int32(len(u.Succeeded))
	status.Failed += int32(len(u.Failed))
	status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	_, err := c.writeStatus(ctx, key, w, status)
	return err
}

// removeFinalizers drops the tracking finalizer from pods that have it.
func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) error {
	var errs []error
	for _, p := range pods {
		if !hasFinalizer(p) {
			continue
		}
		c.mu.Lock()
		done := c.counted[p.UID]
		c.mu.Unlock()
		if done {
			continue
		}
		if err := c.dropFinalizer(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		c.mu.Lock()
		c.counted[p.UID] = true
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (c *Controller) dropFinalizer(ctx context.Context, p *corev1.Pod) error {
	var keep []string
	for _, f := range p.Finalizers {
		if f != TrackingFinalizer {
			keep = append(keep, f)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers":      keep,
		"resourceVersion": p.ResourceVersion, // fail rather than drop someone else's finalizer
	}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing finalizer of pod %s: %w", p.Name, err)
	}
	return nil
}

// releaseOrphans drops the finalizer of pods whose job is gone.
func (c *Controller) releaseOrphans(ctx context.Context, ns, name string) error {
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var orphans []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == controllerKind.Kind && ref.Name == name && hasFinalizer(p) {
			orphans = append(orphans, p)
		}
	}
	return c.removeFinalizers(ctx, orphans)
}

// manage creates or deletes pods towards wantActive, after any backoff.
func (c *Controller) manage(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod, cnt counts, now time.Time) error {
	want := wantActive(j, cnt)
	var active []*corev1.Pod
	for _, p := range pods {
		if controller.PodActive(p) {
			active = append(active, p)
		}
	}
	if indexed(j) {
		// A second pod for an index, or one for an index already done,
		// is extra.
		seen := map[int]bool{}
		var keep, extra []*corev1.Pod
		sortPodsForKeeping(active)
		for _, p := range active {
			i := podIndex(p)
			if i < 0 || i >= int(*j.Spec.Completions) || seen[i] || cnt.succeededIndexes[i] {
				extra = append(extra, p)
				continue
			}
			seen[i] = true
			keep = append(keep, p)
		}
		if len(keep) > want {
			extra = append(extra, keep[want:]...)
			keep = keep[:want]
		}
		if len(extra) > 0 {
			return c.deletePods(ctx, key, j, extra)
		}
		n := want - len(keep)
		if n <= 0 || c.backingOff(key, j, cnt, now) {
			return nil
		}
		return c.createPods(ctx, key, j, pendingIndexes(int(*j.Spec.Completions), cnt.succeededIndexes, seen, min(n, burstPods)))
	}
	switch diff := len(active) - want; {
	case diff > 0:
		sortPodsForKeeping(active)
		return c.deletePods(ctx, key, j, active[len(active)-diff:])
	case diff < 0:
		if c.backingOff(key, j, cnt, now) {
			return nil
		}
		idx := make([]int, min(-diff, burstPods))
		for i := range idx {
			idx[i] = -1
		}
		return c.createPods(ctx, key, j, idx)
	}
	return nil
}

// backingOff reports whether new pods must wait for the failure backoff,
// and requeues the job for when it ends.
func (c *Controller) backingOff(key string, j *batchv1.Job, cnt counts, now time.Time) bool {
	if cnt.failed == 0 || cnt.lastFailure.IsZero() {
		return false
	}
	until := cnt.lastFailure.Add(backoffDelay(cnt.failed, c.BackoffBase))
	if !now.Before(until) {
		return false
	}
	c.queue.AddAfter(key, until.Sub(now))
	return true
}

// sortPodsForKeeping puts the pods most worth keeping first: ready,
// running, then older.
func sortPodsForKeeping(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(a, b int) bool {
		pa, pb := pods[a], pods[b]
		if ra, rb := controller.PodReady(pa), controller.PodReady(pb); ra != rb {
			return ra
		}
		if ra, rb := pa.Status.Phase == corev1.PodRunning, pb.Status.Phase == corev1.PodRunning; ra != rb {
			return ra
		}
		return pa.CreationTimestamp.Before(&pb.CreationTimestamp)
	})
}

// createPods creates one pod per entry of indexes (-1: not Indexed) in
// slow-start batches.
func (c *Controller) createPods(ctx context.Context, key string, j *batchv1.Job, indexes []int) error {
	if len(indexes) == 0 {
		return nil
	}
	c.exp.ExpectCreates(key, len(indexes))
	settle := func(int) { c.exp.Created(key) } // a create that failed or never ran
	return controller.SlowStart(indexes, func(index int) error {
		err := c.createPod(ctx, j, index)
		if err != nil {
			settle(index)
		}
		return err
	}, settle)
}

// podForJob builds the pod for j, for index (or -1).
func podForJob(j *batchv1.Job, index int) *corev1.Pod {
	pod := controller.PodFromTemplate(&j.Spec.Template, j, controllerKind)
	pod.Finalizers = append(pod.Finalizers, TrackingFinalizer)
	if index >= 0 {
		idx := strconv.Itoa(index)
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Annotations[IndexAnnotation] = idx
		pod.Labels[batchv1.JobCompletionIndexAnnotation] = idx
		pod.GenerateName = fmt.Sprintf("%s-%d-", j.Name, index)
		if pod.Spec.Hostname == "" {
			pod.Spec.Hostname = fmt.Sprintf("%s-%d", j.Name, index)
		}
		for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range list {
				list[i].Env = append(list[i].Env, corev1.EnvVar{Name: indexEnvVar, Value: idx})
			}
		}
	}
	return pod
}

func (c *Controller) createPod(ctx context.Context, j *batchv1.Job, index int) error {
	out, err := c.client.CoreV1().Pods(j.Namespace).Create(ctx, podForJob(j, index), metav1.CreateOptions{})
	if err != nil {
		if !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("creating pod for job %s/%s: %w", j.Namespace, j.Name, err)
	}
	c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// deleteActive deletes every active pod of a finishing job.
func (c *Controller) deleteActive(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod) error {
	var active []*corev1.Pod
	for _, p := range pods {
		if controller.PodActive(p) {
			active = append(active, p)
		}
	}
	return c.deletePods(ctx, key, j, active)
}

// deletePods deletes pods this controller no longer wants. Their
// finalizer goes first, so they do not count as failures.
func (c *Controller) deletePods(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.exp.ExpectDeletes(key, uids)
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := p.UID
			err := c.removeFinalizers(ctx, []*corev1.Pod{p})
			if err == nil {
				err = c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			}
			if err != nil {
				c.exp.Deleted(key, uid)
				if !apierrors.IsNotFound(err) {
					errs[i] = fmt.Errorf("deleting pod %s: %w", p.Name, err)
					c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				}
				return
			}
			c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// finish records why j ends. The interim condition (FailureTarget,
// SuccessCriteriaMet) comes first; the final one (Failed, Complete) once
// no pod of the job still runs.
func (c *Controller) finish(j *batchv1.Job, s *batchv1.JobStatus, fin finishReason, cnt counts, now time.Time) {
	interim, final := batchv1.JobSuccessCriteriaMet, batchv1.JobComplete
	if fin.failed {
		interim, final = batchv1.JobFailureTarget, batchv1.JobFailed
	}
	t := metav1.NewTime(now)
	s.Conditions = setCondition(s.Conditions, batchv1.JobCondition{Type: interim, Status: conditionTrue, Reason: fin.reason, Message: fin.message, LastProbeTime: t, LastTransitionTime: t})
	if cnt.terminating > 0 || cnt.active > 0 {
		return // deletions are under way; their events bring the job back
	}
	s.Conditions = setCondition(s.Conditions, batchv1.JobCondition{Type: final, Status: conditionTrue, Reason: fin.reason, Message: fin.message, LastProbeTime: t, LastTransitionTime: t})
	s.Active, s.Ready, s.Terminating = 0, new(int32(0)), new(int32(0))
	if fin.failed {
		c.recorder.Event(j, corev1.EventTypeWarning, fin.reason, fin.message)
		return
	}
	s.CompletionTime = &t
	c.recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
}

// interimReason returns the decision already recorded in j's
// FailureTarget or SuccessCriteriaMet condition.
func interimReason(j *batchv1.Job) (finishReason, bool) {
	for _, cond := range j.Status.Conditions {
		if cond.Status != conditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobFailureTarget:
			return finishReason{failed: true, reason: cond.Reason, message: cond.Message}, true
		case batchv1.JobSuccessCriteriaMet:
			return finishReason{reason: cond.Reason, message: cond.Message}, true
		}
	}
	return finishReason{}, false
}

func setCondition(conds []batchv1.JobCondition, c batchv1.JobCondition) []batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == c.Type {
			if conds[i].Status == c.Status {
				return conds
			}
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// setSuspended keeps the Suspended condition in step with spec.suspend.
func setSuspended(s *batchv1.JobStatus, suspended bool, now time.Time) {
	t := metav1.NewTime(now)
	if suspended {
		s.Conditions = setCondition(s.Conditions, batchv1.JobCondition{Type: batchv1.JobSuspended, Status: conditionTrue, Reason: "JobSuspended", Message: "Job suspended", LastProbeTime: t, LastTransitionTime: t})
		return
	}
	for _, cond := range s.Conditions {
		if cond.Type == batchv1.JobSuspended && cond.Status == conditionTrue {
			s.Conditions = setCondition(s.Conditions, batchv1.JobCondition{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse, Reason: "JobResumed", Message: "Job resumed", LastProbeTime: t, LastTransitionTime: t})
		}
	}
}

// writeStatus writes s as j's status when it differs, and remembers the
// result so the next reconcile does not act on an older copy.
func (c *Controller) writeStatus(ctx context.Context, key string, j *batchv1.Job, s *batchv1.JobStatus) (*batchv1.Job, error) {
	if statusEqual(&j.Status, s) {
		return j, nil
	}
	next := j.DeepCopy()
	next.Status = *s
	out, err := c.client.BatchV1().Jobs(j.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return next, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.written[key] = out
	c.mu.Unlock()
	return out, nil
}

func statusEqual(a, b *batchv1.JobStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// expire deletes a finished job once its ttlSecondsAfterFinished passed,
// or requeues it for then.
func (c *Controller) expire(ctx context.Context, key string, j *batchv1.Job, now time.Time) error {
	if j.Spec.TTLSecondsAfterFinished == nil || j.DeletionTimestamp != nil {
		return nil
	}
	_, at, _ := finishedCondition(j)
	if j.Status.CompletionTime != nil {
		at = j.Status.CompletionTime.Time
	}
	if at.IsZero() {
		return nil
	}
	due := at.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if now.Before(due) {
		c.queue.AddAfter(key, due.Sub(now))
		return nil
	}
	policy := metav1.DeletePropagationBackground
	uid := j.UID
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
