package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// settle is how long a burst of Service and EndpointSlice changes is
// collected before the table is updated once for all of them.
const settle = 100 * time.Millisecond

// Options is what RunWith needs to know about the node.
type Options struct {
	// NodeName decides which endpoints are local for the Local traffic
	// policies; the Node of that name gives the pod ranges (Node.PodCIDRs).
	NodeName string
	// NodeIPs are the addresses NodePorts answer on.
	NodeIPs []netip.Addr
	// Applied, if set, is called after each script the kernel accepted,
	// with whether it rewrote the whole table; benchmarks time with it.
	Applied func(full bool)
}

// Run keeps the node's service rules in step with the cluster's Services
// and EndpointSlices until ctx ends; it then leaves the rules in place
// (traffic keeps flowing while the agent restarts). nodeName is the node
// the agent runs as; nodeIPs are the addresses NodePorts answer on.
func Run(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIPs []netip.Addr, log *slog.Logger) error {
	return RunWith(ctx, client, Options{NodeName: nodeName, NodeIPs: nodeIPs}, log)
}

// RunWith is Run with all options.
func RunWith(ctx context.Context, client kubernetes.Interface, o Options, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	// The node's own object, for its pod ranges.
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.NodeName).String()
	}))
	nodeInf := nodeFactory.Core().V1().Nodes()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer(), nodeInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	nodeFactory.Start(ctx.Done())
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nodeInf.Informer().HasSynced) {
		return ctx.Err()
	}
	// applied is the table in the kernel; nil until the first full write
	// succeeded, so the first write after start is always whole.
	var applied *model
	noConntrack := false
	for {
		svcs, err := svcInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		slices, err := sliceInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		node := Node{Name: o.NodeName, IPs: o.NodeIPs}
		// Until the node has its pod range its pods have none to be
		// told apart by; that is a moment after it registers.
		if n, err := nodeInf.Lister().Get(o.NodeName); err == nil {
			node.PodCIDRs = podCIDRs(n)
		}
		want := build(svcs, slices, node)
		wrote, err := apply(ctx, applied, want, log)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			applied = nil
			log.Error("programming service rules; retrying in 5s", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
			}
			continue
		}
		if o.Applied != nil && wrote != wroteNothing {
			o.Applied(wrote == wroteWhole)
		}
		if applied != nil {
			if stale := want.staleUDP(applied); len(stale) > 0 && !noConntrack {
				err := deleteConntrack(ctx, stale)
				switch {
				case errors.Is(err, errNoConntrack):
					noConntrack = true
					log.Warn("conntrack tool not installed; UDP clients may keep reaching removed endpoints until their entries expire")
				case err != nil:
					log.Warn("deleting stale UDP conntrack entries", "err", err)
				}
			}
		}
		applied = want
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

func podCIDRs(n *corev1.Node) []netip.Prefix {
	raw := n.Spec.PodCIDRs
	if len(raw) == 0 && n.Spec.PodCIDR != "" {
		raw = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, c := range raw {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// wrote is what apply did to the kernel's table.
type wrote int

const (
	wroteNothing wrote = iota
	wroteChanges
	wroteWhole
)

// apply brings the kernel from applied (nil: unknown) to want: only the
// difference when it can, else, or when that fails, the whole table.
func apply(ctx context.Context, applied, want *model, log *slog.Logger) (wrote, error) {
	if applied != nil {
		script, inPlace := want.diff(applied)
		if inPlace && script == "" {
			return wroteNothing, nil
		}
		if inPlace {
			err := Apply(ctx, script)
			if err == nil {
				return wroteChanges, nil
			}
			if ctx.Err() != nil {
				return wroteNothing, ctx.Err()
			}
			// The kernel may hold other than what we think (someone
			// flushed the table); a full write repairs it either way.
			log.Warn("updating service rules in place failed; rewriting the table", "err", err)
		}
	}
	if err := Apply(ctx, want.render()); err != nil {
		return wroteNothing, err
	}
	return wroteWhole, nil
}
