// Package kubelet is the node agent's pod manager: it registers the Node
// and keeps its lease and conditions fresh, watches the pods bound to the
// node, and drives each one through the container runtime (CRI) in its own
// worker — sandbox, volumes, init containers, containers, probes, restarts
// with back-off, graceful termination — reporting status back to the API
// server as the Kubernetes kubelet does.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-sh/bosun/internal/agent/volume"
)

// Config is what the kubelet needs to know about its node.
type Config struct {
	NodeName string
	// NodeIP is the node's InternalIP.
	NodeIP string
	// Port is where the agent serves logs and streaming (10250).
	Port int
	// RootDir is the agent's directory: pods/ (volumes) and logs/ live
	// under it.
	RootDir string
	Labels  map[string]string
	// Version is reported as the kubelet version.
	Version string
	// ClusterDomain and ClusterDNS fill pods' /etc/hosts and resolv.conf.
	ClusterDomain string
	ClusterDNS    []string
	// Heartbeat is how often the node lease is renewed.
	Heartbeat time.Duration
	// Relist is how often the runtime is listed to notice container
	// state changes (the kubelet's PLEG period).
	Relist time.Duration
}

// Kubelet manages the pods of one node.
type Kubelet struct {
	cfg    Config
	client kubernetes.Interface
	rt     runtimeapi.RuntimeServiceClient
	images runtimeapi.ImageServiceClient
	clock  clock.WithTicker
	log    *slog.Logger
	events record.EventRecorder

	volumes *volume.Manager
	sources volume.Sources
	probes  *probeState

	pods     corelisters.PodLister
	services corelisters.ServiceLister

	mu      sync.Mutex
	node    *corev1.Node
	workers map[types.UID]*worker
	// seen is the last relist's fingerprint of each pod's containers.
	seen map[types.UID]string
	// ips are the addresses of each pod's current sandbox.
	ips     map[types.UID][]string
	backoff *backoff
	// lastErr is each container's last start failure (image pull,
	// config), shown as its waiting reason.
	lastErr map[string]containerErr
	// startSlots bounds the pods being started (sandbox and first
	// containers) at once.
	startSlots chan struct{}
	// cpuSample is the node's busy CPU time at the last stats summary.
	cpuSample struct {
		busy uint64
		at   time.Time
	}
	wg sync.WaitGroup
}

type containerErr struct {
	reason, message string
}

// New returns a kubelet for one node.
func New(cfg Config, client kubernetes.Interface, conn runtimeapi.RuntimeServiceClient, images runtimeapi.ImageServiceClient, log *slog.Logger) *Kubelet {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Relist <= 0 {
		cfg.Relist = time.Second
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	k := &Kubelet{
		cfg: cfg, client: client, rt: conn, images: images,
		clock:   clock.RealClock{},
		log:     log.With("component", "kubelet", "node", cfg.NodeName),
		workers: map[types.UID]*worker{},
		seen:    map[types.UID]string{},
		ips:     map[types.UID][]string{},
		backoff: newBackoff(10*time.Second, 5*time.Minute),
		lastErr: map[string]containerErr{},
		// One more than the CPUs: a creation waits on the runtime part of
		// the time.
		startSlots: make(chan struct{}, goruntime.NumCPU()+1),
	}
	k.sources = apiSources{client: client, TokenManager: volume.NewTokenManager(client, k.clock)}
	k.volumes = volume.NewManager(filepath.Join(cfg.RootDir, "pods"), k.sources, k.log)
	return k
}

// apiSources reads ConfigMaps and Secrets for volumes and env from the API,
// and asks it for the service account tokens of projected volumes.
type apiSources struct {
	client kubernetes.Interface
	*volume.TokenManager
}

func (s apiSources) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return s.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

func (s apiSources) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return s.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (k *Kubelet) setPodIPs(uid types.UID, ips []string) {
	k.mu.Lock()
	k.ips[uid] = ips
	k.mu.Unlock()
}

// podIPs are the addresses of the pod's current sandbox.
func (k *Kubelet) podIPs(pod *corev1.Pod) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ips[pod.UID]
}

