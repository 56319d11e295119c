package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxConfigSize bounds the data of one ConfigMap or Secret, as etcd's
// request limit does upstream.
const maxConfigSize = 1 << 20

func configMaps() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		Resource:   "configmaps",
		Singular:   "configmap",
		ShortNames: []string{"cm"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:    func() runtime.Object { return &corev1.ConfigMapList{} },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			cm := obj.(*corev1.ConfigMap)
			var errs field.ErrorList
			total := 0
			for k, v := range cm.Data {
				errs = append(errs, validateConfigKey(k, field.NewPath("data").Key(k))...)
				if _, dup := cm.BinaryData[k]; dup {
					errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, "duplicate of key present in binaryData"))
				}
				total += len(v)
			}
			for k, v := range cm.BinaryData {
				errs = append(errs, validateConfigKey(k, field.NewPath("binaryData").Key(k))...)
				total += len(v)
			}
			if total > maxConfigSize {
				errs = append(errs, field.TooLong(field.NewPath(""), "", maxConfigSize))
			}
			if o, ok := old.(*corev1.ConfigMap); ok && o.Immutable != nil && *o.Immutable {
				errs = append(errs, immutableData(cm.Immutable, cm.Data, o.Data, len(cm.BinaryData) != len(o.BinaryData))...)
			}
			return errs
		},
		Columns: append([]metav1.TableColumnDefinition{nameColumn, col("Data", "integer", "Number of keys.")}, ageColumn),
		Row: func(obj runtime.Object) []any {
			cm := obj.(*corev1.ConfigMap)
			return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(obj)}
		},
	}
}

func validateConfigKey(k string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(k) {
		errs = append(errs, field.Invalid(p, k, msg))
	}
	return errs
}

// immutableData refuses changes to the data of an immutable ConfigMap or Secret.
func immutableData(now *bool, data, old map[string]string, binaryChanged bool) field.ErrorList {
	var errs field.ErrorList
	if now == nil || !*now {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if binaryChanged || fmt.Sprint(data) != fmt.Sprint(old) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	return errs
}

var _ = apivalidation.NameIsDNSSubdomain
