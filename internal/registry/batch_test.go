package registry

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newJob() *batchv1.Job {
	return &batchv1.Job{ObjectMeta: groupsMeta("pi"), Spec: batchv1.JobSpec{Template: groupsTemplate(corev1.RestartPolicyNever)}}
}

func TestJobCreate(t *testing.T) {
	k := jobs()
	j := newJob()
	j.Status.Active = 3
	groupsWantFields(t, groupsCreate(k, j))

	uid := string(j.UID)
	if j.Status.Active != 0 {
		t.Errorf("status not reset: %+v", j.Status)
	}
	if got := j.Spec.Selector.MatchLabels; len(got) != 1 || got["batch.kubernetes.io/controller-uid"] != uid {
		t.Errorf("selector = %v", got)
	}
	for k, v := range map[string]string{"app": "web", "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
		"batch.kubernetes.io/job-name": "pi", "job-name": "pi"} {
		if j.Spec.Template.Labels[k] != v {
			t.Errorf("template label %s = %q, want %q", k, j.Spec.Template.Labels[k], v)
		}
		if j.Labels[k] != v {
			t.Errorf("job label %s = %q, want %q", k, j.Labels[k], v)
		}
	}
	s := j.Spec
	if *s.Parallelism != 1 || *s.Completions != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
		*s.Suspend || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed || s.ManualSelector != nil {
		t.Errorf("defaults = %+v", s)
	}

	// A work queue (parallelism only) has no completion count.
	q := newJob()
	q.Spec.Parallelism = new(int32(4))
	groupsWantFields(t, groupsCreate(k, q))
	if q.Spec.Completions != nil {
		t.Errorf("completions = %d, want unset", *q.Spec.Completions)
	}
	if got := jobCompletions(q); got != "0/1 of 4" {
		t.Errorf("COMPLETIONS = %q", got)
	}
}

func TestJobValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{"restart always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]string{"spec.template.spec.restartPolicy"}},
		{"negative counts", func(j *batchv1.Job) {
			j.Spec.Parallelism, j.Spec.BackoffLimit = new(int32(-1)), new(int32(-1))
		}, []string{"spec.backoffLimit", "spec.parallelism"}},
		{"foreign selector", func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "other"}}
		}, []string{"spec.selector", "spec.template.metadata.labels"}},
		{"manual selector", func(j *batchv1.Job) {
			j.Spec.ManualSelector = new(true)
			j.Spec.Selector = groupsSelector()
		}, nil},
		{"manual selector missing", func(j *batchv1.Job) { j.Spec.ManualSelector = new(true) }, []string{"spec.selector"}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = new(batchv1.IndexedCompletion)
			j.Spec.Parallelism = new(int32(2))
		}, []string{"spec.completions"}},
		{"bad completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = new(batchv1.CompletionMode("Sometimes")) },
			[]string{"spec.completionMode"}},
		{"pod failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}
		}, []string{"spec.template.spec.restartPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			tc.mutate(j)
			groupsWantFields(t, groupsCreate(jobs(), j), tc.want...)
		})
	}

	t.Run("pod failure policy defaults", func(t *testing.T) {
		j := newJob()
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}
		groupsWantFields(t, groupsCreate(jobs(), j))
		if *j.Spec.PodReplacementPolicy != batchv1.Failed || j.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
			t.Errorf("defaults = %+v", j.Spec)
		}
	})

	t.Run("update", func(t *testing.T) {
		k := jobs()
		old := newJob()
		groupsCreate(k, old)
		ok := old.DeepCopy()
		ok.Spec.Suspend = new(true)
		ok.Spec.Parallelism = new(int32(3))
		groupsWantFields(t, k.Validate(ok, old))
		bad := old.DeepCopy()
		bad.Spec.Template.Spec.Containers[0].Image = "perl"
		bad.Spec.Completions = new(int32(5))
		groupsWantFields(t, k.Validate(bad, old), "spec.completions", "spec.template")
	})
}

