package job

import (
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Condition reasons and messages, as Kubernetes words them.
const (
	reasonBackoffLimit     = "BackoffLimitExceeded"
	messageBackoffLimit    = "Job has reached the specified backoff limit"
	reasonDeadline         = "DeadlineExceeded"
	messageDeadline        = "Job was active longer than specified deadline"
	reasonCompletionsReach = "CompletionsReached"
	messageCompletions     = "Reached expected number of succeeded pods"
)

// Backoff bounds for recreating pods after failures.
const (
	DefaultBackoffBase = 10 * time.Second
	maxBackoff         = 6 * time.Minute
)

// counts is what a job's pods and recorded status add up to.
type counts struct {
	active, ready, terminating int
	// succeeded and failed include the status counters and the finished
	// pods not yet in them.
	succeeded, failed int
	// restarts sums container restarts of active pods, which count as
	// failures for restartPolicy OnFailure.
	restarts int
	// succeededIndexes are the indexes of an Indexed job that are done.
	succeededIndexes map[int]bool
	// lastFailure is when the newest failed pod finished.
	lastFailure time.Time
}

// finishReason says why a job ends, if it does.
type finishReason struct {
	failed          bool
	reason, message string
}

// decideFinish says whether the job is over: complete, or failed by its
// backoff limit or deadline. deadline is zero when the job has none.
func decideFinish(j *batchv1.Job, c counts, now time.Time) (finishReason, bool) {
	backoffLimit := 6
	if j.Spec.BackoffLimit != nil {
		backoffLimit = int(*j.Spec.BackoffLimit)
	}
	failures := c.failed
	if j.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		failures += c.restarts
	}
	if complete(j, c) {
		return finishReason{reason: reasonCompletionsReach, message: messageCompletions}, true
	}
	if failures > backoffLimit {
		return finishReason{failed: true, reason: reasonBackoffLimit, message: messageBackoffLimit}, true
	}
	if d, ok := deadline(j); ok && !now.Before(d) {
		return finishReason{failed: true, reason: reasonDeadline, message: messageDeadline}, true
	}
	return finishReason{}, false
}

// deadline is when activeDeadlineSeconds runs out.
func deadline(j *batchv1.Job) (time.Time, bool) {
	if j.Spec.ActiveDeadlineSeconds == nil || j.Status.StartTime == nil {
		return time.Time{}, false
	}
	return j.Status.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second), true
}

func indexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func complete(j *batchv1.Job, c counts) bool {
	if indexed(j) {
		n := int(*j.Spec.Completions)
		done := 0
		for i := range c.succeededIndexes {
			if i < n {
				done++
			}
		}
		return done >= n
	}
	if j.Spec.Completions == nil {
		return c.succeeded > 0 && c.active == 0
	}
	return c.succeeded >= int(*j.Spec.Completions)
}

// wantActive is how many pods should run now.
func wantActive(j *batchv1.Job, c counts) int {
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		return 0
	}
	par := 1
	if j.Spec.Parallelism != nil {
		par = int(*j.Spec.Parallelism)
	}
	switch {
	case indexed(j):
		left := int(*j.Spec.Completions) - len(c.succeededIndexes)
		return max(0, min(par, left))
	case j.Spec.Completions == nil:
		// A work-queue job stops starting pods at its first success and
		// lets the running ones finish.
		if c.succeeded > 0 {
			return min(c.active, par)
		}
		return par
	default:
		return max(0, min(par, int(*j.Spec.Completions)-c.succeeded))
	}
}

// backoffDelay is how long to wait after the newest failure before
// creating pods again: base doubling per failure, capped at six minutes.
func backoffDelay(failures int, base time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// pendingIndexes returns, lowest first, the indexes below completions
// that have neither succeeded nor an active pod.
func pendingIndexes(completions int, succeeded, active map[int]bool, n int) []int {
	var out []int
	for i := 0; i < completions && len(out) < n; i++ {
		if !succeeded[i] && !active[i] {
			out = append(out, i)
		}
	}
	return out
}

// formatIndexes renders indexes as "0-2,5", the form of
// status.completedIndexes.
func formatIndexes(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

// parseIndexes reads a completedIndexes string; bad parts are skipped.
func parseIndexes(s string, limit int) map[int]bool {
	out := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil || lo < 0 {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				continue
			}
		}
		for i := lo; i <= hi && i < limit; i++ {
			out[i] = true
		}
	}
	return out
}
