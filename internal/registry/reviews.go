package registry

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The review kinds are questions put to the server rather than objects
// it keeps: a create answers with the object's status filled in, and
// nothing is stored. The API server answers them itself.

func review(k *Kind) *Kind {
	k.Review = true
	return k
}

func selfSubjectAccessReviews() *Kind {
	return review(&Kind{
		GVK:      authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"),
		Resource: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview",
		New: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} },
	})
}

func subjectAccessReviews() *Kind {
	return review(&Kind{
		GVK:      authorizationv1.SchemeGroupVersion.WithKind("SubjectAccessReview"),
		Resource: "subjectaccessreviews", Singular: "subjectaccessreview",
		New: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} },
	})
}

func localSubjectAccessReviews() *Kind {
	return review(&Kind{
		GVK:      authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview"),
		Resource: "localsubjectaccessreviews", Singular: "localsubjectaccessreview",
		Namespaced: true,
		New:        func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} },
	})
}

func selfSubjectRulesReviews() *Kind {
	return review(&Kind{
		GVK:      authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview"),
		Resource: "selfsubjectrulesreviews", Singular: "selfsubjectrulesreview",
		New: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} },
	})
}

func selfSubjectReviews() *Kind {
	return review(&Kind{
		GVK:      authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"),
		Resource: "selfsubjectreviews", Singular: "selfsubjectreview",
		New: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
	})
}

func tokenReviews() *Kind {
	return review(&Kind{
		GVK:      authenticationv1.SchemeGroupVersion.WithKind("TokenReview"),
		Resource: "tokenreviews", Singular: "tokenreview",
		New: func() runtime.Object { return &authenticationv1.TokenReview{} },
	})
}
