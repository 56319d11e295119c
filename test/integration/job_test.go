package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-sh/bosun/internal/simnode"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// jobSim runs two simulated nodes for the test's lifetime.
func jobSim(t *testing.T, s *testserver.Server, prefix string) {
	t.Helper()
	runSimNodes(t, context.Background(), s.Client, simConfig(prefix, 2))
}

// jobSpec is a job whose pods run on simulated nodes; exitAfter "" runs
// them until deleted.
func jobSpec(name, exitAfter, exitCode string) *batchv1.Job {
	ann := map[string]string{}
	if exitAfter != "" {
		ann[simnode.ExitAfterAnnotation] = exitAfter
	}
	if exitCode != "" {
		ann[simnode.ExitCodeAnnotation] = exitCode
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: ann},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "work", Image: "busybox:1"}}},
			},
		},
	}
}

// jobPoll is a pollUntil result: done, or not yet because of what the
// format says.
func jobPoll(done bool, format string, args ...any) (bool, error) {
	if done {
		return true, nil
	}
	return false, fmt.Errorf(format, args...)
}

// jobCondition returns the job's condition of type ct that is True.
func jobCondition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == ct && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// waitJob polls the job until done reports true.
func waitJob(t *testing.T, ctx context.Context, s *testserver.Server, ns, name string, timeout time.Duration, what string, done func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	pollUntil(t, timeout, what, func() (bool, error) {
		j, err := s.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = j
		return jobPoll(done(j), "status %+v", j.Status)
	})
	return last
}

// jobPods lists the pods of the job called name.
func jobPods(t *testing.T, ctx context.Context, s *testserver.Server, ns, name string) []corev1.Pod {
	t.Helper()
	list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// jobMaxActive watches the namespace's pods and reports the most that
// were active (not finished, not being deleted) at any one time.
func jobMaxActive(t *testing.T, ctx context.Context, s *testserver.Server, ns string) func() int {
	w, err := s.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	most := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		active := map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			live := ev.Type != watch.Deleted && p.DeletionTimestamp == nil &&
				p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
			if live {
				active[p.Name] = true
			} else {
				delete(active, p.Name)
			}
			mu.Lock()
			most = max(most, len(active))
			mu.Unlock()
		}
	}()
	return func() int {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}

func jobEventReasons(t *testing.T, ctx context.Context, s *testserver.Server, ns, name string) map[string]string {
	t.Helper()
	list, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out[e.Reason] = e.Message
		}
	}
	return out
}

