package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func statefulSets() *Kind {
	return &Kind{
		GVK:        appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
		Resource:   "statefulsets",
		Singular:   "statefulset",
		ShortNames: []string{"sts"},
		Categories: []string{"all"},
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList:    func() runtime.Object { return &appsv1.StatefulSetList{} },
		Defaults:   func(obj runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) },
		Validate: func(obj, old runtime.Object) field.ErrorList {
			s := obj.(*appsv1.StatefulSet)
			errs := validateStatefulSetSpec(&s.Spec)
			if o, ok := old.(*appsv1.StatefulSet); ok {
				errs = append(errs, validateStatefulSetUpdate(&s.Spec, &o.Spec)...)
			}
			return errs
		},
		HasStatus:        true,
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{} },
		Generation:       true,
		Scale: &ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				s := obj.(*appsv1.StatefulSet)
				return replicasOr1(s.Spec.Replicas), s.Status.Replicas, selectorString(s.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Ready", "string", "Number of ready pods out of the desired replicas."),
			ageColumn,
			containersColumn, imagesColumn,
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*appsv1.StatefulSet)
			names, images := templateContainers(&s.Spec.Template.Spec)
			return []any{s.Name, ratio(s.Status.ReadyReplicas, replicasOr1(s.Spec.Replicas)), age(obj), names, images}
		},
	}
}

func defaultStatefulSet(s *appsv1.StatefulSet) {
	sp := &s.Spec
	if sp.PodManagementPolicy == "" {
		sp.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	// Only an absent strategy gets an empty rollingUpdate to fill; an
	// explicit "type: RollingUpdate" alone is stored as written.
	if sp.UpdateStrategy.Type == "" {
		sp.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if sp.UpdateStrategy.RollingUpdate == nil {
			sp.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if sp.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		sp.UpdateStrategy.RollingUpdate != nil && sp.UpdateStrategy.RollingUpdate.Partition == nil {
		sp.UpdateStrategy.RollingUpdate.Partition = new(int32(0))
	}
	if sp.PersistentVolumeClaimRetentionPolicy == nil {
		sp.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if sp.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		sp.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if sp.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		sp.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if sp.Replicas == nil {
		sp.Replicas = new(int32(1))
	}
	if sp.RevisionHistoryLimit == nil {
		sp.RevisionHistoryLimit = new(int32(10))
	}
	for i := range sp.VolumeClaimTemplates {
		pvc := &sp.VolumeClaimTemplates[i]
		// Stored with its type so server-side apply can tell the entries apart.
		pvc.APIVersion = "v1"
		pvc.Kind = "PersistentVolumeClaim"
		defaultPVCSpec(&pvc.Spec)
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = corev1.ClaimPending
		}
	}
	defaultPodTemplateSpec(&sp.Template)
}

func validateStatefulSetSpec(s *appsv1.StatefulSetSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	switch s.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.NotSupported(spec.Child("podManagementPolicy"), s.PodManagementPolicy,
			[]string{string(appsv1.OrderedReadyPodManagement), string(appsv1.ParallelPodManagement)}))
	}
	errs = append(errs, validateStatefulSetStrategy(&s.UpdateStrategy, spec.Child("updateStrategy"))...)
	if pol := s.PersistentVolumeClaimRetentionPolicy; pol != nil {
		p := spec.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetention(pol.WhenDeleted, p.Child("whenDeleted"))...)
		errs = append(errs, validateRetention(pol.WhenScaled, p.Child("whenScaled"))...)
	}
	if s.Ordinals != nil {
		errs = append(errs, nonNegative32(&s.Ordinals.Start, spec.Child("ordinals", "start"))...)
	}
	errs = append(errs, nonNegative32(s.Replicas, spec.Child("replicas"))...)
	errs = append(errs, nonNegative32(&s.MinReadySeconds, spec.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative32(s.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if s.ServiceName != "" {
		for _, msg := range validation.IsDNS1123Label(s.ServiceName) {
			errs = append(errs, field.Invalid(spec.Child("serviceName"), s.ServiceName, msg))
		}
	}
	errs = append(errs, validateTemplateSelector(s.Selector, s.Template.Labels, spec)...)
	errs = append(errs, validateClaimTemplates(s.VolumeClaimTemplates, spec.Child("volumeClaimTemplates"))...)

	// The controller turns each claim template into a volume of every pod,
	// so mounts may name them: validate the template with those volumes added.
	tmpl := s.Template.DeepCopy()
	have := sets.New[string]()
	for _, v := range tmpl.Spec.Volumes {
		have.Insert(v.Name)
	}
	for _, c := range s.VolumeClaimTemplates {
		// A bad name is reported once, against the claim template.
		if have.Has(c.Name) || len(validation.IsDNS1123Label(c.Name)) > 0 {
			continue
		}
		tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
	}
	errs = append(errs, validateAppsTemplate(tmpl, spec.Child("template"))...)
	return errs
}

func validateStatefulSetStrategy(s *appsv1.StatefulSetUpdateStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Invalid(p.Child("rollingUpdate"), s.RollingUpdate,
				"only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.RollingUpdate; ru != nil {
			errs = append(errs, nonNegative32(ru.Partition, p.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				mp := p.Child("rollingUpdate", "maxUnavailable")
				errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, mp, true)...)
				if isZeroIntOrPercent(ru.MaxUnavailable) {
					errs = append(errs, field.Invalid(mp, ru.MaxUnavailable.String(), "must be greater than 0"))
				}
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []string{
			string(appsv1.RollingUpdateStatefulSetStrategyType), string(appsv1.OnDeleteStatefulSetStrategyType)}))
	}
	return errs
}

func validateRetention(t appsv1.PersistentVolumeClaimRetentionPolicyType, p *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(p, t, []string{
		string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)})}
}

