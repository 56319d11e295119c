package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

type cjOpt func(*batchv1.CronJob)

func testCronJob(opts ...cjOpt) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
			},
		},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

func lastScheduled(t time.Time) cjOpt {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: t} }
}

// ownedJob is a job of cj scheduled at t, finished as state says
// ("", Complete or Failed).
func ownedJob(cj *batchv1.CronJob, t time.Time, state batchv1.JobConditionType) *batchv1.Job {
	j := JobFor(cj, t)
	j.UID = k8stypes.UID("job-" + j.Name)
	j.CreationTimestamp = metav1.NewTime(t)
	if state != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: state, Status: corev1.ConditionTrue}}
		if state == batchv1.JobComplete {
			ct := metav1.NewTime(t.Add(10 * time.Second))
			j.Status.CompletionTime = &ct
		}
	}
	return j
}

type fixture struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
}

func newFixture(t *testing.T, now time.Time, cj *batchv1.CronJob, jobs ...*batchv1.Job) *fixture {
	t.Helper()
	objs := []runtime.Object{cj}
	cjIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	jobIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := cjIdx.Add(cj); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		objs = append(objs, j)
		if err := jobIdx.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100), clock: clocktesting.NewFakeClock(now)}
	f.c = &Controller{
		client: f.client, recorder: f.recorder, clock: f.clock, log: slog.New(slog.DiscardHandler),
		cjLister: batchlisters.NewCronJobLister(cjIdx), jobLister: batchlisters.NewJobLister(jobIdx),
		queue: controller.NewQueue("cronjob-test"),
	}
	return f
}

// actions lists the client's writes as "verb resource[/subresource] name".
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		name := ""
		switch a := a.(type) {
		case interface{ GetObject() runtime.Object }:
			if m, ok := a.GetObject().(metav1.Object); ok {
				name = m.GetName()
			}
		case interface{ GetName() string }:
			name = a.GetName()
		}
		out = append(out, a.GetVerb()+" "+res+" "+name)
	}
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) cronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	cj, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

func jobNameAt(t time.Time) string { return fmt.Sprintf("tick-%d", t.Unix()/60) }

