package registry

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func persistentVolumeClaims() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
		Resource:   "persistentvolumeclaims",
		Singular:   "persistentvolumeclaim",
		ShortNames: []string{"pvc"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList:    func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			syncDataSources(&pvc.Spec)
		},
		Defaults: func(obj runtime.Object) {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			defaultPVCSpec(&pvc.Spec)
			if pvc.Status.Phase == "" {
				pvc.Status.Phase = corev1.ClaimPending
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			errs := validatePVCSpec(&pvc.Spec, field.NewPath("spec"))
			if o, ok := old.(*corev1.PersistentVolumeClaim); ok {
				errs = append(errs, validatePVCUpdate(&pvc.Spec, &o.Spec)...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "The phase of the claim."),
			col("Volume", "string", "The name of the bound volume."),
			col("Capacity", "string", "The storage capacity of the bound volume."),
			col("Access Modes", "string", "The access modes of the bound volume."),
			col("StorageClass", "string", "The storage class of the claim."),
			col("VolumeAttributesClass", "string", "The volume attributes class of the claim."),
			ageColumn,
			wideCol("VolumeMode", "string", "Block or Filesystem."),
		},
		Row: func(obj runtime.Object) []any {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			phase := string(pvc.Status.Phase)
			if pvc.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			capacity, modes := "", ""
			if pvc.Spec.VolumeName != "" {
				modes = accessModesString(pvc.Status.AccessModes)
				if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
					capacity = q.String()
				}
			}
			return []any{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes,
				storageClassOf(pvc.Spec.StorageClassName, pvc.Annotations),
				unsetOr(pvc.Spec.VolumeAttributesClassName), age(obj), volumeModeString(pvc.Spec.VolumeMode)}
		},
	}
}

// defaultPVCSpec is shared with ephemeral volume claim templates.
func defaultPVCSpec(s *corev1.PersistentVolumeClaimSpec) {
	if s.VolumeMode == nil {
		s.VolumeMode = new(corev1.PersistentVolumeFilesystem)
	}
	roundResources(s.Resources.Limits)
	roundResources(s.Resources.Requests)
}

// syncDataSources fills in whichever of dataSource and dataSourceRef is
// missing from the other, as the two spell the same thing.
func syncDataSources(s *corev1.PersistentVolumeClaimSpec) {
	switch {
	case s.DataSource != nil && s.DataSourceRef == nil:
		d := s.DataSource
		s.DataSourceRef = &corev1.TypedObjectReference{APIGroup: d.APIGroup, Kind: d.Kind, Name: d.Name}
	case s.DataSource == nil && s.DataSourceRef != nil && s.DataSourceRef.Namespace == nil:
		d := s.DataSourceRef
		s.DataSource = &corev1.TypedLocalObjectReference{APIGroup: d.APIGroup, Kind: d.Kind, Name: d.Name}
	}
}

// validatePVCSpec is shared with ephemeral volume claim templates.
func validatePVCSpec(s *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.AccessModes) == 0 {
		errs = append(errs, field.Required(p.Child("accessModes"), "at least 1 access mode is required"))
	}
	errs = append(errs, validateAccessModes(s.AccessModes, p.Child("accessModes"))...)
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	rp := p.Child("resources")
	if q, ok := s.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(rp.Key(string(corev1.ResourceStorage)), ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(rp.Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	for _, name := range sortedResourceNames(s.Resources.Requests) {
		errs = append(errs, nonNegative(s.Resources.Requests[name], rp.Child("requests").Key(string(name)))...)
	}
	for _, name := range sortedResourceNames(s.Resources.Limits) {
		errs = append(errs, nonNegative(s.Resources.Limits[name], rp.Child("limits").Key(string(name)))...)
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, *s.StorageClassName, p.Child("storageClassName"))...)
	}
	if s.VolumeMode != nil {
		errs = append(errs, oneOf(p.Child("volumeMode"), *s.VolumeMode, corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)...)
	}
	if d := s.DataSource; d != nil {
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("dataSource", "name"), ""))
		}
		if d.Kind == "" {
			errs = append(errs, field.Required(p.Child("dataSource", "kind"), ""))
		}
	}
	if d := s.DataSourceRef; d != nil {
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("dataSourceRef", "name"), ""))
		}
		if d.Kind == "" {
			errs = append(errs, field.Required(p.Child("dataSourceRef", "kind"), ""))
		}
	}
	return errs
}

// validatePVCUpdate: a claim's spec is fixed once created, except that the
// requested storage may grow (expansion), binding may fill in volumeName,
// and the volume attributes class may change.
func validatePVCUpdate(s, old *corev1.PersistentVolumeClaimSpec) field.ErrorList {
	var errs field.ErrorList
	munged := s.DeepCopy()
	munged.Resources.Requests = old.Resources.Requests
	munged.VolumeAttributesClassName = old.VolumeAttributesClassName
	if old.VolumeName == "" {
		munged.VolumeName = old.VolumeName
	}
	// The beta annotation may be promoted into the field.
	if old.StorageClassName == nil {
		munged.StorageClassName = nil
	}
	if !apiequality.Semantic.DeepEqual(munged, old) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	now, hasNow := s.Resources.Requests[corev1.ResourceStorage]
	was, hadWas := old.Resources.Requests[corev1.ResourceStorage]
	if hasNow && hadWas && now.Cmp(was) < 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value"))
	}
	return errs
}

// Access modes are printed in a fixed order, abbreviated as kubectl does.
var accessModeAbbrev = []struct {
	mode corev1.PersistentVolumeAccessMode
	abbr string
}{
	{corev1.ReadWriteOnce, "RWO"},
	{corev1.ReadOnlyMany, "ROX"},
	{corev1.ReadWriteMany, "RWX"},
	{corev1.ReadWriteOncePod, "RWOP"},
}

func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, a := range accessModeAbbrev {
		for _, m := range modes {
			if m == a.mode {
				out = append(out, a.abbr)
				break
			}
		}
	}
	return strings.Join(out, ",")
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rwop := false
	for _, m := range modes {
		errs = append(errs, oneOf(p, m, corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)...)
		rwop = rwop || m == corev1.ReadWriteOncePod
	}
	if rwop && len(modes) > 1 {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// storageClassOf reads the class from the field or the beta annotation
// that preceded it.
func storageClassOf(class *string, annotations map[string]string) string {
	if v, ok := annotations[corev1.BetaStorageClassAnnotation]; ok {
		return v
	}
	if class != nil {
		return *class
	}
	return ""
}

func unsetOr(s *string) string {
	if s == nil || *s == "" {
		return "<unset>"
	}
	return *s
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}
