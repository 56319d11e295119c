package registry

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newEventV1() *eventsv1.Event {
	now := metav1.NowMicro()
	return &eventsv1.Event{
		TypeMeta:   metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta: groupsMeta("web.17a"), EventTime: now,
		Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Add(time.Minute))},
		ReportingController: "example.com/scaler", ReportingInstance: "scaler-1", Action: "Scale", Reason: "Scaled",
		Regarding: corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web", UID: "u1"},
		Related:   &corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "default", Name: "web-5d8f"},
		Note:      "scaled to 3", Type: corev1.EventTypeNormal,
	}
}

func TestEventV1Conversion(t *testing.T) {
	k := eventsV1()
	ev := newEventV1()
	ev.DeprecatedSource = corev1.EventSource{Component: "scaler", Host: "node-1"}
	ev.DeprecatedFirstTimestamp = metav1.Now()
	ev.DeprecatedLastTimestamp = metav1.Now()
	ev.DeprecatedCount = 4

	stored, err := k.StoredAs.ToStorage(ev)
	if err != nil {
		t.Fatal(err)
	}
	core := stored.(*corev1.Event)
	if core.APIVersion != "v1" || core.Message != ev.Note || core.InvolvedObject != ev.Regarding || core.Related.Name != "web-5d8f" ||
		core.ReportingController != ev.ReportingController || core.ReportingInstance != ev.ReportingInstance ||
		core.Source != ev.DeprecatedSource || core.Count != 4 || core.Series.Count != 3 || core.Action != "Scale" ||
		!core.EventTime.Equal(&ev.EventTime) || !core.FirstTimestamp.Equal(&ev.DeprecatedFirstTimestamp) {
		t.Errorf("core = %+v", core)
	}
	back, err := k.StoredAs.FromStorage(core)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, ev)
	}

	// A core event written by an old-style client reads back unchanged too.
	old := &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}, ObjectMeta: groupsMeta("pod.1"),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", FieldPath: "spec.containers{app}"}, Reason: "Pulled",
		Message: "pulled", Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, FirstTimestamp: metav1.Now(),
		LastTimestamp: metav1.Now(), Count: 2, Type: corev1.EventTypeNormal}
	v1, _ := k.StoredAs.FromStorage(old)
	again, _ := k.StoredAs.ToStorage(v1)
	if !reflect.DeepEqual(again, old) {
		t.Errorf("core round trip differs:\n%+v\n%+v", again, old)
	}

	if _, err := k.StoredAs.ToStorage(old); err == nil {
		t.Error("ToStorage accepted a core event")
	}
}

func TestEventV1Validation(t *testing.T) {
	k := eventsV1()
	cases := []struct {
		name   string
		mutate func(ev *eventsv1.Event)
		want   []string
	}{
		{"valid", func(ev *eventsv1.Event) {}, nil},
		{"no series", func(ev *eventsv1.Event) { ev.Series = nil }, nil},
		{"missing fields", func(ev *eventsv1.Event) {
			ev.EventTime = metav1.MicroTime{}
			ev.ReportingController, ev.ReportingInstance, ev.Action, ev.Reason = "", "", "", ""
		}, []string{"action", "eventTime", "reason", "reportingController", "reportingInstance"}},
		{"bad type", func(ev *eventsv1.Event) { ev.Type = "Info" }, []string{"type"}},
		{"deprecated fields", func(ev *eventsv1.Event) {
			ev.DeprecatedCount = 2
			ev.DeprecatedSource.Component = "x"
			ev.DeprecatedFirstTimestamp = metav1.Now()
		}, []string{"deprecatedCount", "deprecatedFirstTimestamp", "deprecatedSource"}},
		{"long note", func(ev *eventsv1.Event) { ev.Note = strings.Repeat("x", 1025) }, []string{"note"}},
		{"short series", func(ev *eventsv1.Event) { ev.Series.Count = 1 }, []string{"series.count"}},
		{"other namespace", func(ev *eventsv1.Event) { ev.Regarding.Namespace = "kube-system" }, []string{"regarding.namespace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEventV1()
			tc.mutate(ev)
			groupsWantFields(t, groupsCreate(k, ev), tc.want...)
		})
	}

	old := newEventV1()
	next := old.DeepCopy()
	next.Series.Count = 4
	groupsWantFields(t, k.Validate(next, old))
	next.Note = "changed"
	next.Regarding.Name = "other"
	groupsWantFields(t, k.Validate(next, old), "note", "regarding")
}

func TestEventV1Table(t *testing.T) {
	k := eventsV1()
	ev := newEventV1()
	core := events()
	want := core.Row(eventToCore(ev))
	got := k.Row(ev)
	if !reflect.DeepEqual(got, want) || len(k.Columns) != len(core.Columns) {
		t.Errorf("row = %v, want %v", got, want)
	}
	if got[3] != "deployment/web" || got[8] != int64(3) {
		t.Errorf("row = %v", got)
	}
	f := k.Fields(ev)
	if f["regarding.name"] != "web" || f["involvedObject.name"] != "web" || f["reportingController"] != "example.com/scaler" {
		t.Errorf("fields = %v", f)
	}
}