// TestJob runs jobs on simulated nodes whose pods exit on cue.
func TestJob(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	jobSim(t, s, "job-")
	ctx := testContext(t)

	t.Run("parallel completions", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		maxActive := jobMaxActive(t, ctx, s, ns)
		j := jobSpec("par", "200ms", "")
		j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(5)), ptrTo(int32(2))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out := k.ok(t, "wait", "-n", ns, "--for=condition=complete", "job/par", "--timeout=90s")
		if !strings.Contains(out, "job.batch/par condition met") {
			t.Errorf("kubectl wait printed %q", out)
		}
		got := waitJob(t, ctx, s, ns, "par", 10*time.Second, "job counted", func(j *batchv1.Job) bool {
			return j.Status.Succeeded == 5
		})
		if got.Status.Failed != 0 || got.Status.Active != 0 || got.Status.CompletionTime == nil || got.Status.StartTime == nil {
			t.Errorf("status %+v", got.Status)
		}
		if jobCondition(got, batchv1.JobSuccessCriteriaMet) == nil || jobCondition(got, batchv1.JobComplete) == nil {
			t.Errorf("conditions %+v", got.Status.Conditions)
		}
		if n := maxActive(); n > 2 || n < 1 {
			t.Errorf("at most %d pods were active at once, want 1..2", n)
		}
		pollUntil(t, 10*time.Second, "finalizers removed", func() (bool, error) {
			pods := jobPods(t, ctx, s, ns, "par")
			succeeded := 0
			for _, p := range pods {
				if len(p.Finalizers) > 0 {
					return false, fmt.Errorf("pod %s has finalizers %v", p.Name, p.Finalizers)
				}
				if p.Status.Phase == corev1.PodSucceeded {
					succeeded++
				}
			}
			return jobPoll(succeeded == 5 && len(pods) == 5, "%d pods, %d succeeded", len(pods), succeeded)
		})
		ev := jobEventReasons(t, ctx, s, ns, "par")
		if !strings.HasPrefix(ev["SuccessfulCreate"], "Created pod: par-") || ev["Completed"] != "Job completed" {
			t.Errorf("events %v", ev)
		}
	})

	t.Run("backoff limit", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		j := jobSpec("fail", "100ms", "1")
		j.Spec.BackoffLimit = ptrTo(int32(1))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The second pod starts after the first failure's 10 s backoff.
		got := waitJob(t, ctx, s, ns, "fail", 60*time.Second, "job failed", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobFailed) != nil && j.Status.Failed == 2
		})
		c := jobCondition(got, batchv1.JobFailed)
		if c.Reason != "BackoffLimitExceeded" || c.Message != "Job has reached the specified backoff limit" {
			t.Errorf("Failed condition %+v", c)
		}
		if jobCondition(got, batchv1.JobFailureTarget) == nil || got.Status.Succeeded != 0 {
			t.Errorf("status %+v", got.Status)
		}
		if pods := jobPods(t, ctx, s, ns, "fail"); len(pods) != 2 {
			t.Errorf("%d pods, want 2 (backoffLimit 1 allows one retry)", len(pods))
		}
		if ev := jobEventReasons(t, ctx, s, ns, "fail"); ev["BackoffLimitExceeded"] == "" {
			t.Errorf("events %v", ev)
		}
	})

	t.Run("restarts count with OnFailure", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		j := jobSpec("flaky", "100ms", "2")
		j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		j.Spec.BackoffLimit = ptrTo(int32(2))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitJob(t, ctx, s, ns, "flaky", 30*time.Second, "job failed by restarts", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobFailed) != nil
		})
		if c := jobCondition(got, batchv1.JobFailed); c.Reason != "BackoffLimitExceeded" {
			t.Errorf("Failed condition %+v", c)
		}
		// One pod, restarted in place until the limit; it is then deleted.
		if got.Status.Failed != 0 || got.Status.Active != 0 {
			t.Errorf("status %+v", got.Status)
		}
		pollUntil(t, 20*time.Second, "pod deleted", func() (bool, error) {
			pods := jobPods(t, ctx, s, ns, "flaky")
			return jobPoll(len(pods) == 0, "%d pods left", len(pods))
		})
	})

	t.Run("active deadline", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		j := jobSpec("slow", "", "")
		j.Spec.ActiveDeadlineSeconds = ptrTo(int64(2))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitJob(t, ctx, s, ns, "slow", 30*time.Second, "job past its deadline", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobFailed) != nil
		})
		if c := jobCondition(got, batchv1.JobFailed); c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
			t.Errorf("Failed condition %+v", c)
		}
		if took := jobCondition(got, batchv1.JobFailed).LastTransitionTime.Sub(got.Status.StartTime.Time); took < 2*time.Second || took > 10*time.Second {
			t.Errorf("failed %v after start, want about 2s", took)
		}
		pollUntil(t, 20*time.Second, "pods deleted", func() (bool, error) {
			pods := jobPods(t, ctx, s, ns, "slow")
			return jobPoll(len(pods) == 0, "%d pods left", len(pods))
		})
		if got.Status.Active != 0 {
			t.Errorf("active %d", got.Status.Active)
		}
	})

	t.Run("ttl after finished", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		j := jobSpec("short", "100ms", "")
		j.Spec.TTLSecondsAfterFinished = ptrTo(int32(1))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 60*time.Second, "job deleted after its TTL", func() (bool, error) {
			_, err := s.Client.BatchV1().Jobs(ns).Get(ctx, "short", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		pollUntil(t, 30*time.Second, "pods collected", func() (bool, error) {
			pods := jobPods(t, ctx, s, ns, "short")
			return jobPoll(len(pods) == 0, "%d pods left", len(pods))
		})
	})

	t.Run("indexed", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, s)
		j := jobSpec("idx", "200ms", "")
		j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
		j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(3))
		if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitJob(t, ctx, s, ns, "idx", 60*time.Second, "indexed job complete", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobComplete) != nil && j.Status.Succeeded == 3
		})
		if got.Status.CompletedIndexes != "0-2" {
			t.Errorf("completedIndexes %q, want 0-2", got.Status.CompletedIndexes)
		}
		seen := map[string]bool{}
		for _, p := range jobPods(t, ctx, s, ns, "idx") {
			i := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != i || p.Spec.Hostname != "idx-"+i {
				t.Errorf("pod %s: index %q label %q hostname %q", p.Name, i, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Spec.Hostname)
			}
			env := p.Spec.Containers[0].Env
			if len(env) == 0 || env[len(env)-1].Name != "JOB_COMPLETION_INDEX" || env[len(env)-1].Value != i {
				t.Errorf("pod %s env %v", p.Name, env)
			}
			seen[i] = true
		}
		if len(seen) != 3 || !seen["0"] || !seen["1"] || !seen["2"] {
			t.Errorf("indexes %v", seen)
		}
	})
}

