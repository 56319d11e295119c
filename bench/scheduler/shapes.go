package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/bench/benchserver"
	"github.com/bosun-sh/bosun/internal/simnode"
)

const namespace = "bench"

// clientConns is how many connections the pod creators spread over.
const clientConns = 4

// env is a running server with its simulated nodes.
type env struct {
	s          *benchserver.Server
	cfg        *rest.Config
	client     kubernetes.Interface
	creators   []kubernetes.Interface
	stopSim    context.CancelFunc
	simDone    chan error
	nodesReady time.Duration
}

// newEnv starts count simulated nodes (in this process, on their own
// connection) and waits until the server sees them all Ready.
func newEnv(ctx context.Context, s *benchserver.Server, count, zones int) (*env, error) {
	cfg, err := s.ClientConfig()
	if err != nil {
		return nil, err
	}
	e := &env{s: s, cfg: cfg, simDone: make(chan error, 1)}
	if e.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	for range clientConns {
		c, err := kubernetes.NewForConfig(benchserver.OwnConnection(cfg))
		if err != nil {
			return nil, err
		}
		e.creators = append(e.creators, c)
	}
	simClient, err := kubernetes.NewForConfig(benchserver.OwnConnection(cfg))
	if err != nil {
		return nil, err
	}
	sc := simnode.Defaults()
	sc.Count, sc.Zones = count, zones
	sc.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := simnode.New(simClient, sc)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	simCtx, cancel := context.WithCancel(context.Background())
	e.stopSim = cancel
	go func() { e.simDone <- sim.Run(simCtx) }()

	var ready atomic.Int64
	seen := sync.Map{}
	allReady := make(chan struct{})
	var once sync.Once
	check := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				if _, dup := seen.LoadOrStore(n.Name, true); !dup && ready.Add(1) >= int64(count) {
					once.Do(func() { close(allReady) })
				}
			}
		}
	}
	factory := informers.NewSharedInformerFactory(e.client, 0)
	inf := factory.Core().V1().Nodes().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, o any) { check(o) }})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	select {
	case <-allReady:
	case err := <-e.simDone:
		e.close()
		return nil, fmt.Errorf("simulated nodes: %w", err)
	case <-ctx.Done():
		e.close()
		return nil, fmt.Errorf("waiting for %d nodes (%d Ready): %w", count, ready.Load(), ctx.Err())
	}
	e.nodesReady = time.Since(start)
	return e, nil
}

func (e *env) close() {
	e.stopSim()
	select {
	case <-e.simDone:
	case <-time.After(30 * time.Second):
	}
}

func (e *env) createNamespace(ctx context.Context) error {
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	return err
}

func benchPodSpec(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("100Mi"),
			}},
		}}},
	}
}

func benchPod(i int, labels map[string]string) *corev1.Pod {
	t := benchPodSpec(labels)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%06d", i), Labels: t.Labels}, Spec: t.Spec}
}

func podBasic(i int) *corev1.Pod { return benchPod(i, map[string]string{"app": "basic"}) }

func podAntiAffinity(i int) *corev1.Pod {
	p := benchPod(i, map[string]string{"app": "anti"})
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
			TopologyKey:   corev1.LabelHostname,
		}},
	}}
	return p
}

func podSpread(i int) *corev1.Pod {
	p := benchPod(i, map[string]string{"app": "spread"})
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
	}}
	return p
}

