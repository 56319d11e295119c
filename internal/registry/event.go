package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func events() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("Event"),
		Resource:   "events",
		Singular:   "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Event{} },
		NewList:    func() runtime.Object { return &corev1.EventList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			// Events come from every kind of client; only what would make
			// the event point at the wrong object is refused.
			ev := obj.(*corev1.Event)
			if ns := ev.InvolvedObject.Namespace; ns != "" && ns != ev.Namespace {
				return field.ErrorList{field.Invalid(field.NewPath("involvedObject", "namespace"), ns, "does not match event.namespace")}
			}
			return nil
		},
		Columns: []metav1.TableColumnDefinition{
			col("Last Seen", "string", "Time since the event was last observed."),
			col("Type", "string", "Normal or Warning."),
			col("Reason", "string", "Why the event happened, in CamelCase."),
			col("Object", "string", "The object the event is about."),
			wideCol("Subobject", "string", "The part of the object the event is about."),
			wideCol("Source", "string", "The component that reported the event."),
			col("Message", "string", "What happened, in words."),
			wideCol("First Seen", "string", "Time since the event was first observed."),
			wideCol("Count", "integer", "The number of times the event happened."),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: nameColumn.Description},
		},
		Row: func(obj runtime.Object) []any {
			ev := obj.(*corev1.Event)
			first, last, count := eventTimes(ev)
			target := strings.ToLower(ev.InvolvedObject.Kind)
			if ev.InvolvedObject.Name != "" {
				target += "/" + ev.InvolvedObject.Name
			}
			return []any{last, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath, eventSource(ev),
				strings.TrimSpace(ev.Message), first, int64(count), ev.Name}
		},
		Fields: func(obj runtime.Object) fields.Set {
			ev := obj.(*corev1.Event)
			o := ev.InvolvedObject
			return fields.Set{
				"involvedObject.kind":            o.Kind,
				"involvedObject.namespace":       o.Namespace,
				"involvedObject.name":            o.Name,
				"involvedObject.uid":             string(o.UID),
				"involvedObject.apiVersion":      o.APIVersion,
				"involvedObject.resourceVersion": o.ResourceVersion,
				"involvedObject.fieldPath":       o.FieldPath,
				"reason":                         ev.Reason,
				"reportingComponent":             ev.ReportingController,
				"source":                         ev.Source.Component,
				"type":                           ev.Type,
			}
		},
	}
}

// eventTimes returns the FIRST SEEN and LAST SEEN cells and the count. Old
// style events carry first/last timestamps and a count; new style ones an
// event time and, when repeated, a series.
func eventTimes(ev *corev1.Event) (first, last string, count int32) {
	first = since(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		first = since(metav1.Time(ev.EventTime))
	}
	last = first
	if !ev.LastTimestamp.IsZero() {
		last = since(ev.LastTimestamp)
	}
	count = ev.Count
	switch {
	case ev.Series != nil:
		last = since(metav1.Time(ev.Series.LastObservedTime))
		count = ev.Series.Count
	case count == 0:
		count = 1
	}
	return first, last, count
}

func eventSource(ev *corev1.Event) string {
	component, host := ev.Source.Component, ev.Source.Host
	if component == "" {
		component, host = ev.ReportingController, ev.ReportingInstance
	}
	if host == "" {
		return component
	}
	return fmt.Sprintf("%s, %s", component, host)
}