func TestReconcile(t *testing.T) {
	minute := func(m int) time.Time { return time.Date(2026, 3, 1, 10, m, 0, 0, time.UTC) }
	cases := []struct {
		name    string
		cj      *batchv1.CronJob
		jobs    func(cj *batchv1.CronJob) []*batchv1.Job
		now     time.Time
		actions []string
		events  []string // prefixes
		last    time.Time
	}{
		{
			name: "nothing due yet", cj: testCronJob(), now: at(20 * time.Second),
		},
		{
			name: "first time runs", cj: testCronJob(), now: at(40 * time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(1)), "update cronjobs/status tick"},
			events:  []string{"Normal SuccessfulCreate Created job " + jobNameAt(minute(1))},
			last:    minute(1),
		},
		{
			name: "only the most recent missed time runs", cj: testCronJob(lastScheduled(minute(1))), now: minute(5).Add(10 * time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(5)), "update cronjobs/status tick"},
			last:    minute(5),
		},
		{
			name: "already ran this minute", cj: testCronJob(lastScheduled(minute(5))), now: minute(5).Add(50 * time.Second),
		},
		{
			name: "suspended", cj: testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.Suspend = new(true) }), now: minute(5),
		},
		{
			name: "too many missed times warns and runs the latest", cj: testCronJob(lastScheduled(minute(0).Add(-3 * time.Hour))), now: minute(5).Add(10 * time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(5)), "update cronjobs/status tick"},
			events:  []string{"Warning TooManyMissedTimes too many missed start times", "Normal SuccessfulCreate"},
			last:    minute(5),
		},
		{
			name: "starting deadline passed", cj: testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = new(int64(10)) }),
			now:    minute(5).Add(30 * time.Second),
			events: []string{"Warning MissSchedule Missed scheduled time to start a job"},
		},
		{
			name: "within the starting deadline", cj: testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = new(int64(60)) }),
			now:     minute(5).Add(30 * time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(5)), "update cronjobs/status tick"},
			last:    minute(5),
		},
		{
			name: "forbid skips while one runs",
			cj:   testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }),
			jobs: func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, minute(1), "")} },
			now:  minute(2).Add(time.Second),
			// The running job joins status.active.
			actions: []string{"update cronjobs/status tick"},
			events:  []string{"Normal JobAlreadyActive"},
			last:    minute(1),
		},
		{
			name: "forbid runs once the previous one finished",
			cj:   testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }),
			jobs: func(cj *batchv1.CronJob) []*batchv1.Job {
				return []*batchv1.Job{ownedJob(cj, minute(1), batchv1.JobComplete)}
			},
			now:     minute(2).Add(time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(2)), "update cronjobs/status tick"},
			last:    minute(2),
		},
		{
			name: "replace deletes the running one first",
			cj:   testCronJob(lastScheduled(minute(1)), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }),
			jobs: func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, minute(1), "")} },
			now:  minute(2).Add(time.Second),
			actions: []string{"delete jobs " + jobNameAt(minute(1)), "create jobs " + jobNameAt(minute(2)),
				"update cronjobs/status tick"},
			events: []string{"Normal SuccessfulDelete Deleted job " + jobNameAt(minute(1)), "Normal SuccessfulCreate"},
			last:   minute(2),
		},
		{
			name: "allow runs alongside",
			cj:   testCronJob(lastScheduled(minute(1))),
			jobs: func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, minute(1), "")} },
			now:  minute(2).Add(time.Second),
			actions: []string{"create jobs " + jobNameAt(minute(2)),
				"update cronjobs/status tick"},
			last: minute(2),
		},
		{
			name: "history limits delete the oldest finished jobs",
			cj: testCronJob(lastScheduled(minute(9)), func(cj *batchv1.CronJob) {
				cj.Spec.SuccessfulJobsHistoryLimit = new(int32(2))
			}),
			jobs: func(cj *batchv1.CronJob) []*batchv1.Job {
				return []*batchv1.Job{
					ownedJob(cj, minute(5), batchv1.JobComplete), ownedJob(cj, minute(1), batchv1.JobComplete),
					ownedJob(cj, minute(3), batchv1.JobComplete), ownedJob(cj, minute(2), batchv1.JobFailed),
					ownedJob(cj, minute(4), batchv1.JobFailed), ownedJob(cj, minute(6), batchv1.JobFailed),
				}
			},
			now: minute(9).Add(30 * time.Second),
			actions: []string{"delete jobs " + jobNameAt(minute(1)),
				"delete jobs " + jobNameAt(minute(2)), "delete jobs " + jobNameAt(minute(4)),
				"update cronjobs/status tick"}, // lastSuccessfulTime
			last: minute(9),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var jobs []*batchv1.Job
			if tc.jobs != nil {
				jobs = tc.jobs(tc.cj)
			}
			f := newFixture(t, tc.now, tc.cj, jobs...)
			if err := f.c.reconcile(context.Background(), "ns/tick"); err != nil {
				t.Fatal(err)
			}
			if got := f.actions(); !slices.Equal(got, tc.actions) {
				t.Errorf("actions\n got %q\nwant %q", got, tc.actions)
			}
			events := f.events()
			for _, want := range tc.events {
				if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, want) }) {
					t.Errorf("no event %q in %q", want, events)
				}
			}
			cj := f.cronJob(t)
			if tc.last.IsZero() {
				if tc.cj.Status.LastScheduleTime == nil && cj.Status.LastScheduleTime != nil {
					t.Errorf("lastScheduleTime %v, want none", cj.Status.LastScheduleTime)
				}
			} else if cj.Status.LastScheduleTime == nil || !cj.Status.LastScheduleTime.Time.Equal(tc.last) {
				t.Errorf("lastScheduleTime %v, want %v", cj.Status.LastScheduleTime, tc.last)
			}
			for _, a := range tc.actions {
				name, ok := strings.CutPrefix(a, "create jobs ")
				if !ok {
					continue
				}
				j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != tc.cj.UID || ref.Kind != "CronJob" {
					t.Errorf("job owner %v", j.OwnerReferences)
				}
				if ts := j.Annotations[ScheduledTimestampAnnotation]; ts != tc.last.Format(time.RFC3339) {
					t.Errorf("scheduled-timestamp %q, want %s", ts, tc.last.Format(time.RFC3339))
				}
				if j.Labels["app"] != "tick" {
					t.Errorf("labels %v", j.Labels)
				}
				if !slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name && r.Kind == "Job" }) {
					t.Errorf("status.active %v lacks %s", cj.Status.Active, name)
				}
			}
		})
	}
}

func TestReconcileTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	// 09:00 in New York on 9 March 2026 (EDT) is 13:00 UTC.
	cj := testCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.Schedule = "0 9 * * *"
		cj.Spec.TimeZone = new("America/New_York")
		cj.Status.LastScheduleTime = &metav1.Time{Time: time.Date(2026, 3, 8, 9, 0, 0, 0, ny)}
	})
	f := newFixture(t, time.Date(2026, 3, 9, 13, 0, 5, 0, time.UTC), cj)
	if err := f.c.reconcile(context.Background(), "ns/tick"); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)
	j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), jobNameAt(want), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no job for %v: %v (actions %q)", want, err, f.actions())
	}
	if ts := j.Annotations[ScheduledTimestampAnnotation]; ts != "2026-03-09T09:00:00-04:00" {
		t.Errorf("scheduled-timestamp %q", ts)
	}
}

func TestReconcileAdvancesWithClock(t *testing.T) {
	f := newFixture(t, at(0), testCronJob())
	ctx := context.Background()
	created := 0
	for range 3 {
		f.clock.Step(time.Minute)
		// A fresh fixture from what the controller wrote plays the
		// informers catching up.
		cj := f.cronJob(t)
		jobs, _ := f.client.BatchV1().Jobs("ns").List(ctx, metav1.ListOptions{})
		var js []*batchv1.Job
		for i := range jobs.Items {
			js = append(js, &jobs.Items[i])
		}
		next := newFixture(t, f.clock.Now(), cj, js...)
		if err := next.c.reconcile(ctx, "ns/tick"); err != nil {
			t.Fatal(err)
		}
		for _, a := range next.actions() {
			if strings.HasPrefix(a, "create jobs") {
				created++
			}
		}
		f = &fixture{c: next.c, client: next.client, recorder: next.recorder, clock: next.clock}
	}
	if created != 3 {
		t.Errorf("created %d jobs over three minutes, want 3", created)
	}
}
