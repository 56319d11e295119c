package registry

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on a class's parameters, which are copied into every volume.
const (
	maxStorageClassParameters    = 512
	maxStorageClassParameterSize = 256 * (1 << 10)
)

// Annotations marking the class used for claims that name none.
const (
	defaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func storageClasses() *Kind {
	return &Kind{
		GVK:        storagev1.SchemeGroupVersion.WithKind("StorageClass"),
		Resource:   "storageclasses",
		Singular:   "storageclass",
		ShortNames: []string{"sc"},
		New:        func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:    func() runtime.Object { return &storagev1.StorageClassList{} },
		Defaults: func(obj runtime.Object) {
			sc := obj.(*storagev1.StorageClass)
			if sc.ReclaimPolicy == nil {
				sc.ReclaimPolicy = new(corev1.PersistentVolumeReclaimDelete)
			}
			if sc.VolumeBindingMode == nil {
				sc.VolumeBindingMode = new(storagev1.VolumeBindingImmediate)
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			sc := obj.(*storagev1.StorageClass)
			errs := validateStorageClass(sc)
			if o, ok := old.(*storagev1.StorageClass); ok {
				if !semanticEqual(sc.Parameters, o.Parameters) {
					errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
				}
				if sc.Provisioner != o.Provisioner {
					errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
				}
				if !semanticEqual(sc.ReclaimPolicy, o.ReclaimPolicy) {
					errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
				}
				errs = append(errs, immutableField(sc.VolumeBindingMode, o.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Provisioner", "string", "Volume plugin or CSI driver that provisions volumes."),
			col("ReclaimPolicy", "string", "What happens to a volume when its claim is deleted."),
			col("VolumeBindingMode", "string", "When volumes are provisioned and bound."),
			col("AllowVolumeExpansion", "string", "Whether volumes can be expanded."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			sc := obj.(*storagev1.StorageClass)
			n := sc.Name
			if sc.Annotations[defaultStorageClassAnnotation] == "true" || sc.Annotations[betaDefaultStorageClassAnnotation] == "true" {
				n += " (default)"
			}
			reclaim, binding := "", ""
			if sc.ReclaimPolicy != nil {
				reclaim = string(*sc.ReclaimPolicy)
			}
			if sc.VolumeBindingMode != nil {
				binding = string(*sc.VolumeBindingMode)
			}
			expand := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
			return []any{n, sc.Provisioner, reclaim, binding, expand, age(obj)}
		},
	}
}

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		for _, msg := range content.IsLabelKey(strings.ToLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(pp, sc.Provisioner, msg))
		}
	}
	if len(sc.Parameters) > maxStorageClassParameters {
		errs = append(errs, field.TooMany(field.NewPath("parameters"), len(sc.Parameters), maxStorageClassParameters))
	}
	size := 0
	for k, v := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(field.NewPath("parameters"), k, "parameter names must not be empty"))
		}
		size += len(k) + len(v)
	}
	if size > maxStorageClassParameterSize {
		errs = append(errs, field.TooLong(field.NewPath("parameters"), "", maxStorageClassParameterSize))
	}
	if r := sc.ReclaimPolicy; r != nil && *r != corev1.PersistentVolumeReclaimDelete && *r != corev1.PersistentVolumeReclaimRetain {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *r, []string{
			string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}))
	}
	if m := sc.VolumeBindingMode; m != nil && *m != storagev1.VolumeBindingImmediate && *m != storagev1.VolumeBindingWaitForFirstConsumer {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), *m, []string{
			string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}))
	}
	for i, term := range sc.AllowedTopologies {
		tp := field.NewPath("allowedTopologies").Index(i).Child("matchLabelExpressions")
		if len(term.MatchLabelExpressions) == 0 {
			errs = append(errs, field.Required(tp, "must have at least one label expression"))
		}
		for j, req := range term.MatchLabelExpressions {
			rp := tp.Index(j)
			for _, msg := range content.IsLabelKey(req.Key) {
				errs = append(errs, field.Invalid(rp.Child("key"), req.Key, msg))
			}
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), "must specify as least one value"))
			}
		}
	}
	return errs
}
