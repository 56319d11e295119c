package rbac

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Index names on the binding informers. A binding is indexed under each
// user name its subjects grant (a service account subject as its
// system:serviceaccount: user name) and under each group; RoleBindings
// under "namespace/name" so a lookup only sees the request's namespace.
const (
	indexUser  = "bosun.rbac/user"
	indexGroup = "bosun.rbac/group"
)

var bindingIndexers = cache.Indexers{
	indexUser:  func(obj any) ([]string, error) { return bindingKeys(obj, rbacv1.UserKind) },
	indexGroup: func(obj any) ([]string, error) { return bindingKeys(obj, rbacv1.GroupKind) },
}

// bindingKeys lists the index keys of a binding's subjects of kind User
// (with service accounts) or Group.
func bindingKeys(obj any, kind string) ([]string, error) {
	var (
		subjects  []rbacv1.Subject
		namespace string
	)
	switch b := obj.(type) {
	case *rbacv1.ClusterRoleBinding:
		subjects = b.Subjects
	case *rbacv1.RoleBinding:
		subjects, namespace = b.Subjects, b.Namespace
	default:
		return nil, fmt.Errorf("indexing RBAC bindings: unexpected %T", obj)
	}
	var keys []string
	for _, s := range subjects {
		var name string
		switch {
		case s.Kind == kind:
			name = s.Name
		case s.Kind == rbacv1.ServiceAccountKind && kind == rbacv1.UserKind:
			ns := s.Namespace
			if ns == "" {
				ns = namespace
			}
			if ns == "" {
				continue
			}
			name = user.ServiceAccountUsername(ns, s.Name)
		default:
			continue
		}
		if namespace != "" {
			name = namespace + "/" + name
		}
		keys = append(keys, name)
	}
	return keys, nil
}

// indexedBindings reads bindings through the subject indexes.
type indexedBindings struct {
	rbs, crbs cache.Indexer
}

func (x indexedBindings) clusterRoleBindings(u *user.Info) ([]*rbacv1.ClusterRoleBinding, error) {
	var out []*rbacv1.ClusterRoleBinding
	add := func(index, key string) error {
		objs, err := x.crbs.ByIndex(index, key)
		for _, o := range objs {
			if b, ok := o.(*rbacv1.ClusterRoleBinding); ok && !containsPtr(out, b) {
				out = append(out, b)
			}
		}
		return err
	}
	if err := add(indexUser, u.Name); err != nil {
		return nil, err
	}
	for _, g := range u.Groups {
		if err := add(indexGroup, g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (x indexedBindings) roleBindings(u *user.Info, namespace string) ([]*rbacv1.RoleBinding, error) {
	var out []*rbacv1.RoleBinding
	prefix := namespace + "/"
	add := func(index, key string) error {
		objs, err := x.rbs.ByIndex(index, prefix+key)
		for _, o := range objs {
			if b, ok := o.(*rbacv1.RoleBinding); ok && !containsPtr(out, b) {
				out = append(out, b)
			}
		}
		return err
	}
	if err := add(indexUser, u.Name); err != nil {
		return nil, err
	}
	for _, g := range u.Groups {
		if err := add(indexGroup, g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// containsPtr reports whether s holds p; a binding naming both a user and
// one of their groups is found twice. The lists are short.
func containsPtr[T any](s []*T, p *T) bool {
	for _, q := range s {
		if q == p {
			return true
		}
	}
	return false
}
