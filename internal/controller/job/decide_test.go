package job

import (
	"maps"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type jobOpt func(*batchv1.Job)

func testJob(opts ...jobOpt) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Parallelism:    new(int32(1)),
			Completions:    new(int32(1)),
			BackoffLimit:   new(int32(6)),
			CompletionMode: new(batchv1.NonIndexedCompletion),
			Suspend:        new(false),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func completions(n int32) jobOpt { return func(j *batchv1.Job) { j.Spec.Completions = &n } }
func noCompletions() jobOpt      { return func(j *batchv1.Job) { j.Spec.Completions = nil } }
func parallelism(n int32) jobOpt {
	return func(j *batchv1.Job) { j.Spec.Parallelism = &n }
}
func backoffLimit(n int32) jobOpt { return func(j *batchv1.Job) { j.Spec.BackoffLimit = &n } }
func suspended() jobOpt           { return func(j *batchv1.Job) { j.Spec.Suspend = new(true) } }
func indexedMode() jobOpt {
	return func(j *batchv1.Job) { j.Spec.CompletionMode = new(batchv1.IndexedCompletion) }
}
func onFailure() jobOpt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }
}
func deadlineAt(start time.Time, secs int64) jobOpt {
	return func(j *batchv1.Job) {
		t := metav1.NewTime(start)
		j.Status.StartTime = &t
		j.Spec.ActiveDeadlineSeconds = &secs
	}
}

func idx(is ...int) map[int]bool {
	m := map[int]bool{}
	for _, i := range is {
		m[i] = true
	}
	return m
}

