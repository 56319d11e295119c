// Package cronjob creates each CronJob's Jobs at the times its schedule
// names (in spec.timeZone): only the most recent missed time runs, none
// older than startingDeadlineSeconds; the concurrency policy decides what
// happens to a job still running; finished jobs beyond the history limits
// are deleted; and the status lists the active jobs and the last
// scheduled and successful times. The schedule parser is this package's
// own.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

// ScheduledTimestampAnnotation records on each job the time it was
// scheduled for.
const ScheduledTimestampAnnotation = batchv1.CronJobScheduledTimestampAnnotation

// maxMissed is how many missed start times are tolerated before warning.
const maxMissed = 100

const workers = 2

var (
	controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")
	jobKind        = batchv1.SchemeGroupVersion.WithKind("Job")
)

// Controller reconciles CronJobs.
type Controller struct {
	ctx      *controller.Context
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	cjLister  batchlisters.CronJobLister
	jobLister batchlisters.JobLister
	queue     *controller.Queue
}

// New returns a CronJob controller sharing c's informers.
func New(c *controller.Context) *Controller {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		ctx:      c,
		client:   c.Client,
		recorder: c.Recorder("cronjob-controller"),
		clock:    c.Clock,
		log:      log.With("controller", "cronjob"),
		queue:    controller.NewQueue("cronjob"),
	}
}

// Run reconciles CronJobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.queue = controller.NewQueue("cronjob")
	cjInf := c.ctx.Informers.Batch().V1().CronJobs()
	jobInf := c.ctx.Informers.Batch().V1().Jobs()
	c.cjLister, c.jobLister = cjInf.Lister(), jobInf.Lister()
	remove, err := c.ctx.Sync(ctx,
		controller.Watch{Informer: cjInf.Informer(), Handler: c.queue.Handler()},
		controller.Watch{Informer: jobInf.Informer(), Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueOwner,
			UpdateFunc: func(_, obj any) { c.enqueueOwner(obj) },
			DeleteFunc: c.enqueueOwner,
		}})
	if err != nil {
		return err
	}
	defer remove()
	return c.queue.Run(ctx, workers, c.log, time.Second, c.reconcile)
}

func (c *Controller) enqueueOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == controllerKind.Kind {
		c.queue.Add(j.Namespace + "/" + ref.Name)
	}
}

// jobFinished returns the job's Complete or Failed condition type.
func jobFinished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return cond.Type, true
		}
	}
	return "", false
}

// JobName is the name of the job cj runs for scheduled time t: stable,
// so that a repeated attempt finds the job it already made.
func JobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// location is where cj's schedule is read.
func location(cj *batchv1.CronJob) (*time.Location, error) {
	if cj.Spec.TimeZone == nil {
		return time.UTC, nil
	}
	return time.LoadLocation(*cj.Spec.TimeZone)
}

// missed returns the most recent scheduled time in (earliest, now] and
// how many there were, counting only to maxMissed+1.
func missed(s *Schedule, earliest, now time.Time) (last time.Time, n int) {
	t := earliest
	for n <= maxMissed {
		next := s.Next(t)
		if next.IsZero() || next.After(now) {
			return last, n
		}
		last, t = next, next
		n++
	}
	// Too many to walk: look back from now in growing windows for the
	// latest time, then step forward to it.
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(last) {
			from = last
		}
		next := s.Next(from)
		if !next.IsZero() && !next.After(now) {
			for range 1 << 16 {
				after := s.Next(next)
				if after.IsZero() || after.After(now) {
					break
				}
				next = after
			}
			return next, n
		}
		if from.Equal(last) {
			return last, n
		}
	}
}

// reconcile brings one CronJob's jobs and status forward and requeues it
// for its next scheduled time.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cj, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.jobLister.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, j)
		}
	}
	now := c.clock.Now()
	status := cj.Status.DeepCopy()
	if err := c.trackActive(ctx, cj, status, jobs); err != nil {
		return err
	}
	if err := c.cleanHistory(ctx, cj, jobs); err != nil {
		return err
	}
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return c.writeStatus(ctx, cj, status)
	}
	loc, err := location(cj)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %v", *cj.Spec.TimeZone, err)
		return c.writeStatus(ctx, cj, status)
	}
	sched, err := ParseSchedule(cj.Spec.Schedule)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q: %v", cj.Spec.Schedule, err)
		return c.writeStatus(ctx, cj, status)
	}
	now = now.In(loc)
	runErr := c.runDue(ctx, cj, status, sched, jobs, now)
	if err := c.writeStatus(ctx, cj, status); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if next := sched.Next(now); !next.IsZero() {
		c.queue.AddAfter(key, next.Sub(now)+100*time.Millisecond)
	}
	return nil
}

