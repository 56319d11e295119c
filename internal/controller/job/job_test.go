package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-sh/bosun/internal/controller"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type podState struct {
	phase     corev1.PodPhase
	finalizer bool
	deleting  bool
	finished  time.Time // for failed pods
	restarts  int32
}

func jobPod(j *batchv1.Job, name string, st podState) *corev1.Pod {
	p := podForJob(j, -1)
	p.Name, p.UID = name, k8stypes.UID("uid-"+name)
	p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	if !st.finalizer {
		p.Finalizers = nil
	}
	p.Status.Phase = st.phase
	if st.deleting {
		p.DeletionTimestamp = &metav1.Time{Time: now}
	}
	cs := corev1.ContainerStatus{Name: "c", RestartCount: st.restarts}
	if !st.finished.IsZero() {
		cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(st.finished)}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return p
}

type jobFixture struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newJobFixture(t *testing.T, at time.Time, j *batchv1.Job, pods ...*corev1.Pod) *jobFixture {
	t.Helper()
	objs := []runtime.Object{j}
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	jobIdx, podIdx := idx(), idx()
	if err := jobIdx.Add(j); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		objs = append(objs, p)
		if err := podIdx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	client := fake.NewClientset(objs...)
	var seq atomic.Int32
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, seq.Add(1))
		}
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(at)
	f := &jobFixture{client: client, recorder: record.NewFakeRecorder(100)}
	f.c = &Controller{
		client: client, recorder: f.recorder, clock: clk, log: slog.New(slog.DiscardHandler),
		BackoffBase: DefaultBackoffBase,
		jobLister:   batchlisters.NewJobLister(jobIdx), podLister: corelisters.NewPodLister(podIdx),
		queue: controller.NewQueue("job-test"), exp: controller.NewExpectations(clk),
		counted: map[k8stypes.UID]bool{}, written: map[string]*batchv1.Job{},
	}
	return f
}

// tally counts the client's writes as "verb resource[/subresource]".
func (f *jobFixture) tally() map[string]int {
	out := map[string]int{}
	for _, a := range f.client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			k := v + " " + a.GetResource().Resource
			if a.GetSubresource() != "" {
				k += "/" + a.GetSubresource()
			}
			out[k]++
		}
	}
	return out
}

