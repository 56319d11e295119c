package server

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/controller"
	"github.com/bosun-sh/bosun/internal/controller/certificates"
	"github.com/bosun-sh/bosun/internal/controller/clusterroleaggregation"
	"github.com/bosun-sh/bosun/internal/controller/cronjob"
	"github.com/bosun-sh/bosun/internal/controller/daemonset"
	"github.com/bosun-sh/bosun/internal/controller/deployment"
	"github.com/bosun-sh/bosun/internal/controller/disruption"
	"github.com/bosun-sh/bosun/internal/controller/endpoints"
	"github.com/bosun-sh/bosun/internal/controller/endpointslice"
	"github.com/bosun-sh/bosun/internal/controller/garbagecollector"
	"github.com/bosun-sh/bosun/internal/controller/job"
	"github.com/bosun-sh/bosun/internal/controller/namespace"
	"github.com/bosun-sh/bosun/internal/controller/nodeipam"
	"github.com/bosun-sh/bosun/internal/controller/nodelifecycle"
	"github.com/bosun-sh/bosun/internal/controller/podgc"
	"github.com/bosun-sh/bosun/internal/controller/replicaset"
	"github.com/bosun-sh/bosun/internal/controller/resourcequota"
	"github.com/bosun-sh/bosun/internal/controller/rootcacert"
	"github.com/bosun-sh/bosun/internal/controller/serviceaccount"
	"github.com/bosun-sh/bosun/internal/controller/servicelb"
	"github.com/bosun-sh/bosun/internal/controller/statefulset"
	"github.com/bosun-sh/bosun/internal/pki"
)

// startControllers runs the built-in control loops as API clients of
// this server, while it holds the controller-manager lease.
func startControllers(ctx context.Context, wg *sync.WaitGroup, serverURL string, b *pki.Bundle, conf Config, log *slog.Logger) error {
	cfg, err := componentConfig(serverURL, b, rbac.ControllerManagerUser, nil, "bosun-controller-manager", 500, 1000)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cluster, err := netip.ParsePrefix(conf.ClusterCIDR)
	if err != nil {
		return err
	}
	nodeBits := 24
	if cluster.Addr().Is6() {
		nodeBits = 64
	}
	nodeBits = max(nodeBits, cluster.Bits())
	log = log.With("component", "controller-manager")
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = controller.RunElected(ctx, client, controller.LeaderOptions{Lease: "bosun-controller-manager"}, log, func(ctx context.Context) {
			c := controller.NewContext(client, dyn, log)
			c.Metadata = md
			defer c.Shutdown()
			ipam, err := nodeipam.New(c, cluster, nodeBits)
			if err != nil {
				log.Error("node IPAM", "err", err)
				return
			}
			controller.RunLoops(ctx, c, []controller.Loop{
				{Name: "nodeipam", Run: ipam.Run},
				{Name: "namespace", Run: namespace.New(client, dyn, c.Informers, log.With("controller", "namespace")).Run},
				{Name: "nodelifecycle", Run: nodelifecycle.New(client, c.Informers, c.Clock, c.Recorder("node-lifecycle-controller"), log.With("controller", "nodelifecycle"), nodelifecycle.Options{
					GracePeriod:       conf.NodeMonitorGracePeriod,
					DefaultToleration: time.Duration(conf.DefaultTolerationSeconds) * time.Second,
				}).Run},
				{Name: "replicaset", Run: replicaset.New(c).Run},
				{Name: "deployment", Run: deployment.New(c).Run},
				{Name: "garbagecollector", Run: garbagecollector.New(c).Run},
				{Name: "endpoints", Run: endpoints.New(c).Run},
				{Name: "endpointslice", Run: endpointslice.New(c).Run},
				{Name: "servicelb", Run: servicelb.New(c).Run},
				{Name: "clusterroleaggregation", Run: clusterroleaggregation.New(c).Run},
				{Name: "serviceaccount", Run: serviceaccount.New(c).Run},
				{Name: "rootcacert", Run: rootcacert.New(c, b.CAPEM).Run},
				{Name: "certificates", Run: certificates.New(c, b).Run},
				{Name: "podgc", Run: podgc.New(c, podgc.Options{}).Run},
				{Name: "daemonset", Run: daemonset.New(c).Run},
				{Name: "disruption", Run: disruption.New(c).Run},
				{Name: "statefulset", Run: statefulset.New(c).Run},
				{Name: "job", Run: job.New(c).Run},
				{Name: "cronjob", Run: cronjob.New(c).Run},
				{Name: "resourcequota", Run: resourcequota.New(c, resourcequota.Options{}).Run},
			})
		})
	}()
	return nil
}
