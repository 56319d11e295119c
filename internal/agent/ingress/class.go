package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

const (
	// legacyClassAnnotation predates spec.ingressClassName and is still
	// set by older charts.
	legacyClassAnnotation = "kubernetes.io/ingress.class"
	// defaultClassAnnotation marks the IngressClass that Ingresses
	// without any class belong to.
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// isDefaultClass reports whether the IngressClass named class, if among
// classes, is marked as the cluster's default.
func isDefaultClass(classes []*networkingv1.IngressClass, class string) bool {
	for _, c := range classes {
		if c.Name == class {
			return c.Annotations[defaultClassAnnotation] == "true"
		}
	}
	return false
}

// serves reports whether an Ingress belongs to class: named by
// spec.ingressClassName, or without a class name but with the legacy
// annotation naming class, or with neither while class is the default.
func serves(ing *networkingv1.Ingress, class string, isDefault bool) bool {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == class
	}
	if legacy, ok := ing.Annotations[legacyClassAnnotation]; ok && legacy != "" {
		return legacy == class
	}
	return isDefault
}
