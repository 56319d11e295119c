package registry

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Column shorthands used by the kind files.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: "Time since the object was created."}
)

func col(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

func wideCol(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: 1}
}

// age renders the time since creation as kubectl does ("5m", "3d").
func age(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "<unknown>"
	}
	return since(m.GetCreationTimestamp())
}

func since(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// name returns the object's name for table rows.
func name(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetName()
}

// DefaultColumns is the table of a kind with nothing special to show.
var DefaultColumns = []metav1.TableColumnDefinition{nameColumn, ageColumn}

// DefaultRow pairs with DefaultColumns.
func DefaultRow(obj runtime.Object) []any { return []any{name(obj), age(obj)} }
