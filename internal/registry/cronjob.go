package registry

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxCronJobNameLength leaves room for the 11-character suffix the
// controller appends to name each job.
const maxCronJobNameLength = 52

func cronJobs() *Kind {
	return &Kind{
		GVK:        batchv1.SchemeGroupVersion.WithKind("CronJob"),
		Resource:   "cronjobs",
		Singular:   "cronjob",
		ShortNames: []string{"cj"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &batchv1.CronJob{} },
		NewList:    func() runtime.Object { return &batchv1.CronJobList{} },
		Defaults: func(obj runtime.Object) {
			s := &obj.(*batchv1.CronJob).Spec
			if s.ConcurrencyPolicy == "" {
				s.ConcurrencyPolicy = batchv1.AllowConcurrent
			}
			if s.Suspend == nil {
				s.Suspend = new(false)
			}
			if s.SuccessfulJobsHistoryLimit == nil {
				s.SuccessfulJobsHistoryLimit = new(int32(3))
			}
			if s.FailedJobsHistoryLimit == nil {
				s.FailedJobsHistoryLimit = new(int32(1))
			}
			// Job-level defaults wait until the controller makes a Job;
			// only the pod template is defaulted here.
			defaultPodTemplateSpec(&s.JobTemplate.Spec.Template)
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			return validateCronJob(obj.(*batchv1.CronJob))
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{} },
		Generation:       true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Schedule", "string", "The schedule in cron format."),
			col("Timezone", "string", "Time zone the schedule is interpreted in."),
			col("Suspend", "boolean", "Whether later runs are suspended."),
			col("Active", "integer", "Number of running jobs."),
			col("Last Schedule", "string", "Time since a job was last scheduled."),
			ageColumn,
			containersColumn, imagesColumn, selectorColumn,
		},
		Row: func(obj runtime.Object) []any {
			cj := obj.(*batchv1.CronJob)
			tz := "<none>"
			if cj.Spec.TimeZone != nil {
				tz = *cj.Spec.TimeZone
			}
			suspend := "<unset>"
			if cj.Spec.Suspend != nil {
				suspend = boolText(*cj.Spec.Suspend)
			}
			last := "<none>"
			if t := cj.Status.LastScheduleTime; t != nil {
				last = since(*t)
			}
			names, images := templateContainers(&cj.Spec.JobTemplate.Spec.Template.Spec)
			return []any{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(obj),
				names, images, selectorString(cj.Spec.JobTemplate.Spec.Selector)}
		},
	}
}

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name,
			fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	spec := field.NewPath("spec")
	s := &cj.Spec
	switch {
	case s.Schedule == "":
		errs = append(errs, field.Required(spec.Child("schedule"), ""))
	case strings.Contains(s.Schedule, "TZ"):
		errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule,
			"cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	default:
		if err := parseCronSchedule(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule, err.Error()))
		}
	}
	if tz := s.TimeZone; tz != nil {
		p := spec.Child("timeZone")
		switch {
		case *tz == "":
			errs = append(errs, field.Invalid(p, *tz, "timeZone must be nil or non-empty string"))
		case strings.EqualFold(*tz, "Local"):
			// "Local" would follow whatever zone the controller runs in.
			errs = append(errs, field.Invalid(p, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
		default:
			if _, err := time.LoadLocation(*tz); err != nil {
				errs = append(errs, field.Invalid(p, *tz, "unknown time zone "+*tz))
			}
		}
	}
	switch s.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(spec.Child("concurrencyPolicy"), s.ConcurrencyPolicy, []string{
			string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent)}))
	}
	errs = append(errs, nonNegative64(s.StartingDeadlineSeconds, spec.Child("startingDeadlineSeconds"))...)
	errs = append(errs, nonNegative32(s.SuccessfulJobsHistoryLimit, spec.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegative32(s.FailedJobsHistoryLimit, spec.Child("failedJobsHistoryLimit"))...)

	jt := spec.Child("jobTemplate")
	errs = append(errs, metav1validation.ValidateLabels(s.JobTemplate.Labels, jt.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(s.JobTemplate.Annotations, jt.Child("metadata", "annotations"))...)
	js := &s.JobTemplate.Spec
	errs = append(errs, validateJobSpec(js, jt.Child("spec"))...)
	// Each job made from the template gets a selector of its own UID.
	if js.Selector != nil {
		errs = append(errs, field.Invalid(jt.Child("spec", "selector"), js.Selector, "`selector` will be auto-generated"))
	}
	if js.ManualSelector != nil && *js.ManualSelector {
		errs = append(errs, field.NotSupported(jt.Child("spec", "manualSelector"), true, []string{"nil", "false"}))
	}
	return errs
}

// cronField is the range of one field of a cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", min: 0, max: 6, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

var cronDescriptors = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// parseCronSchedule accepts the standard five-field cron syntax (lists,
// ranges, steps, month and weekday names, "?" as "*") and the @-shorthands
// for fixed periods. Intervals (@every) are not schedules the controller
// understands.
func parseCronSchedule(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@") {
		if cronDescriptors[strings.ToLower(s)] {
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", s)
	}
	parts := strings.Fields(s)
	if len(parts) != len(cronFields) {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(parts), s)
	}
	for i, part := range parts {
		if err := cronFields[i].parse(part); err != nil {
			return err
		}
	}
	return nil
}

func (f cronField) parse(expr string) error {
	for _, item := range strings.Split(expr, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n <= 0 {
				return fmt.Errorf("invalid step %q in %s field: %s", step, f.name, item)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		a, b, isRange := strings.Cut(rng, "-")
		lo, err := f.value(a)
		if err != nil {
			return err
		}
		if !isRange {
			continue
		}
		hi, err := f.value(b)
		if err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", lo, hi, item)
		}
	}
	return nil
}

func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("failed to parse %s value %q", f.name, s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s value %d out of range [%d, %d]", f.name, v, f.min, f.max)
	}
	return v, nil
}

// boolText renders a boolean as kubectl's string columns do.
func boolText(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
