package registry

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreEvent(mutate func(*corev1.Event)) *corev1.Event {
	seen := metav1.NewTime(time.Now().Add(-2 * time.Minute))
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17f0", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", FieldPath: "spec.containers{web}"},
		Reason:         "Pulled",
		Message:        "Successfully pulled image\n",
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: seen, LastTimestamp: seen, Count: 2,
	}
	if mutate != nil {
		mutate(e)
	}
	return e
}

func TestEventWrites(t *testing.T) {
	runCoreCases(t, events(), []coreCase{
		{name: "valid", obj: coreEvent(nil)},
		{name: "namespace only", obj: coreEvent(func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Namespace: "default"} })},
		{name: "cluster-scoped object", obj: coreEvent(func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "n1"} })},
		{name: "namespace mismatch", obj: coreEvent(func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }),
			paths: []string{"involvedObject.namespace"}},
	})
}

func TestEventRow(t *testing.T) {
	k := events()
	row := k.Row(coreEvent(nil))
	want := []any{"2m", "Normal", "Pulled", "pod/web", "spec.containers{web}", "kubelet, n1", "Successfully pulled image", "2m", int64(2), "web.17f0"}
	if len(row) != len(k.Columns) || len(row) != len(want) {
		t.Fatalf("row has %d cells for %d columns", len(row), len(k.Columns))
	}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("%s = %v, want %v", k.Columns[i].Name, row[i], want[i])
		}
	}

	series := coreEvent(func(e *corev1.Event) {
		e.FirstTimestamp, e.LastTimestamp, e.Count = metav1.Time{}, metav1.Time{}, 0
		e.EventTime = metav1.NewMicroTime(time.Now().Add(-time.Hour))
		e.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(time.Now().Add(-30 * time.Second))}
		e.Source = corev1.EventSource{}
		e.ReportingController, e.ReportingInstance = "example.com/operator", "op-0"
	})
	row = k.Row(series)
	if row[0] != "30s" || row[7] != "60m" || row[8] != int64(7) || row[5] != "example.com/operator, op-0" {
		t.Errorf("series row = %v", row)
	}
	f := k.Fields(coreEvent(nil))
	for key, want := range map[string]string{"involvedObject.kind": "Pod", "involvedObject.name": "web", "reason": "Pulled", "source": "kubelet", "type": "Normal"} {
		if f[key] != want {
			t.Errorf("field %s = %q, want %q", key, f[key], want)
		}
	}
}