func (f *jobFixture) job(t *testing.T) *batchv1.Job {
	t.Helper()
	j, err := f.client.BatchV1().Jobs("default").Get(context.Background(), "pi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func started(at time.Time) jobOpt {
	return func(j *batchv1.Job) { t := metav1.NewTime(at); j.Status.StartTime = &t }
}

func TestJobReconcile(t *testing.T) {
	cases := []struct {
		name  string
		job   *batchv1.Job
		pods  func(j *batchv1.Job) []*corev1.Pod
		at    time.Time
		want  map[string]int
		check func(t *testing.T, j *batchv1.Job)
	}{
		{
			name: "creates up to parallelism", job: testJob(completions(5), parallelism(2)), at: now,
			want: map[string]int{"create pods": 2, "update jobs/status": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.StartTime == nil {
					t.Error("no startTime")
				}
			},
		},
		{
			name: "counts a finished pod, then lets it go",
			job:  testJob(completions(5), parallelism(2), started(now), func(j *batchv1.Job) { j.Status.Succeeded = 2 }),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{
					jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true}),
					jobPod(j, "b", podState{phase: corev1.PodRunning, finalizer: true}),
					jobPod(j, "c", podState{phase: corev1.PodSucceeded, finalizer: true}),
				}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 2, "patch pods": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.Succeeded != 3 || j.Status.Active != 2 || len(j.Status.UncountedTerminatedPods.Succeeded) != 0 {
					t.Errorf("status %+v", j.Status)
				}
			},
		},
		{
			name: "an uncounted pod without finalizer is not counted twice",
			job: testJob(completions(5), parallelism(1), started(now), func(j *batchv1.Job) {
				j.Status.Succeeded = 1
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []k8stypes.UID{"uid-c"}}
			}),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{
					jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true}),
					jobPod(j, "c", podState{phase: corev1.PodSucceeded}),
				}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 2},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.Succeeded != 2 {
					t.Errorf("succeeded %d, want 2", j.Status.Succeeded)
				}
			},
		},
		{
			name: "lowered parallelism deletes extras without counting them",
			job:  testJob(completions(5), parallelism(1), started(now)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{
					jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true}),
					jobPod(j, "b", podState{phase: corev1.PodPending, finalizer: true}),
					jobPod(j, "c", podState{phase: corev1.PodPending, finalizer: true}),
				}
			},
			at:   now,
			want: map[string]int{"patch pods": 2, "delete pods": 2, "update jobs/status": 1},
		},
		{
			name: "waits out the backoff after a failure",
			job:  testJob(completions(1), started(now), func(j *batchv1.Job) { j.Status.Failed = 1 }),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodFailed, finished: now.Add(-5 * time.Second)})}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 1}, // active and ready counts
		},
		{
			name: "creates again after the backoff",
			job:  testJob(completions(1), started(now), func(j *batchv1.Job) { j.Status.Failed = 1 }),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodFailed, finished: now.Add(-11 * time.Second)})}
			},
			at:   now,
			want: map[string]int{"create pods": 1, "update jobs/status": 1},
		},
		{
			name: "fails past the backoff limit",
			job:  testJob(completions(1), backoffLimit(0), started(now)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodFailed, finalizer: true, finished: now})}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 2, "patch pods": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.Failed != 1 || jobCond(j, batchv1.JobFailureTarget) == nil || jobCond(j, batchv1.JobFailed).Reason != "BackoffLimitExceeded" {
					t.Errorf("status %+v", j.Status)
				}
			},
		},
		{
			name: "restarts count against the limit with OnFailure",
			job:  testJob(completions(1), backoffLimit(2), onFailure(), started(now)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true, restarts: 3})}
			},
			at:   now,
			want: map[string]int{"patch pods": 1, "delete pods": 1, "update jobs/status": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				// The pod is still going away, so only the interim condition.
				if jobCond(j, batchv1.JobFailureTarget) == nil || jobCond(j, batchv1.JobFailed) != nil {
					t.Errorf("conditions %+v", j.Status.Conditions)
				}
			},
		},
		{
			name: "active deadline deletes the pods",
			job:  testJob(completions(1), deadlineAt(now.Add(-3*time.Second), 2)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true})}
			},
			at:   now,
			want: map[string]int{"patch pods": 1, "delete pods": 1, "update jobs/status": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if c := jobCond(j, batchv1.JobFailureTarget); c == nil || c.Reason != "DeadlineExceeded" {
					t.Errorf("conditions %+v", j.Status.Conditions)
				}
			},
		},
		{
			name: "before the deadline nothing happens",
			job:  testJob(completions(1), deadlineAt(now.Add(-time.Second), 2)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true})}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 1}, // active 1
		},
		{
			name: "suspending deletes active pods and clears the start time",
			job:  testJob(completions(3), parallelism(2), suspended(), started(now)),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{
					jobPod(j, "a", podState{phase: corev1.PodRunning, finalizer: true}),
					jobPod(j, "b", podState{phase: corev1.PodRunning, finalizer: true}),
				}
			},
			at:   now,
			want: map[string]int{"patch pods": 2, "delete pods": 2, "update jobs/status": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.StartTime != nil || jobCond(j, batchv1.JobSuspended) == nil {
					t.Errorf("status %+v", j.Status)
				}
			},
		},
		{
			name: "completes",
			job:  testJob(completions(1), started(now.Add(-time.Minute))),
			pods: func(j *batchv1.Job) []*corev1.Pod {
				return []*corev1.Pod{jobPod(j, "a", podState{phase: corev1.PodSucceeded, finalizer: true})}
			},
			at:   now,
			want: map[string]int{"update jobs/status": 2, "patch pods": 1},
			check: func(t *testing.T, j *batchv1.Job) {
				if j.Status.Succeeded != 1 || j.Status.CompletionTime == nil || jobCond(j, batchv1.JobComplete) == nil || jobCond(j, batchv1.JobSuccessCriteriaMet) == nil {
					t.Errorf("status %+v", j.Status)
				}
			},
		},
		{
			name: "ttl not yet",
			job:  finishedJob(testJob(func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = new(int32(10)) }), now.Add(-2*time.Second)),
			at:   now,
			want: map[string]int{},
		},
		{
			name: "ttl passed",
			job:  finishedJob(testJob(func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = new(int32(1)) }), now.Add(-2*time.Second)),
			at:   now,
			want: map[string]int{"delete jobs": 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(tc.job)
			}
			f := newJobFixture(t, tc.at, tc.job, pods...)
			if err := f.c.reconcile(context.Background(), "default/pi"); err != nil {
				t.Fatal(err)
			}
			got := f.tally()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("writes %v, want %v", got, tc.want)
			}
			for _, a := range f.client.Actions() {
				if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
					p := c.GetObject().(*corev1.Pod)
					if len(p.Finalizers) != 1 || p.Finalizers[0] != TrackingFinalizer || p.GenerateName != "pi-" {
						t.Errorf("created pod %s finalizers %v", p.Name, p.Finalizers)
					}
				}
			}
			if tc.check != nil && got["delete jobs"] == 0 {
				tc.check(t, f.job(t))
			}
		})
	}
}

func finishedJob(j *batchv1.Job, at time.Time) *batchv1.Job {
	t := metav1.NewTime(at)
	j.Status.StartTime, j.Status.CompletionTime = &t, &t
	j.Status.Succeeded = 1
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: t}}
	return j
}

func jobCond(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == ct && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
