package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// settle is how long a burst of Service and EndpointSlice changes is
// collected before the table is rewritten once for all of them.
const settle = 100 * time.Millisecond

// Run keeps the node's service rules in step with the cluster's Services
// and EndpointSlices until ctx ends; it then leaves the rules in place
// (traffic keeps flowing while the agent restarts). nodeIPs are the
// addresses NodePorts answer on.
func Run(ctx context.Context, client kubernetes.Interface, nodeIPs []netip.Addr, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced) {
		return ctx.Err()
	}
	last := ""
	for {
		svcs, err := svcInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		slices, err := sliceInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		rules := Ruleset(svcs, slices, nodeIPs)
		if rules != last {
			if err := Apply(ctx, rules); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Error("programming service rules; retrying in 5s", "err", err)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(5 * time.Second):
				}
				continue
			}
			last = rules
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
	}
}
