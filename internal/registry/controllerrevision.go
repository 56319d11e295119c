package registry

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func controllerRevisions() *Kind {
	return &Kind{
		GVK:        appsv1.SchemeGroupVersion.WithKind("ControllerRevision"),
		Resource:   "controllerrevisions",
		Singular:   "controllerrevision",
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList:    func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			cr := obj.(*appsv1.ControllerRevision)
			errs := nonNegative64(&cr.Revision, field.NewPath("revision"))
			if cr.Data.Raw == nil && cr.Data.Object == nil {
				errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
			}
			if o, ok := old.(*appsv1.ControllerRevision); ok && !sameJSON(cr.Data.Raw, o.Data.Raw) {
				errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Controller", "string", "Controller of the object."),
			col("Revision", "integer", "Revision of the ControllerRevision."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			cr := obj.(*appsv1.ControllerRevision)
			controller := "<none>"
			if ref := metav1.GetControllerOf(cr); ref != nil {
				gv, err := schema.ParseGroupVersion(ref.APIVersion)
				if err == nil {
					controller = fmt.Sprintf("%s/%s", strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()), ref.Name)
				}
			}
			return []any{cr.Name, controller, cr.Revision, age(obj)}
		},
	}
}

// sameJSON compares two JSON documents by value: a client re-sending the
// stored data may order keys or space it differently.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}
