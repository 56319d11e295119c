package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Priorities above highestUserPriority belong to the built-in classes, so
// that no workload can outrank the pods that keep the cluster running.
const (
	highestUserPriority = 1000000000
	systemClassPrefix   = "system-"
)

// systemPriorityClasses are the only classes allowed the "system-" prefix,
// each with its fixed value.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

func priorityClasses() *Kind {
	return &Kind{
		GVK:        schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"),
		Resource:   "priorityclasses",
		Singular:   "priorityclass",
		ShortNames: []string{"pc"},
		New:        func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:    func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Defaults: func(obj runtime.Object) {
			if pc := obj.(*schedulingv1.PriorityClass); pc.PreemptionPolicy == nil {
				pc.PreemptionPolicy = new(corev1.PreemptLowerPriority)
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			pc := obj.(*schedulingv1.PriorityClass)
			errs := validatePriorityClass(pc)
			if o, ok := old.(*schedulingv1.PriorityClass); ok {
				errs = append(errs, immutableField(pc.Value, o.Value, field.NewPath("value"))...)
				errs = append(errs, immutableField(pc.PreemptionPolicy, o.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Value", "integer", "Priority of pods in this class."),
			col("Global-Default", "boolean", "Whether pods without a class get this one."),
			ageColumn,
			col("PreemptionPolicy", "string", "Whether pods of this class preempt lower ones."),
		},
		Row: func(obj runtime.Object) []any {
			pc := obj.(*schedulingv1.PriorityClass)
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return []any{pc.Name, int64(pc.Value), pc.GlobalDefault, age(obj), policy}
		},
	}
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemClassPrefix) {
		value, known := systemPriorityClasses[pc.Name]
		switch {
		case !known:
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				fmt.Sprintf("priority class names with the %q prefix are reserved for the system", systemClassPrefix)))
		case pc.Value != value:
			errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("%s must have value %d", pc.Name, value)))
		case pc.GlobalDefault:
			errs = append(errs, field.Forbidden(field.NewPath("globalDefault"), pc.Name+" cannot be the global default"))
		}
	} else if pc.Value > highestUserPriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %d", highestUserPriority)))
	}
	if p := pc.PreemptionPolicy; p != nil && *p != corev1.PreemptLowerPriority && *p != corev1.PreemptNever {
		errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p,
			[]string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
	}
	return errs
}