// trackActive keeps status.active to the owned jobs still running, and
// notes finished ones.
func (c *Controller) trackActive(ctx context.Context, cj *batchv1.CronJob, status *batchv1.CronJobStatus, jobs []*batchv1.Job) error {
	byUID := map[string]*batchv1.Job{}
	for _, j := range jobs {
		byUID[string(j.UID)] = j
	}
	var active []corev1.ObjectReference
	listed := map[string]bool{}
	for _, ref := range status.Active {
		j, ok := byUID[string(ref.UID)]
		if !ok {
			// Gone, unless the cache has not seen it yet.
			live, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			if err != nil || live.UID != ref.UID {
				continue
			}
			j = live
		}
		if t, done := jobFinished(j); done {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %s", j.Name, t)
			continue
		}
		active = append(active, ref)
		listed[string(ref.UID)] = true
	}
	for _, j := range jobs {
		t, done := jobFinished(j)
		if done && t == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(status.LastSuccessfulTime == nil || status.LastSuccessfulTime.Before(j.Status.CompletionTime)) {
			status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
		if !done && j.DeletionTimestamp == nil && !listed[string(j.UID)] {
			active = append(active, jobRef(j))
		}
	}
	status.Active = active
	return nil
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: jobKind.Kind, APIVersion: jobKind.GroupVersion().String(),
		Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

// cleanHistory deletes the oldest finished jobs beyond the limits.
func (c *Controller) cleanHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	succLimit, failLimit := 3, 1
	if l := cj.Spec.SuccessfulJobsHistoryLimit; l != nil {
		succLimit = int(*l)
	}
	if l := cj.Spec.FailedJobsHistoryLimit; l != nil {
		failLimit = int(*l)
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch t, _ := jobFinished(j); t {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	for _, set := range []struct {
		jobs  []*batchv1.Job
		limit int
	}{{succeeded, succLimit}, {failed, failLimit}} {
		for _, j := range oldest(set.jobs, len(set.jobs)-set.limit) {
			if err := c.deleteJob(ctx, cj, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// oldest returns the n jobs that started first.
func oldest(jobs []*batchv1.Job, n int) []*batchv1.Job {
	if n <= 0 {
		return nil
	}
	started := func(j *batchv1.Job) time.Time {
		if j.Status.StartTime != nil {
			return j.Status.StartTime.Time
		}
		return j.CreationTimestamp.Time
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		ta, tb := started(jobs[a]), started(jobs[b])
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return jobs[a].Name < jobs[b].Name
	})
	return jobs[:n]
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) error {
	policy := metav1.DeletePropagationBackground
	uid := j.UID
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("deleting job %s: %w", j.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
	return nil
}

// runDue starts the job of the most recent scheduled time that has not
// run, when the deadline and concurrency policy allow it, and records it
// in status.
func (c *Controller) runDue(ctx context.Context, cj *batchv1.CronJob, status *batchv1.CronJobStatus, s *Schedule, jobs []*batchv1.Job, now time.Time) error {
	earliest := cj.CreationTimestamp.Time
	if status.LastScheduleTime != nil {
		earliest = status.LastScheduleTime.Time
	}
	earliest = earliest.In(now.Location())
	var deadline time.Time
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		deadline = now.Add(-time.Duration(*sds) * time.Second)
	}
	windowStart := earliest
	if !deadline.IsZero() && deadline.After(windowStart) {
		windowStart = deadline
	}
	t, n := missed(s, windowStart, now)
	if n > maxMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", n)
	}
	if t.IsZero() {
		if windowStart.After(earliest) {
			if m := s.Next(earliest); !m.IsZero() && !m.After(windowStart) {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", m.UTC().Format(time.RFC1123Z))
			}
		}
		return nil
	}
	var active []*batchv1.Job
	for _, j := range jobs {
		if _, done := jobFinished(j); !done && j.DeletionTimestamp == nil {
			active = append(active, j)
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(active) > 0 || len(status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return nil
		}
	case batchv1.ReplaceConcurrent:
		for _, j := range active {
			if err := c.deleteJob(ctx, cj, j); err != nil {
				return err
			}
		}
		status.Active = nil
	}
	job, err := c.createJob(ctx, cj, t)
	if err != nil {
		return err
	}
	status.Active = append(status.Active, jobRef(job))
	st := metav1.NewTime(t)
	status.LastScheduleTime = &st
	return nil
}

// JobFor is the job cj runs for scheduled time t.
func JobFor(cj *batchv1.CronJob, t time.Time) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(cj, t),
			Namespace:       cj.Namespace,
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	for k, v := range tmpl.Labels {
		j.Labels[k] = v
	}
	for k, v := range tmpl.Annotations {
		j.Annotations[k] = v
	}
	j.Annotations[ScheduledTimestampAnnotation] = t.Format(time.RFC3339)
	return j
}

// createJob creates the job for t; one that this CronJob already made
// (a retry after a lost status write) counts as created.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, t time.Time) (*batchv1.Job, error) {
	want := JobFor(cj, t)
	out, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == cj.UID {
			return existing, nil
		}
		return nil, fmt.Errorf("job %s exists and is not this CronJob's: %w", want.Name, err)
	}
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("creating job %s: %w", want.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", out.Name)
	return out, nil
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, s *batchv1.CronJobStatus) error {
	if statusEqual(&cj.Status, s) {
		return nil
	}
	next := cj.DeepCopy()
	next.Status = *s
	_, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func statusEqual(a, b *batchv1.CronJobStatus) bool {
	if len(a.Active) != len(b.Active) || !timeEqual(a.LastScheduleTime, b.LastScheduleTime) || !timeEqual(a.LastSuccessfulTime, b.LastSuccessfulTime) {
		return false
	}
	for i := range a.Active {
		if a.Active[i].UID != b.Active[i].UID {
			return false
		}
	}
	return true
}

func timeEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}
