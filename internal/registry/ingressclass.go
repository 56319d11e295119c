package registry

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const maxIngressControllerLength = 250

func ingressClasses() *Kind {
	return &Kind{
		GVK:      networkingv1.SchemeGroupVersion.WithKind("IngressClass"),
		Resource: "ingressclasses",
		Singular: "ingressclass",
		New:      func() runtime.Object { return &networkingv1.IngressClass{} },
		NewList:  func() runtime.Object { return &networkingv1.IngressClassList{} },
		Defaults: func(obj runtime.Object) {
			if pr := obj.(*networkingv1.IngressClass).Spec.Parameters; pr != nil && pr.Scope == nil {
				pr.Scope = new(networkingv1.IngressClassParametersReferenceScopeCluster)
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			ic := obj.(*networkingv1.IngressClass)
			errs := validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))
			if o, ok := old.(*networkingv1.IngressClass); ok {
				errs = append(errs, immutableField(ic.Spec.Controller, o.Spec.Controller, field.NewPath("spec", "controller"))...)
			}
			return errs
		},
		Generation: true,
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Controller", "string", "Controller that implements this class."),
			col("Parameters", "string", "Resource holding the class's parameters."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			ic := obj.(*networkingv1.IngressClass)
			params := "<none>"
			if pr := ic.Spec.Parameters; pr != nil {
				params = pr.Kind
				if pr.APIGroup != nil {
					params += "." + *pr.APIGroup
				}
				params += "/" + pr.Name
			}
			return []any{ic.Name, ic.Spec.Controller, params, age(obj)}
		},
	}
}

func validateIngressClassSpec(s *networkingv1.IngressClassSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	cp := p.Child("controller")
	switch {
	case s.Controller == "":
		errs = append(errs, field.Required(cp, ""))
	case len(s.Controller) > maxIngressControllerLength:
		errs = append(errs, field.TooLong(cp, "", maxIngressControllerLength))
	default:
		errs = append(errs, validation.IsDomainPrefixedPath(cp, s.Controller)...)
	}
	pr := s.Parameters
	if pr == nil {
		return errs
	}
	pp := p.Child("parameters")
	if pr.Kind == "" {
		errs = append(errs, field.Required(pp.Child("kind"), ""))
	}
	if pr.Name == "" {
		errs = append(errs, field.Required(pp.Child("name"), ""))
	}
	if pr.APIGroup != nil && *pr.APIGroup != "" {
		for _, msg := range validation.IsDNS1123Subdomain(*pr.APIGroup) {
			errs = append(errs, field.Invalid(pp.Child("apiGroup"), *pr.APIGroup, msg))
		}
	}
	const cluster, namespace = networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace
	switch {
	case pr.Scope == nil:
		errs = append(errs, field.Required(pp.Child("scope"), ""))
	case *pr.Scope == cluster:
		if pr.Namespace != nil {
			errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	case *pr.Scope == namespace:
		if pr.Namespace == nil || *pr.Namespace == "" {
			errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range validation.IsDNS1123Label(*pr.Namespace) {
				errs = append(errs, field.Invalid(pp.Child("namespace"), *pr.Namespace, msg))
			}
		}
	default:
		errs = append(errs, field.NotSupported(pp.Child("scope"), *pr.Scope, []string{cluster, namespace}))
	}
	return errs
}
