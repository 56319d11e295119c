// Package registry describes every resource kind bosun serves: its names,
// defaults, validation, status handling, table columns and field selectors.
// One file per kind; the API server is generic over these descriptions.
package registry

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind is the description of one served resource in one group-version.
// Every func field may be nil, meaning "nothing special".
type Kind struct {
	GVK        schema.GroupVersionKind
	Resource   string // plural, lower case: "deployments"
	Singular   string // "deployment"
	ShortNames []string
	Categories []string
	Namespaced bool

	// New returns an empty typed object; NewList an empty typed list.
	New     func() runtime.Object
	NewList func() runtime.Object

	// NameIsDNSLabel selects the stricter name rule (namespaces, services
	// use DNS-1035 via NameRule). Nil means DNS subdomain.
	NameRule func(name string, prefix bool) []string

	// Defaults fills in what Kubernetes fills in on create and update.
	Defaults func(obj runtime.Object)
	// Validate checks a defaulted object; old is nil on create.
	Validate func(obj, old runtime.Object) field.ErrorList

	// HasStatus: the kind has a status subresource. Writes to the main
	// resource keep the stored status; writes to /status keep everything else.
	HasStatus bool
	// PrepareForCreate runs before defaulting on create (e.g. reset status).
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate runs on update of the main resource after the
	// stored status has been copied over.
	PrepareForUpdate func(obj, old runtime.Object)
	// Generation: metadata.generation starts at 1 and is bumped when
	// anything but metadata and status changes.
	Generation bool

	// Scale, when set, serves the scale subresource.
	Scale *ScaleAccess

	// Columns and Row make the Table form (kubectl get). Columns include
	// NAME. Priority 1 columns show only with -o wide.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) []any

	// Fields returns the kind's selectable fields besides metadata.name and
	// metadata.namespace, which every kind has.
	Fields func(obj runtime.Object) fields.Set

	// Review marks a question put to the server (access and token
	// reviews): only create is served, the API server answers it, and
	// nothing is stored.
	Review bool

	// StoredAs, when set, means the objects live in another kind's storage
	// (autoscaling/v1 HPAs are stored as autoscaling/v2).
	StoredAs *StoredAs
}

// ScaleAccess reads and writes the replica count behind /scale.
type ScaleAccess struct {
	// Get returns spec replicas, status replicas and the label selector in
	// string form.
	Get func(obj runtime.Object) (spec, status int32, selector string)
	Set func(obj runtime.Object, replicas int32)
}

// StoredAs names the storage kind and converts to and from it.
type StoredAs struct {
	GVK         schema.GroupVersionKind
	ToStorage   func(obj runtime.Object) (runtime.Object, error)
	FromStorage func(obj runtime.Object) (runtime.Object, error)
}

// GroupResource returns the kind's group and plural resource.
func (k *Kind) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.GVK.Group, Resource: k.Resource}
}