func TestWantActive(t *testing.T) {
	cases := []struct {
		name string
		job  *batchv1.Job
		c    counts
		want int
	}{
		{"one pod by default", testJob(), counts{}, 1},
		{"parallelism caps", testJob(completions(5), parallelism(2)), counts{}, 2},
		{"remaining completions cap", testJob(completions(5), parallelism(2)), counts{succeeded: 4}, 1},
		{"all done", testJob(completions(5), parallelism(2)), counts{succeeded: 5}, 0},
		{"parallelism zero", testJob(completions(5), parallelism(0)), counts{}, 0},
		{"suspended", testJob(completions(5), parallelism(3), suspended()), counts{active: 3}, 0},
		{"work queue before a success", testJob(noCompletions(), parallelism(3)), counts{}, 3},
		{"work queue after a success keeps the running ones", testJob(noCompletions(), parallelism(3)), counts{succeeded: 1, active: 2}, 2},
		{"indexed remaining", testJob(indexedMode(), completions(4), parallelism(3)), counts{succeededIndexes: idx(0, 1)}, 2},
		{"indexed parallel", testJob(indexedMode(), completions(4), parallelism(3)), counts{succeededIndexes: idx()}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wantActive(tc.job, tc.c); got != tc.want {
				t.Errorf("wantActive = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDecideFinish(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		job    *batchv1.Job
		c      counts
		now    time.Time
		done   bool
		reason string
	}{
		{"running", testJob(completions(3)), counts{succeeded: 2, active: 1}, start, false, ""},
		{"completions reached", testJob(completions(3)), counts{succeeded: 3}, start, true, reasonCompletionsReach},
		{"work queue needs no active", testJob(noCompletions(), parallelism(2)), counts{succeeded: 1, active: 1}, start, false, ""},
		{"work queue done", testJob(noCompletions(), parallelism(2)), counts{succeeded: 1}, start, true, reasonCompletionsReach},
		{"at the backoff limit", testJob(backoffLimit(1)), counts{failed: 1}, start, false, ""},
		{"past the backoff limit", testJob(backoffLimit(1)), counts{failed: 2}, start, true, reasonBackoffLimit},
		{"restarts count for OnFailure", testJob(backoffLimit(1), onFailure()), counts{failed: 0, restarts: 2, active: 1}, start, true, reasonBackoffLimit},
		{"restarts do not count for Never", testJob(backoffLimit(1)), counts{restarts: 2, active: 1}, start, false, ""},
		{"before the deadline", testJob(deadlineAt(start, 2)), counts{active: 1}, start.Add(1999 * time.Millisecond), false, ""},
		{"at the deadline", testJob(deadlineAt(start, 2)), counts{active: 1}, start.Add(2 * time.Second), true, reasonDeadline},
		{"indexed incomplete", testJob(indexedMode(), completions(3)), counts{succeededIndexes: idx(0, 2)}, start, false, ""},
		{"indexed complete", testJob(indexedMode(), completions(3)), counts{succeededIndexes: idx(0, 1, 2)}, start, true, reasonCompletionsReach},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fin, done := decideFinish(tc.job, tc.c, tc.now)
			if done != tc.done || fin.reason != tc.reason {
				t.Errorf("decideFinish = %v %q, want %v %q", done, fin.reason, tc.done, tc.reason)
			}
			if tc.reason == reasonBackoffLimit && fin.message != "Job has reached the specified backoff limit" {
				t.Errorf("message %q", fin.message)
			}
			if tc.reason == reasonDeadline && fin.message != "Job was active longer than specified deadline" {
				t.Errorf("message %q", fin.message)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {100, 6 * time.Minute}} {
		if got := backoffDelay(tc.failures, DefaultBackoffBase); got != tc.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	for _, tc := range []struct {
		set  map[int]bool
		text string
	}{
		{idx(), ""}, {idx(0), "0"}, {idx(0, 1, 2, 5), "0-2,5"}, {idx(1, 3, 4, 5, 9, 10), "1,3-5,9-10"},
	} {
		if got := formatIndexes(tc.set); got != tc.text {
			t.Errorf("formatIndexes(%v) = %q, want %q", tc.set, got, tc.text)
		}
		if got := parseIndexes(tc.text, 100); !maps.Equal(got, tc.set) {
			t.Errorf("parseIndexes(%q) = %v, want %v", tc.text, got, tc.set)
		}
	}
	if got := pendingIndexes(5, idx(0, 2), idx(1), 2); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("pendingIndexes = %v, want [3 4]", got)
	}
}

func TestPodForJob(t *testing.T) {
	j := testJob(indexedMode(), completions(3))
	p := podForJob(j, 2)
	if p.Annotations[IndexAnnotation] != "2" || p.Labels[IndexAnnotation] != "2" {
		t.Errorf("index annotation/label: %v %v", p.Annotations, p.Labels)
	}
	if p.Spec.Hostname != "pi-2" || p.GenerateName != "pi-2-" {
		t.Errorf("hostname %q generateName %q", p.Spec.Hostname, p.GenerateName)
	}
	if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].Value != "2" {
		t.Errorf("env %v", env)
	}
	if len(p.Finalizers) != 1 || p.Finalizers[0] != TrackingFinalizer {
		t.Errorf("finalizers %v", p.Finalizers)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != j.UID || ref.Kind != "Job" {
		t.Errorf("controller ref %v", ref)
	}
	if j.Spec.Template.Spec.Containers[0].Env != nil {
		t.Error("the template was changed")
	}
	plain := podForJob(testJob(), -1)
	if plain.GenerateName != "pi-" || plain.Annotations[IndexAnnotation] != "" || plain.Spec.Hostname != "" {
		t.Errorf("non-indexed pod: %q %v %q", plain.GenerateName, plain.Annotations, plain.Spec.Hostname)
	}
}

func FuzzParseIndexes(f *testing.F) {
	for _, s := range []string{"", "0", "0-2,5", "1,3-5,9-10", "7-3", "-1", "a,b-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set := parseIndexes(s, 1000)
		for i := range set {
			if i < 0 || i >= 1000 {
				t.Fatalf("index %d out of bounds", i)
			}
		}
		if again := parseIndexes(formatIndexes(set), 1000); !maps.Equal(again, set) {
			t.Fatalf("round trip of %q: %v != %v", s, again, set)
		}
	})
}
