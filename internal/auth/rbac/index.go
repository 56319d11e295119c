package rbac

import (
	"slices"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// index holds the RBAC objects from the informers, arranged for
// decisions: bindings by the user names and groups their subjects grant
// (a service account subject under its system:serviceaccount: user name),
// RoleBindings and Roles per namespace. One lock guards it all, taken for
// reading for a whole decision so that it sees one state of the policy.
type index struct {
	mu           sync.RWMutex
	clusterRoles map[string]*rbacv1.ClusterRole
	crbs         map[string]*entry // by name
	crbByUser    map[string][]*entry
	crbByGroup   map[string][]*entry
	namespaces   map[string]*nsIndex

	synced []cache.InformerSynced
}

type nsIndex struct {
	roles   map[string]*rbacv1.Role
	rbs     map[string]*entry
	byUser  map[string][]*entry
	byGroup map[string][]*entry
}

func (n *nsIndex) empty() bool { return len(n.roles) == 0 && len(n.rbs) == 0 }

// entry is one indexed binding with the allow reason of each of its
// subjects worked out once, so that an allowed request costs no
// formatting.
type entry struct {
	kind, name, namespace string
	roleRef               rbacv1.RoleRef
	subjects              []rbacv1.Subject
	reasons               []string
}

func newEntry(kind, name, namespace string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) *entry {
	e := &entry{kind: kind, name: name, namespace: namespace, roleRef: ref, subjects: subjects, reasons: make([]string, len(subjects))}
	for i := range subjects {
		e.reasons[i] = "RBAC: allowed by " + e.binding(i).String()
	}
	return e
}

func (e *entry) binding(subject int) binding {
	return binding{kind: e.kind, name: e.name, namespace: e.namespace, roleRef: &e.roleRef, subject: &e.subjects[subject], reason: e.reasons[subject]}
}

// keys lists the user names and groups e is indexed under.
func (e *entry) keys() (users, groups []string) {
	for _, s := range e.subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = e.namespace
			}
			if ns != "" {
				users = append(users, user.ServiceAccountUsername(ns, s.Name))
			}
		}
	}
	return users, groups
}

func newIndex() *index {
	return &index{
		clusterRoles: map[string]*rbacv1.ClusterRole{},
		crbs:         map[string]*entry{},
		crbByUser:    map[string][]*entry{},
		crbByGroup:   map[string][]*entry{},
		namespaces:   map[string]*nsIndex{},
	}
}

// watch feeds the index from the four informers.
func (x *index) watch(roles, roleBindings, clusterRoles, clusterRoleBindings cache.SharedIndexInformer) {
	for _, inf := range []cache.SharedIndexInformer{roles, roleBindings, clusterRoles, clusterRoleBindings} {
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { x.set(obj, true) },
			UpdateFunc: func(_, obj any) { x.set(obj, true) },
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				x.set(obj, false)
			},
		})
		if err != nil {
			// Only a stopped informer refuses a handler; the
			// authorizer then never syncs and so never allows.
			x.synced = append(x.synced, func() bool { return false })
			continue
		}
		x.synced = append(x.synced, reg.HasSynced)
	}
}

func (x *index) hasSynced() bool {
	for _, s := range x.synced {
		if !s() {
			return false
		}
	}
	return true
}

// set adds or replaces obj in the index, or removes it.
func (x *index) set(obj any, present bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch o := obj.(type) {
	case *rbacv1.ClusterRole:
		if present {
			x.clusterRoles[o.Name] = o
		} else {
			delete(x.clusterRoles, o.Name)
		}
	case *rbacv1.Role:
		n := x.namespace(o.Namespace)
		if present {
			n.roles[o.Name] = o
		} else {
			delete(n.roles, o.Name)
			x.dropNamespaceIfEmpty(o.Namespace)
		}
	case *rbacv1.ClusterRoleBinding:
		if old := x.crbs[o.Name]; old != nil {
			unindex(old, x.crbByUser, x.crbByGroup)
			delete(x.crbs, o.Name)
		}
		if present {
			e := newEntry(clusterRoleBindingKind, o.Name, "", o.RoleRef, o.Subjects)
			x.crbs[o.Name] = e
			reindex(e, x.crbByUser, x.crbByGroup)
		}
	case *rbacv1.RoleBinding:
		n := x.namespace(o.Namespace)
		if old := n.rbs[o.Name]; old != nil {
			unindex(old, n.byUser, n.byGroup)
			delete(n.rbs, o.Name)
		}
		if present {
			e := newEntry(roleBindingKind, o.Name, o.Namespace, o.RoleRef, o.Subjects)
			n.rbs[o.Name] = e
			reindex(e, n.byUser, n.byGroup)
		} else {
			x.dropNamespaceIfEmpty(o.Namespace)
		}
	}
}

