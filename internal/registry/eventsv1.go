package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Size limits of events.k8s.io events, which unlike core events are
// checked: they come from the new event libraries, not arbitrary clients.
const (
	maxEventNoteLength  = 1024
	maxEventFieldLength = 128
)

// eventsV1 serves events.k8s.io/v1 Events from the core/v1 Event storage:
// the two are the same objects under different field names.
func eventsV1() *Kind {
	core := events()
	return &Kind{
		GVK:        eventsv1.SchemeGroupVersion.WithKind("Event"),
		Resource:   "events",
		Singular:   "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		New:        func() runtime.Object { return &eventsv1.Event{} },
		NewList:    func() runtime.Object { return &eventsv1.EventList{} },
		// Validate takes the served form: events.k8s.io asks more of a new
		// event (time, reporter, action) than core/v1 does.
		Validate: func(obj, old runtime.Object) field.ErrorList {
			ev := obj.(*eventsv1.Event)
			if o, ok := old.(*eventsv1.Event); ok {
				return validateEventV1Update(ev, o)
			}
			return validateEventV1Create(ev)
		},
		Columns: core.Columns,
		Row:     func(obj runtime.Object) []any { return core.Row(eventToCore(obj.(*eventsv1.Event))) },
		Fields: func(obj runtime.Object) fields.Set {
			ev := obj.(*eventsv1.Event)
			set := fields.Set{}
			if core.Fields != nil {
				set = core.Fields(eventToCore(ev))
			}
			// The same fields under their events.k8s.io names.
			r := ev.Regarding
			for k, v := range map[string]string{
				"regarding.kind": r.Kind, "regarding.namespace": r.Namespace, "regarding.name": r.Name,
				"regarding.uid": string(r.UID), "regarding.apiVersion": r.APIVersion,
				"regarding.resourceVersion": r.ResourceVersion, "regarding.fieldPath": r.FieldPath,
				"reportingController": ev.ReportingController, "deprecatedSource": ev.DeprecatedSource.Component,
			} {
				set[k] = v
			}
			return set
		},
		StoredAs: &StoredAs{
			GVK: corev1.SchemeGroupVersion.WithKind("Event"),
			ToStorage: func(obj runtime.Object) (runtime.Object, error) {
				ev, ok := obj.(*eventsv1.Event)
				if !ok {
					return nil, fmt.Errorf("events.k8s.io/v1: unexpected object %T", obj)
				}
				return eventToCore(ev), nil
			},
			FromStorage: func(obj runtime.Object) (runtime.Object, error) {
				ev, ok := obj.(*corev1.Event)
				if !ok {
					return nil, fmt.Errorf("events.k8s.io/v1: unexpected stored object %T", obj)
				}
				return eventFromCore(ev), nil
			},
		},
	}
}

func eventToCore(in *eventsv1.Event) *corev1.Event {
	in = in.DeepCopy()
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if s := in.Series; s != nil {
		out.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

func eventFromCore(in *corev1.Event) *eventsv1.Event {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if s := in.Series; s != nil {
		out.Series = &eventsv1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

func validateEventV1Create(ev *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	switch ev.Type {
	case corev1.EventTypeNormal, corev1.EventTypeWarning:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("type"), ev.Type, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
	}
	// The deprecated fields are for reading events written through core/v1.
	if !ev.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !ev.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if ev.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), ev.DeprecatedCount, "needs to be unset"))
	}
	if ev.DeprecatedSource.Component != "" || ev.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	if ev.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		for _, msg := range content.IsLabelKey(ev.ReportingController) {
			errs = append(errs, field.Invalid(field.NewPath("reportingController"), ev.ReportingController, msg))
		}
	}
	for _, f := range []struct{ name, value string }{
		{"reportingInstance", ev.ReportingInstance}, {"action", ev.Action}, {"reason", ev.Reason},
	} {
		switch {
		case f.value == "":
			errs = append(errs, field.Required(field.NewPath(f.name), ""))
		case len(f.value) > maxEventFieldLength:
			errs = append(errs, field.TooLong(field.NewPath(f.name), "", maxEventFieldLength))
		}
	}
	if len(ev.Note) > maxEventNoteLength {
		errs = append(errs, field.TooLong(field.NewPath("note"), "", maxEventNoteLength))
	}
	if ns := ev.Regarding.Namespace; ns != "" && ns != ev.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("regarding", "namespace"), ns, "does not match event.namespace"))
	}
	errs = append(errs, validateEventSeries(ev.Series)...)
	return errs
}

// validateEventV1Update: an event only accumulates a series; what it says
// happened, and to what, is fixed.
func validateEventV1Update(ev, old *eventsv1.Event) field.ErrorList {
	errs := validateEventSeries(ev.Series)
	for _, f := range []struct {
		name     string
		now, was any
	}{
		{"regarding", ev.Regarding, old.Regarding},
		{"related", ev.Related, old.Related},
		{"reason", ev.Reason, old.Reason},
		{"action", ev.Action, old.Action},
		{"note", ev.Note, old.Note},
		{"type", ev.Type, old.Type},
		{"eventTime", ev.EventTime, old.EventTime},
		{"reportingController", ev.ReportingController, old.ReportingController},
		{"reportingInstance", ev.ReportingInstance, old.ReportingInstance},
		{"deprecatedSource", ev.DeprecatedSource, old.DeprecatedSource},
		{"deprecatedFirstTimestamp", ev.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp},
		{"deprecatedLastTimestamp", ev.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp},
		{"deprecatedCount", ev.DeprecatedCount, old.DeprecatedCount},
	} {
		errs = append(errs, immutableField(f.now, f.was, field.NewPath(f.name))...)
	}
	return errs
}

func validateEventSeries(s *eventsv1.EventSeries) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("series")
	if s.Count < 2 {
		errs = append(errs, field.Invalid(p.Child("count"), s.Count, "should be at least 2"))
	}
	if s.LastObservedTime.IsZero() {
		errs = append(errs, field.Required(p.Child("lastObservedTime"), ""))
	}
	return errs
}
