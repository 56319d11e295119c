package registry

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreNamespace(finalizers ...corev1.FinalizerName) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: corev1.NamespaceSpec{Finalizers: finalizers}}
}

func TestNamespaceWrites(t *testing.T) {
	runCoreCases(t, namespaces(), []coreCase{
		{name: "valid", obj: coreNamespace()},
		{name: "qualified finalizer", obj: coreNamespace("example.com/cleanup")},
		{name: "bad finalizers", obj: coreNamespace("cleanup", "Bad Name"), paths: []string{"spec.finalizers[0]", "spec.finalizers[1]"}},
		{name: "update", old: coreNamespace(corev1.FinalizerKubernetes), obj: coreNamespace()},
	})
}

func TestNamespaceCreateAndUpdate(t *testing.T) {
	k := namespaces()
	ns := coreNamespace("example.com/cleanup")
	ns.Status.Phase = corev1.NamespaceTerminating
	k.PrepareForCreate(ns)
	k.Defaults(ns)
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase = %s", ns.Status.Phase)
	}
	if want := []corev1.FinalizerName{"example.com/cleanup", corev1.FinalizerKubernetes}; !slices.Equal(ns.Spec.Finalizers, want) {
		t.Errorf("finalizers = %v, want %v", ns.Spec.Finalizers, want)
	}
	if got := ns.Labels[corev1.LabelMetadataName]; got != "team-a" {
		t.Errorf("name label = %q", got)
	}

	next := coreNamespace()
	next.Labels = map[string]string{corev1.LabelMetadataName: "spoofed"}
	k.PrepareForUpdate(next, ns)
	k.Defaults(next)
	if len(next.Spec.Finalizers) != 2 {
		t.Errorf("update changed finalizers to %v", next.Spec.Finalizers)
	}
	if got := next.Labels[corev1.LabelMetadataName]; got != "team-a" {
		t.Errorf("name label = %q after update", got)
	}
	if got := k.Row(ns); got[1] != "Active" || len(got) != len(k.Columns) {
		t.Errorf("row = %v", got)
	}
	if got := k.Fields(ns)["status.phase"]; got != "Active" {
		t.Errorf("status.phase field = %q", got)
	}
	if errs := k.NameRule("team.a", false); len(errs) == 0 {
		t.Error("a dotted namespace name was accepted")
	}
}