// validateClaimTemplates checks each template as the claim it becomes,
// named uniquely so that pods can mount it by name.
func validateClaimTemplates(claims []corev1.PersistentVolumeClaim, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range claims {
		c := &claims[i]
		cp := p.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(cp.Child("metadata", "name"), ""))
		case seen.Has(c.Name):
			errs = append(errs, field.Duplicate(cp.Child("metadata", "name"), c.Name))
		default:
			for _, msg := range validation.IsDNS1123Subdomain(c.Name) {
				errs = append(errs, field.Invalid(cp.Child("metadata", "name"), c.Name, msg))
			}
		}
		seen.Insert(c.Name)
		errs = append(errs, validatePVCSpec(&c.Spec, cp.Child("spec"))...)
	}
	return errs
}

// validateStatefulSetUpdate allows changes only to what the controller can
// roll out; the rest of a stateful set is fixed at creation.
func validateStatefulSetUpdate(s, o *appsv1.StatefulSetSpec) field.ErrorList {
	spec := field.NewPath("spec")
	errs := immutableField(s.Selector, o.Selector, spec.Child("selector"))
	// Compare with the mutable fields neutralised.
	a, b := s.DeepCopy(), o.DeepCopy()
	for _, x := range []*appsv1.StatefulSetSpec{a, b} {
		x.Replicas = nil
		x.Template = corev1.PodTemplateSpec{}
		x.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{}
		x.PersistentVolumeClaimRetentionPolicy = nil
		x.MinReadySeconds = 0
		x.Ordinals = nil
		x.RevisionHistoryLimit = nil
		x.Selector = nil
		for i := range x.VolumeClaimTemplates {
			// Only the claims' metadata and spec matter to the pods.
			x.VolumeClaimTemplates[i].Status = corev1.PersistentVolumeClaimStatus{}
		}
	}
	if !semanticEqual(a, b) {
		errs = append(errs, field.Forbidden(spec, "updates to statefulset spec for fields other than 'replicas', "+
			"'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' "+
			"and 'minReadySeconds' are forbidden"))
	}
	return errs
}
