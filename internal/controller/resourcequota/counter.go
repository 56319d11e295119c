package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/controller"
)

// errUnknownResource means the server serves no namespaced resource of
// that name: a quota may limit it, but nothing can be counted.
var errUnknownResource = errors.New("resource not served")

// rediscoverAfter bounds how often a quota naming an unknown resource
// makes the counter ask the server's discovery again (a CRD may have
// appeared).
const rediscoverAfter = 30 * time.Second

// counter counts objects of any kind, per namespace, from metadata-only
// informers it starts the first time a quota asks for a kind, and reports
// every deletion so that the namespace's quotas are recounted.
type counter struct {
	ctx      context.Context
	disc     discovery.DiscoveryInterface
	md       metadata.Interface
	clock    clock.Clock
	onDelete func(gr schema.GroupResource, ns string)

	mu         sync.Mutex
	versions   map[schema.GroupResource]schema.GroupVersionResource
	discovered time.Time
	informers  map[schema.GroupResource]cache.SharedIndexInformer
}

func newCounter(ctx context.Context, disc discovery.DiscoveryInterface, md metadata.Interface, clk clock.Clock, onDelete func(schema.GroupResource, string)) *counter {
	return &counter{ctx: ctx, disc: disc, md: md, clock: clk, onDelete: onDelete, informers: map[schema.GroupResource]cache.SharedIndexInformer{}}
}

// objects returns the namespace's objects of gr as metadata.
// controller.ErrRequeue means the kind's informer is still loading.
func (c *counter) objects(gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	if c.md == nil {
		return nil, fmt.Errorf("%s: %w (no metadata client)", gr, errUnknownResource)
	}
	inf, err := c.informer(gr)
	if err != nil {
		return nil, err
	}
	if !inf.HasSynced() {
		return nil, controller.ErrRequeue
	}
	items, err := inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, 0, len(items))
	for _, it := range items {
		if o, ok := it.(runtime.Object); ok {
			out = append(out, o)
		}
	}
	return out, nil
}

func (c *counter) informer(gr schema.GroupResource) (cache.SharedIndexInformer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inf, ok := c.informers[gr]; ok {
		return inf, nil
	}
	gvr, ok := c.versions[gr]
	if !ok && (c.versions == nil || c.clock.Since(c.discovered) > rediscoverAfter) {
		c.discover()
		gvr, ok = c.versions[gr]
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", gr, errUnknownResource)
	}
	inf := metadatainformer.NewFilteredMetadataInformer(c.md, gvr, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil).Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				c.onDelete(gr, m.GetNamespace())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	go inf.Run(c.ctx.Done())
	c.informers[gr] = inf
	return inf, nil
}

// discover maps every namespaced group resource the server serves to its
// preferred version. A partial answer (one group failing) is still used.
func (c *counter) discover() {
	c.discovered = c.clock.Now()
	lists, _ := c.disc.ServerPreferredNamespacedResources()
	versions := map[schema.GroupResource]schema.GroupVersionResource{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !hasVerb(r.Verbs, "list") || !hasVerb(r.Verbs, "watch") {
				continue
			}
			versions[schema.GroupResource{Group: gv.Group, Resource: r.Name}] = gv.WithResource(r.Name)
		}
	}
	c.versions = versions
}

func hasVerb(verbs metav1.Verbs, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}