// TestCronJob checks what needs a running server: kubectl's
// create job --from=cronjob, and that the controller starts a job when a
// scheduled time was missed. Schedules themselves are unit-tested with a
// fake clock.
func TestCronJob(t *testing.T) {
	s, k := startKubectl(t, testserver.Options{Controllers: true})
	jobSim(t, s, "cron-")
	ctx := testContext(t)
	ns := newNamespace(t, s)
	k.apply(t, `apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
  namespace: `+ns+`
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            sim.bosun.sh/exit-after: 300ms
        spec:
          restartPolicy: Never
          containers:
          - name: tick
            image: busybox:1
`)
	cj, err := s.Client.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	out := k.ok(t, "create", "job", "-n", ns, "manual", "--from=cronjob/tick")
	if !strings.Contains(out, "job.batch/manual created") {
		t.Errorf("kubectl create job printed %q", out)
	}
	k.ok(t, "wait", "-n", ns, "--for=condition=complete", "job/manual", "--timeout=60s")
	manual, err := s.Client.BatchV1().Jobs(ns).Get(ctx, "manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(manual); ref == nil || ref.UID != cj.UID {
		t.Errorf("manual job owner %v", manual.OwnerReferences)
	}

	// Pretend the last run was two minutes ago: the controller owes one
	// run, for the latest minute.
	past := metav1.NewTime(time.Now().Add(-2 * time.Minute).Truncate(time.Minute))
	pollUntil(t, 10*time.Second, "lastScheduleTime set", func() (bool, error) {
		cur, err := s.Client.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cur.Status.LastScheduleTime = &past
		_, err = s.Client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err == nil, err
	})
	var scheduled *batchv1.Job
	pollUntil(t, 20*time.Second, "a scheduled job", func() (bool, error) {
		list, err := s.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			if j := &list.Items[i]; j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "" {
				scheduled = j
				return true, nil
			}
		}
		return jobPoll(false, "%d jobs, none scheduled", len(list.Items))
	})
	at, err := time.Parse(time.RFC3339, scheduled.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	if !at.After(past.Time) || at.After(time.Now()) || at.Second() != 0 {
		t.Errorf("scheduled for %v, want a whole minute after %v", at, past.Time)
	}
	if want := fmt.Sprintf("tick-%d", at.Unix()/60); scheduled.Name != want {
		t.Errorf("job name %s, want %s", scheduled.Name, want)
	}
	if ref := metav1.GetControllerOf(scheduled); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("owner %v", scheduled.OwnerReferences)
	}
	pollUntil(t, 30*time.Second, "cronjob status", func() (bool, error) {
		cur, err := s.Client.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := cur.Status
		ok := st.LastScheduleTime != nil && !st.LastScheduleTime.Time.Before(at) && st.LastSuccessfulTime != nil
		return jobPoll(ok, "status %+v", st)
	})
	if ev := jobEventReasons(t, ctx, s, ns, "tick"); !strings.HasPrefix(ev["SuccessfulCreate"], "Created job tick-") {
		t.Errorf("events %v", ev)
	}
}