// schedulePods creates o.pods pods and waits until those that can fit
// are bound (for anti-affinity, one per node).
func schedulePods(newPod func(int) *corev1.Pod) func(context.Context, *env, options, io.Writer) error {
	return func(ctx context.Context, e *env, o options, out io.Writer) error {
		if err := e.createNamespace(ctx); err != nil {
			return err
		}
		want := o.pods
		if newPod(0).Spec.Affinity != nil {
			want = min(o.pods, o.nodes)
		}
		var (
			mu        sync.Mutex
			bound     = map[string]bool{}
			lastBound time.Time
			done      = make(chan struct{})
		)
		seen := func(obj any) {
			p, ok := obj.(*corev1.Pod)
			if !ok || p.Spec.NodeName == "" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if bound[p.Name] {
				return
			}
			bound[p.Name] = true
			lastBound = time.Now()
			if len(bound) == want {
				close(done)
			}
		}
		factory := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(namespace))
		inf := factory.Core().V1().Pods().Informer()
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, o any) { seen(o) }})
		stop := make(chan struct{})
		defer close(stop)
		factory.Start(stop)
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return ctx.Err()
		}

		cpu0, first := e.s.CPU(), time.Now()
		if err := createAll(ctx, e.creators, o.writers, o.pods, func(ctx context.Context, c kubernetes.Interface, i int) error {
			_, err := c.CoreV1().Pods(namespace).Create(ctx, newPod(i), metav1.CreateOptions{})
			return err
		}); err != nil {
			return err
		}
		created := time.Since(first)
		select {
		case <-done:
		case <-ctx.Done():
			mu.Lock()
			n := len(bound)
			mu.Unlock()
			return fmt.Errorf("%d of %d pods bound: %w", n, want, ctx.Err())
		}
		mu.Lock()
		elapsed := lastBound.Sub(first)
		mu.Unlock()
		cpu := e.s.CPU() - cpu0
		fmt.Fprintf(out, "   %d pods created in %s (%.0f /s); %d bound %s after the first create = %.0f pods/s\n",
			o.pods, created.Round(time.Millisecond), float64(o.pods)/created.Seconds(),
			want, elapsed.Round(time.Millisecond), float64(want)/elapsed.Seconds())
		fmt.Fprintf(out, "   server cpu %.1f s (%.2f cores over that time), load %.2f\n", cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(), benchserver.LoadAverage())
		return nil
	}
}

// createAll runs create for 0..n-1 from writers goroutines spread over
// the clients, stopping at the first error.
func createAll(ctx context.Context, clients []kubernetes.Interface, writers, n int, create func(context.Context, kubernetes.Interface, int) error) error {
	var next atomic.Int64
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%len(clients)]
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := create(ctx, c, i); err != nil {
					errs <- fmt.Errorf("create %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// deploymentRollout creates a Deployment of o.pods replicas as
// `kubectl apply` does (with the last-applied annotation) and waits
// until all replicas are available.
func deploymentRollout(ctx context.Context, e *env, o options, out io.Writer) error {
	if err := e.createNamespace(ctx); err != nil {
		return err
	}
	replicas := int32(o.pods)
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: benchPodSpec(labels),
		},
	}
	applied, err := json.Marshal(d)
	if err != nil {
		return err
	}
	d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied) + "\n"}

	available := make(chan struct{})
	var once sync.Once
	check := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok && d.Status.AvailableReplicas == replicas {
			once.Do(func() { close(available) })
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(namespace))
	inf := factory.Apps().V1().Deployments().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, o any) { check(o) }})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	cpu0, first := e.s.CPU(), time.Now()
	if _, err := e.client.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		return err
	}
	select {
	case <-available:
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d available replicas: %w", replicas, ctx.Err())
	}
	elapsed := time.Since(first)
	cpu := e.s.CPU() - cpu0
	fmt.Fprintf(out, "   %d replicas available %s after the create = %.0f pods/s\n", replicas, elapsed.Round(time.Millisecond), float64(replicas)/elapsed.Seconds())
	fmt.Fprintf(out, "   server cpu %.1f s (%.2f cores over that time), load %.2f\n", cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(), benchserver.LoadAverage())
	return nil
}

// heartbeats lets the nodes settle for 10 s, then measures the server's
// CPU use over o.duration while they only renew leases and post status.
func heartbeats(ctx context.Context, e *env, o options, out io.Writer) error {
	settle := 10 * time.Second
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu0, first := e.s.CPU(), time.Now()
	select {
	case <-time.After(o.duration):
	case err := <-e.simDone:
		return fmt.Errorf("simulated nodes stopped: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	elapsed := time.Since(first)
	cpu := e.s.CPU() - cpu0
	fmt.Fprintf(out, "   steady state over %s: server cpu %.1f s = %.3f cores, load %.2f\n",
		elapsed.Round(time.Second), cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(), benchserver.LoadAverage())
	return nil
}
