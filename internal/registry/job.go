package registry

import (
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels the server puts on the pod template of a job whose selector it
// generates. The unprefixed pair is kept for clients that still read it.
const (
	jobControllerUIDLabel       = batchv1.ControllerUidLabel // batch.kubernetes.io/controller-uid
	jobNameLabel                = batchv1.JobNameLabel       // batch.kubernetes.io/job-name
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

// Indexed jobs track every index in status, so their size is bounded.
const maxIndexedJobSize = 100000

func jobs() *Kind {
	return &Kind{
		GVK:        batchv1.SchemeGroupVersion.WithKind("Job"),
		Resource:   "jobs",
		Singular:   "job",
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &batchv1.Job{} },
		NewList:    func() runtime.Object { return &batchv1.JobList{} },
		PrepareForCreate: func(obj runtime.Object) {
			j := obj.(*batchv1.Job)
			j.Status = batchv1.JobStatus{}
			if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
				generateJobSelector(j)
			}
		},
		Defaults: func(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			j := obj.(*batchv1.Job)
			spec := field.NewPath("spec")
			var errs field.ErrorList
			o, update := old.(*batchv1.Job)
			if !update && (j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector) {
				errs = append(errs, validateGeneratedSelector(j)...)
			}
			errs = append(errs, validateJobSpec(&j.Spec, spec)...)
			errs = append(errs, validateTemplateSelector(j.Spec.Selector, j.Spec.Template.Labels, spec)...)
			if update {
				errs = append(errs, immutableField(j.Spec.Selector, o.Spec.Selector, spec.Child("selector"))...)
				errs = append(errs, immutableField(j.Spec.Template, o.Spec.Template, spec.Child("template"))...)
				errs = append(errs, immutableField(j.Spec.Completions, o.Spec.Completions, spec.Child("completions"))...)
				errs = append(errs, immutableField(j.Spec.CompletionMode, o.Spec.CompletionMode, spec.Child("completionMode"))...)
				errs = append(errs, immutableField(j.Spec.PodFailurePolicy, o.Spec.PodFailurePolicy, spec.Child("podFailurePolicy"))...)
				errs = append(errs, immutableField(j.Spec.BackoffLimitPerIndex, o.Spec.BackoffLimitPerIndex, spec.Child("backoffLimitPerIndex"))...)
				errs = append(errs, immutableField(j.Spec.ManagedBy, o.Spec.ManagedBy, spec.Child("managedBy"))...)
			}
			return errs
		},
		HasStatus:  true,
		Generation: true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "Status of the job."),
			col("Completions", "string", "Succeeded pods out of the desired completions."),
			col("Duration", "string", "Time the job took to complete."),
			ageColumn,
			containersColumn, imagesColumn, selectorColumn,
		},
		Row: func(obj runtime.Object) []any {
			j := obj.(*batchv1.Job)
			names, images := templateContainers(&j.Spec.Template.Spec)
			return []any{j.Name, jobStatus(j), jobCompletions(j), jobDuration(j, time.Now()), age(obj),
				names, images, selectorString(j.Spec.Selector)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
		},
	}
}

