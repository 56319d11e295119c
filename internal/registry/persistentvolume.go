package registry

import (
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func persistentVolumes() *Kind {
	return &Kind{
		GVK:        corev1.SchemeGroupVersion.WithKind("PersistentVolume"),
		Resource:   "persistentvolumes",
		Singular:   "persistentvolume",
		ShortNames: []string{"pv"},
		New:        func() runtime.Object { return &corev1.PersistentVolume{} },
		NewList:    func() runtime.Object { return &corev1.PersistentVolumeList{} },
		HasStatus:  true,
		PrepareForCreate: func(obj runtime.Object) {
			now := metav1.Now().Rfc3339Copy()
			obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{
				Phase:                   corev1.VolumePending,
				LastPhaseTransitionTime: &now,
			}
		},
		Defaults: func(obj runtime.Object) { defaultPersistentVolume(obj.(*corev1.PersistentVolume)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			pv := obj.(*corev1.PersistentVolume)
			errs := validatePersistentVolumeSpec(&pv.Spec, field.NewPath("spec"))
			if o, ok := old.(*corev1.PersistentVolume); ok {
				errs = append(errs, validatePersistentVolumeUpdate(&pv.Spec, &o.Spec)...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Capacity", "string", "The storage capacity of the volume."),
			col("Access Modes", "string", "The ways the volume can be mounted."),
			col("Reclaim Policy", "string", "What happens to the volume when its claim is released."),
			col("Status", "string", "The phase of the volume."),
			col("Claim", "string", "The claim bound to the volume."),
			col("StorageClass", "string", "The storage class of the volume."),
			col("VolumeAttributesClass", "string", "The volume attributes class of the volume."),
			col("Reason", "string", "Why the volume is in its phase."),
			ageColumn,
			wideCol("VolumeMode", "string", "Block or Filesystem."),
		},
		Row: func(obj runtime.Object) []any {
			pv := obj.(*corev1.PersistentVolume)
			claim := ""
			if r := pv.Spec.ClaimRef; r != nil {
				claim = r.Namespace + "/" + r.Name
			}
			capacity := ""
			if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
				capacity = q.String()
			}
			phase := string(pv.Status.Phase)
			if pv.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			return []any{pv.Name, capacity, accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
				phase, claim, storageClassOf(&pv.Spec.StorageClassName, pv.Annotations), unsetOr(pv.Spec.VolumeAttributesClassName),
				pv.Status.Reason, age(obj), volumeModeString(pv.Spec.VolumeMode)}
		},
	}
}

func defaultPersistentVolume(pv *corev1.PersistentVolume) {
	s := &pv.Spec
	if s.PersistentVolumeReclaimPolicy == "" {
		s.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if s.VolumeMode == nil {
		s.VolumeMode = new(corev1.PersistentVolumeFilesystem)
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	roundResources(s.Capacity)
	defaultHostPath(s.HostPath)
	if v := s.ISCSI; v != nil && v.ISCSIInterface == "" {
		v.ISCSIInterface = "default"
	}
	if v := s.RBD; v != nil {
		defaultRBD(&v.RBDPool, &v.RadosUser, &v.Keyring)
	}
	defaultAzureDisk(s.AzureDisk)
	if v := s.ScaleIO; v != nil {
		defaultScaleIO(&v.StorageMode, &v.FSType)
	}
}

func validatePersistentVolumeSpec(s *corev1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	cp := p.Child("capacity")
	if len(s.Capacity) == 0 {
		errs = append(errs, field.Required(cp, ""))
	} else if _, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) > 1 {
		errs = append(errs, field.NotSupported(cp, sortedResourceNames(s.Capacity), []corev1.ResourceName{corev1.ResourceStorage}))
	}
	errs = append(errs, validateResourceQuantities(s.Capacity, cp)...)

	if len(s.AccessModes) == 0 {
		errs = append(errs, field.Required(p.Child("accessModes"), ""))
	}
	errs = append(errs, validateAccessModes(s.AccessModes, p.Child("accessModes"))...)
	errs = append(errs, oneOf(p.Child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy,
		corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain)...)
	if s.VolumeMode != nil {
		errs = append(errs, oneOf(p.Child("volumeMode"), *s.VolumeMode, corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)...)
	}
	errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, s.StorageClassName, p.Child("storageClassName"))...)
	if r := s.ClaimRef; r != nil && r.Name == "" {
		errs = append(errs, field.Required(p.Child("claimRef", "name"), ""))
	}

	set := setFields(s.PersistentVolumeSource)
	switch {
	case len(set) == 0:
		return append(errs, field.Required(p, "must specify a volume type"))
	case len(set) > 1:
		return append(errs, field.Forbidden(p.Child(set[1]), "may not specify more than 1 volume type"))
	}
	switch v := &s.PersistentVolumeSource; {
	case v.HostPath != nil:
		errs = append(errs, validateHostPath(v.HostPath, p.Child("hostPath"))...)
	case v.NFS != nil:
		errs = append(errs, validateNFS(v.NFS, p.Child("nfs"))...)
	case v.Local != nil:
		if v.Local.Path == "" {
			errs = append(errs, field.Required(p.Child("local", "path"), ""))
		}
		if s.NodeAffinity == nil || s.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	case v.CSI != nil:
		if v.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
		}
		if v.CSI.VolumeHandle == "" {
			errs = append(errs, field.Required(p.Child("csi", "volumeHandle"), ""))
		}
	}
	if a := s.NodeAffinity; a != nil && a.Required != nil && len(a.Required.NodeSelectorTerms) == 0 {
		errs = append(errs, field.Required(p.Child("nodeAffinity", "required", "nodeSelectorTerms"), "must have at least one node selector term"))
	}
	return errs
}

// validatePersistentVolumeUpdate: what backs the volume, its mode and its
// node affinity are fixed once created.
func validatePersistentVolumeUpdate(s, old *corev1.PersistentVolumeSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if !apiequality.Semantic.DeepEqual(s.PersistentVolumeSource, old.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(p.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	if !equalPtr(s.VolumeMode, old.VolumeMode) {
		errs = append(errs, field.Invalid(p.Child("volumeMode"), volumeModeString(s.VolumeMode), "field is immutable"))
	}
	if old.NodeAffinity != nil && !apiequality.Semantic.DeepEqual(s.NodeAffinity, old.NodeAffinity) {
		errs = append(errs, field.Invalid(p.Child("nodeAffinity"), "", "field is immutable"))
	}
	return errs
}