func TestJobColumns(t *testing.T) {
	now := time.Now()
	start := metav1.NewTime(now.Add(-90 * time.Second))
	done := metav1.NewTime(now.Add(-30 * time.Second))
	cond := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	cases := []struct {
		name                       string
		status                     batchv1.JobStatus
		completions                *int32
		wantStatus, wantCompletion string
		wantDuration               string
	}{
		{"pending", batchv1.JobStatus{}, new(int32(1)), "Running", "0/1", ""},
		{"running", batchv1.JobStatus{StartTime: &start}, new(int32(3)), "Running", "0/3", "90s"},
		{"complete", batchv1.JobStatus{StartTime: &start, CompletionTime: &done, Succeeded: 3, Conditions: cond(batchv1.JobComplete)},
			new(int32(3)), "Complete", "3/3", "60s"},
		{"failed", batchv1.JobStatus{Conditions: cond(batchv1.JobFailed)}, nil, "Failed", "0/1", ""},
		{"suspended", batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended)}, new(int32(1)), "Suspended", "0/1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			j.Spec.Completions = tc.completions
			j.Status = tc.status
			if got := jobStatus(j); got != tc.wantStatus {
				t.Errorf("STATUS = %q, want %q", got, tc.wantStatus)
			}
			if got := jobCompletions(j); got != tc.wantCompletion {
				t.Errorf("COMPLETIONS = %q, want %q", got, tc.wantCompletion)
			}
			if got := jobDuration(j, now); got != tc.wantDuration {
				t.Errorf("DURATION = %q, want %q", got, tc.wantDuration)
			}
		})
	}
}

func newCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: groupsMeta("hello"), Spec: batchv1.CronJobSpec{
		Schedule: "0 3 * * MON-FRI", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: groupsTemplate(corev1.RestartPolicyOnFailure)}}}}
}

func TestCronJob(t *testing.T) {
	k := cronJobs()
	cj := newCronJob()
	groupsWantFields(t, groupsCreate(k, cj))
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults = %+v", s)
	}
	if js := s.JobTemplate.Spec; js.BackoffLimit != nil || js.CompletionMode != nil || js.Template.Spec.DNSPolicy == "" {
		t.Errorf("job template defaults = %+v", js)
	}
	row := k.Row(cj)
	if row[2] != "<none>" || row[3] != "False" || row[4] != int64(0) || row[5] != "<none>" || row[9] != "<none>" {
		t.Errorf("row = %v", row)
	}

	cases := []struct {
		name   string
		mutate func(cj *batchv1.CronJob)
		want   []string
	}{
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = new("Europe/Paris") }, nil},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = new("Mars/Olympus") }, []string{"spec.timeZone"}},
		{"local time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = new("Local") }, []string{"spec.timeZone"}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 3 * * *" }, []string{"spec.schedule"}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }, []string{"spec.schedule"}},
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []string{"spec.schedule"}},
		{"bad concurrency", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }, []string{"spec.concurrencyPolicy"}},
		{"selector given", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = groupsSelector() },
			[]string{"spec.jobTemplate.spec.selector"}},
		{"restart always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []string{"spec.jobTemplate.spec.template.spec.restartPolicy"}},
		{"name too long", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, []string{"metadata.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob()
			tc.mutate(cj)
			groupsWantFields(t, groupsCreate(k, cj), tc.want...)
		})
	}
}

func TestParseCronSchedule(t *testing.T) {
	cases := []struct {
		schedule string
		ok       bool
	}{
		{"* * * * *", true},
		{"*/15 0-6,22 1,15 */2 1-5", true},
		{"0 0 ? * SUN", true},
		{"30 8 1 jan-mar mon,wed", true},
		{"5/10 * * * *", true},
		{"@hourly", true},
		{"@daily", true},
		{"@Weekly", true},
		{"@midnight", true},
		{"@annually", true},
		{"@every 5m", false},
		{"@reboot", false},
		{"* * * *", false},
		{"* * * * * *", false},
		{"60 * * * *", false},
		{"* 24 * * *", false},
		{"* * 0 * *", false},
		{"* * * 13 *", false},
		{"* * * * 7", false},
		{"5-1 * * * *", false},
		{"*/0 * * * *", false},
		{"1,,2 * * * *", false},
		{"* * * FOO *", false},
		{"-1 * * * *", false},
	}
	for _, tc := range cases {
		err := parseCronSchedule(tc.schedule)
		if (err == nil) != tc.ok {
			t.Errorf("parseCronSchedule(%q) = %v, want ok=%v", tc.schedule, err, tc.ok)
		}
	}
}