// generateJobSelector selects the job's pods by its UID, which no other
// job can share, and labels the template to match. Values the client set
// are kept; validation rejects them if they point elsewhere.
func generateJobSelector(j *batchv1.Job) {
	uid, name := string(j.UID), j.Name
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		jobControllerUIDLabel: uid, legacyJobControllerUIDLabel: uid,
		jobNameLabel: name, legacyJobNameLabel: name,
	} {
		if _, set := j.Spec.Template.Labels[k]; !set {
			j.Spec.Template.Labels[k] = v
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, set := j.Spec.Selector.MatchLabels[jobControllerUIDLabel]; !set {
		j.Spec.Selector.MatchLabels[jobControllerUIDLabel] = uid
	}
}

func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	uid := string(j.UID)
	lp := field.NewPath("spec", "template", "metadata", "labels")
	for _, k := range []string{jobControllerUIDLabel, legacyJobControllerUIDLabel} {
		if v := j.Spec.Template.Labels[k]; v != uid {
			errs = append(errs, field.Invalid(lp.Key(k), v, "must be '"+uid+"'"))
		}
	}
	if j.Spec.Selector == nil || j.Spec.Selector.MatchLabels[jobControllerUIDLabel] != uid {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func defaultJob(j *batchv1.Job) {
	s := &j.Spec
	// A job with neither knob runs one pod to completion. Setting only
	// parallelism makes a work-queue job, which has no completion count.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = new(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = new(int32(1))
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = new(int32(math.MaxInt32))
		} else {
			s.BackoffLimit = new(int32(6))
		}
	}
	if len(j.Labels) == 0 && s.Template.Labels != nil {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = new(batchv1.NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = new(false)
	}
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for k := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				c := &s.PodFailurePolicy.Rules[i].OnPodConditions[k]
				if c.Status == "" {
					c.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = new(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = new(batchv1.TerminatingOrFailed)
		}
	}
	defaultPodTemplateSpec(&s.Template)
}

// validateJobSpec checks a job spec apart from its selector, which Jobs
// require and CronJob templates must leave to the server.
func validateJobSpec(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := nonNegative32(s.Parallelism, p.Child("parallelism"))
	errs = append(errs, nonNegative32(s.Completions, p.Child("completions"))...)
	errs = append(errs, nonNegative64(s.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	errs = append(errs, nonNegative32(s.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, nonNegative32(s.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegative32(s.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegative32(s.MaxFailedIndexes, p.Child("maxFailedIndexes"))...)

	indexed := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion
	if m := s.CompletionMode; m != nil && *m != batchv1.IndexedCompletion && *m != batchv1.NonIndexedCompletion {
		errs = append(errs, field.NotSupported(p.Child("completionMode"), *m,
			[]string{string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)}))
	}
	if indexed {
		if s.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
		} else if *s.Completions > maxIndexedJobSize {
			errs = append(errs, field.Invalid(p.Child("completions"), *s.Completions,
				"must be less than or equal to 100000 when completion mode is Indexed"))
		}
		if s.Parallelism != nil && *s.Parallelism > maxIndexedJobSize {
			errs = append(errs, field.Invalid(p.Child("parallelism"), *s.Parallelism,
				"must be less than or equal to 100000 when completion mode is Indexed"))
		}
	} else {
		if s.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), "requires indexed completion mode"))
		}
		if s.SuccessPolicy != nil {
			errs = append(errs, field.Invalid(p.Child("successPolicy"), s.SuccessPolicy, "requires indexed completion mode"))
		}
	}
	if s.MaxFailedIndexes != nil {
		if s.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
		if s.Completions != nil && *s.MaxFailedIndexes > *s.Completions {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *s.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	}
	if r := s.PodReplacementPolicy; r != nil {
		switch {
		case *r != batchv1.TerminatingOrFailed && *r != batchv1.Failed:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r,
				[]string{string(batchv1.TerminatingOrFailed), string(batchv1.Failed)}))
		case s.PodFailurePolicy != nil && *r != batchv1.Failed:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r, []string{string(batchv1.Failed)}))
		}
	}
	if s.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(s, p)...)
	}
	if s.SuccessPolicy != nil {
		for i, r := range s.SuccessPolicy.Rules {
			if r.SucceededIndexes == nil && r.SucceededCount == nil {
				errs = append(errs, field.Required(p.Child("successPolicy", "rules").Index(i),
					"at least one of succeededCount or succeededIndexes must be specified"))
			}
			if r.SucceededCount != nil && *r.SucceededCount <= 0 {
				errs = append(errs, field.Invalid(p.Child("successPolicy", "rules").Index(i).Child("succeededCount"),
					*r.SucceededCount, "must be greater than 0"))
			}
		}
	}
	if m := s.ManagedBy; m != nil {
		mp := p.Child("managedBy")
		errs = append(errs, validation.IsDomainPrefixedPath(mp, *m)...)
		if len(*m) > 63 {
			errs = append(errs, field.TooLong(mp, "", 63))
		}
	}
	errs = append(errs, validateWorkloadTemplate(&s.Template, p.Child("template"),
		corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	return errs
}

// validatePodFailurePolicy checks spec.podFailurePolicy; spec is the path
// of the job spec holding it.
func validatePodFailurePolicy(s *batchv1.JobSpec, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	p := spec.Child("podFailurePolicy")
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		errs = append(errs, field.Invalid(spec.Child("template", "spec", "restartPolicy"), s.Template.Spec.RestartPolicy,
			"only \"Never\" is supported when podFailurePolicy is specified"))
	}
	actions := []string{string(batchv1.PodFailurePolicyActionFailJob), string(batchv1.PodFailurePolicyActionFailIndex),
		string(batchv1.PodFailurePolicyActionIgnore), string(batchv1.PodFailurePolicyActionCount)}
	for i, r := range s.PodFailurePolicy.Rules {
		rp := p.Child("rules").Index(i)
		switch r.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		case batchv1.PodFailurePolicyActionFailIndex:
			if s.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Forbidden(rp.Child("action"), "requires the backoffLimitPerIndex to be set"))
			}
		default:
			errs = append(errs, field.NotSupported(rp.Child("action"), r.Action, actions))
		}
		if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
			errs = append(errs, field.Invalid(rp, "", "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := rp.Child("onExitCodes")
			if ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn && ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn {
				errs = append(errs, field.NotSupported(ep.Child("operator"), ec.Operator, []string{
					string(batchv1.PodFailurePolicyOnExitCodesOpIn), string(batchv1.PodFailurePolicyOnExitCodesOpNotIn)}))
			}
			if len(ec.Values) == 0 || len(ec.Values) > 255 {
				errs = append(errs, field.Invalid(ep.Child("values"), len(ec.Values), "must have between 1 and 255 values"))
			}
			for j, v := range ec.Values {
				if v == 0 && ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && v <= ec.Values[j-1] {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must be ordered and without duplicates"))
				}
			}
		}
		for j, c := range r.OnPodConditions {
			cp := rp.Child("onPodConditions").Index(j)
			if c.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), ""))
			}
			switch c.Status {
			case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
			default:
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{
					string(corev1.ConditionTrue), string(corev1.ConditionFalse), string(corev1.ConditionUnknown)}))
			}
		}
	}
	return errs
}

// jobStatus is the STATUS column: terminal conditions first, then what
// keeps the job from running.
func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return ratio(j.Status.Succeeded, *j.Spec.Completions)
	}
	// A work-queue job completes once any pod succeeds.
	if p := j.Spec.Parallelism; p != nil && *p > 1 {
		return strconv.Itoa(int(j.Status.Succeeded)) + "/1 of " + strconv.Itoa(int(*p))
	}
	return strconv.Itoa(int(j.Status.Succeeded)) + "/1"
}

func jobDuration(j *batchv1.Job, now time.Time) string {
	start := j.Status.StartTime
	switch {
	case start == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(start.Time))
	}
	return duration.HumanDuration(j.Status.CompletionTime.Sub(start.Time))
}
