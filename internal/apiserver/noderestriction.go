package apiserver

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-sh/bosun/internal/admission/noderestriction"
	"github.com/bosun-sh/bosun/internal/auth/node"
)

// admitNodeWrite holds a node agent to its own Node, pods, lease and
// tokens (NodeRestriction); requests of anyone else pass. obj is what
// would be stored (nil for a delete), old what is stored (nil for a
// create).
func (s *Server) admitNodeWrite(ctx context.Context, gr schema.GroupResource, verb, sub, ns, name string, obj, old runtime.Object) error {
	if s.cfg.NodeRestriction == nil {
		return nil
	}
	u := userFrom(ctx)
	if u == nil {
		return nil
	}
	if _, ok := node.Identity(*u); !ok {
		return nil
	}
	return s.cfg.NodeRestriction.Admit(ctx, noderestriction.Attributes{
		User: *u, Verb: verb, Resource: gr, Subresource: sub,
		Namespace: ns, Name: name, Object: obj, OldObject: old,
	})
}