func (x *index) namespace(ns string) *nsIndex {
	n := x.namespaces[ns]
	if n == nil {
		n = &nsIndex{roles: map[string]*rbacv1.Role{}, rbs: map[string]*entry{}, byUser: map[string][]*entry{}, byGroup: map[string][]*entry{}}
		x.namespaces[ns] = n
	}
	return n
}

func (x *index) dropNamespaceIfEmpty(ns string) {
	if n := x.namespaces[ns]; n != nil && n.empty() {
		delete(x.namespaces, ns)
	}
}

func reindex(e *entry, byUser, byGroup map[string][]*entry) {
	users, groups := e.keys()
	for _, k := range users {
		if !slices.Contains(byUser[k], e) {
			byUser[k] = append(byUser[k], e)
		}
	}
	for _, k := range groups {
		if !slices.Contains(byGroup[k], e) {
			byGroup[k] = append(byGroup[k], e)
		}
	}
}

func unindex(e *entry, byUser, byGroup map[string][]*entry) {
	users, groups := e.keys()
	for _, pair := range []struct {
		m    map[string][]*entry
		keys []string
	}{{byUser, users}, {byGroup, groups}} {
		for _, k := range pair.keys {
			rest := slices.DeleteFunc(pair.m[k], func(o *entry) bool { return o == e })
			if len(rest) == 0 {
				delete(pair.m, k)
			} else {
				pair.m[k] = rest
			}
		}
	}
}

func (x *index) visit(u *user.Info, namespace string, v *visitor) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.eachBinding(u, x.crbByUser, x.crbByGroup, v) || namespace == "" {
		return
	}
	if n := x.namespaces[namespace]; n != nil {
		x.eachBinding(u, n.byUser, n.byGroup, v)
	}
}

// eachBinding shows v each entry naming u, once: from the list of the key
// its first matching subject is indexed under, so that an entry found
// through both the user's name and a group, or two groups, is seen once.
// It reports whether v wants more.
func (x *index) eachBinding(u *user.Info, byUser, byGroup map[string][]*entry, v *visitor) bool {
	for _, e := range byUser[u.Name] {
		if i, ok := appliesTo(u, e.subjects, e.namespace); ok && e.subjects[i].Kind != rbacv1.GroupKind {
			if !x.show(e.binding(i), v) {
				return false
			}
		}
	}
	for _, g := range u.Groups {
		for _, e := range byGroup[g] {
			if i, ok := appliesTo(u, e.subjects, e.namespace); ok && e.subjects[i].Kind == rbacv1.GroupKind && e.subjects[i].Name == g {
				if !x.show(e.binding(i), v) {
					return false
				}
			}
		}
	}
	return true
}

func (x *index) show(b binding, v *visitor) bool {
	switch b.roleKind() {
	case "ClusterRole":
		if r := x.clusterRoles[b.roleRef.Name]; r != nil {
			return v.visit(b, r.Rules, nil)
		}
		return v.visit(b, nil, b.resolveError(apierrors.NewNotFound(clusterRoleResource, b.roleRef.Name)))
	case "Role":
		if n := x.namespaces[b.namespace]; n != nil {
			if r := n.roles[b.roleRef.Name]; r != nil {
				return v.visit(b, r.Rules, nil)
			}
		}
		return v.visit(b, nil, b.resolveError(apierrors.NewNotFound(roleResource, b.roleRef.Name)))
	}
	return v.visit(b, nil, b.badReference())
}