// LogDir is where a pod's container logs are written.
func (k *Kubelet) LogDir(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.RootDir, "logs", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

// Register creates or refreshes the Node object and returns it.
func (k *Kubelet) Register(ctx context.Context) (*corev1.Node, error) {
	n, err := k.register(ctx)
	if err == nil {
		k.setNode(n)
	}
	return n, err
}

// Run manages the node's pods until ctx ends. Register must have
// succeeded. Stopping leaves containers running; the next Run adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.events = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})
	k.probes = newProbeState(k)

	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
	}))
	inf := factory.Core().V1().Pods()
	k.pods = inf.Lister()
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { k.podChanged(obj) },
		UpdateFunc: func(old, obj any) {
			if o, n, ok := bothPods(old, obj); ok && ownStatusWrite(o, n) {
				return
			}
			k.podChanged(obj)
		},
		DeleteFunc: func(obj any) { k.podChanged(obj) },
	}); err != nil {
		return err
	}
	// Services, for the variables every container gets about them.
	svcFactory := informers.NewSharedInformerFactory(k.client, 0)
	svcInf := svcFactory.Core().V1().Services()
	k.services = svcInf.Lister()
	factory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer svcFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced, svcInf.Informer().HasSynced) {
		return ctx.Err()
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.heartbeat(ctx)
	}()
	k.relistLoop(ctx)
	k.mu.Lock()
	for _, w := range k.workers {
		w.stop()
	}
	k.mu.Unlock()
	k.wg.Wait()
	return ctx.Err()
}

func (k *Kubelet) setNode(n *corev1.Node) {
	k.mu.Lock()
	k.node = n
	k.mu.Unlock()
}

func (k *Kubelet) getNode() *corev1.Node {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.node
}

// podChanged wakes the pod's worker, starting one for a new pod.
func (k *Kubelet) podChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.kick(pod.UID, pod.Namespace, pod.Name)
}

func bothPods(a, b any) (*corev1.Pod, *corev1.Pod, bool) {
	pa, ok1 := a.(*corev1.Pod)
	pb, ok2 := b.(*corev1.Pod)
	return pa, pb, ok1 && ok2
}

// ownStatusWrite tells an update that changed only the pod's status, and
// not its phase: the agent's own status writes coming back. Syncing again
// at once on those would replace what it just reported (ErrImagePull
// became ImagePullBackOff within milliseconds, so nobody ever saw it). A
// phase change still wakes the worker: a finished pod's sandbox is
// stopped on the sync that sees the final phase.
func ownStatusWrite(old, cur *corev1.Pod) bool {
	// Readiness gates are conditions others write; the pod's Ready
	// condition follows them.
	for _, g := range cur.Spec.ReadinessGates {
		if conditionStatus(old, g.ConditionType) != conditionStatus(cur, g.ConditionType) {
			return false
		}
	}
	return old.Status.Phase == cur.Status.Phase &&
		old.DeletionTimestamp.Equal(cur.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, cur.DeletionGracePeriodSeconds) &&
		equality.Semantic.DeepEqual(old.Labels, cur.Labels) &&
		equality.Semantic.DeepEqual(old.Annotations, cur.Annotations) &&
		equality.Semantic.DeepEqual(old.Spec, cur.Spec)
}

func conditionStatus(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// kick makes the worker of a pod sync it soon.
func (k *Kubelet) kick(uid types.UID, namespace, name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w, ok := k.workers[uid]
	if !ok {
		w = newWorker(k, uid, namespace, name)
		k.workers[uid] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run()
		}()
	}
	w.wake()
}

// forget drops a finished pod's worker.
func (k *Kubelet) forget(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.workers, uid)
	delete(k.seen, uid)
	delete(k.ips, uid)
}

// relistLoop lists the runtime every Relist period and wakes the workers
// of pods whose containers changed state, and cleans up sandboxes of pods
// the API no longer has.
func (k *Kubelet) relistLoop(ctx context.Context) {
	t := k.clock.NewTicker(k.cfg.Relist)
	defer t.Stop()
	for {
		if err := k.relist(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("listing the container runtime", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (k *Kubelet) relist(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sbs, err := k.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	cs, err := k.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return err
	}
	fp := map[types.UID]string{}
	meta := map[types.UID]*runtimeapi.PodSandboxMetadata{}
	for _, sb := range sbs.Items {
		uid := types.UID(sb.GetMetadata().GetUid())
		fp[uid] += fmt.Sprintf("s%s:%d;", sb.Id, sb.State)
		meta[uid] = sb.Metadata
	}
	for _, c := range cs.Containers {
		uid := types.UID(c.Labels[labelPodUID])
		if uid == "" {
			continue
		}
		fp[uid] += fmt.Sprintf("c%s:%d;", c.Id, c.State)
	}
	k.mu.Lock()
	var changed []types.UID
	for uid, f := range fp {
		if k.seen[uid] != f {
			k.seen[uid] = f
			changed = append(changed, uid)
		}
	}
	k.mu.Unlock()
	for _, uid := range changed {
		m := meta[uid]
		k.kick(uid, m.GetNamespace(), m.GetName())
	}
	return nil
}

// errPodGone is returned by a sync that found nothing left to do.
var errPodGone = errors.New("pod gone")
