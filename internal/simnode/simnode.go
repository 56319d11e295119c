// Package simnode runs simulated nodes for scale work: it registers Nodes,
// keeps their Leases and Ready condition fresh as a kubelet would, marks
// pods bound to them Running and Ready without starting anything, and
// finishes the deletion of those pods. Stopping it stops the heartbeats,
// which is how a scale test simulates node failure.
//
// A pod annotated sim.bosun.sh/exit-after with a Go duration ("200ms",
// "5s") has its containers exit that long after they started, with the
// code in sim.bosun.sh/exit-code (default 0). What follows is the
// restart policy's: with Never, and with OnFailure after exit code 0, the
// pod ends Succeeded (code 0) or Failed; with Always, and with OnFailure
// after a non-zero code, the containers restart (restartCount goes up)
// and run for the same time again. Without the annotation pods run until
// deleted. Timing follows Config.Clock.
package simnode

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// LeaseNamespace holds the node heartbeat leases.
const LeaseNamespace = "kube-node-lease"

// leaseDurationSeconds is what a kubelet writes in its lease.
const leaseDurationSeconds = 40

// slices spreads lease renewals over the heartbeat period so that 5,000
// nodes do not all write in the same instant.
const slices = 10

// Config describes the simulated nodes.
type Config struct {
	Count      int
	CPU        resource.Quantity
	Memory     resource.Quantity
	Pods       int
	NamePrefix string
	// Zones, when positive, spreads the nodes round-robin over that many
	// zones (label topology.kubernetes.io/zone=zone-N).
	Zones int
	// Heartbeat is how often each node's lease is renewed.
	Heartbeat time.Duration
	// StatusInterval is how often the Ready condition's heartbeat is
	// posted when nothing changed.
	StatusInterval time.Duration
	// Workers renew leases and update pods; zero picks one per 100
	// nodes, at least 16 and at most 64.
	Workers int
	Clock   clock.WithTicker
	Log     *slog.Logger
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		Count:          1,
		CPU:            resource.MustParse("32"),
		Memory:         resource.MustParse("256Gi"),
		Pods:           110,
		NamePrefix:     "sim-",
		Heartbeat:      10 * time.Second,
		StatusInterval: time.Minute,
	}
}

// Sim is a set of simulated nodes.
type Sim struct {
	client kubernetes.Interface
	cfg    Config
	nodes  map[string]*simNode
	order  []*simNode
}

type simNode struct {
	index int
	name  string
	// hostIP is the node's InternalIP.
	hostIP string
	cidr   netip.Prefix

	mu    sync.Mutex
	lease *coordinationv1.Lease
	ips   map[types.UID]string
	used  map[string]bool
	// started is when each pod's containers last started, more precise
	// than the whole seconds of the status.
	started map[types.UID]time.Time
}

// New returns simulated nodes that talk to the API through client, which
// should allow a high QPS: every node writes a lease each heartbeat.
func New(client kubernetes.Interface, cfg Config) (*Sim, error) {
	if cfg.Count < 1 {
		return nil, fmt.Errorf("count %d: must be at least 1", cfg.Count)
	}
	if cfg.Heartbeat <= 0 {
		return nil, fmt.Errorf("heartbeat %s: must be positive", cfg.Heartbeat)
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = min(max(cfg.Count/100, 16), 64)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Sim{client: client, cfg: cfg, nodes: make(map[string]*simNode, cfg.Count)}
	for i := range cfg.Count {
		n := &simNode{index: i, name: NodeName(cfg.NamePrefix, i), hostIP: NodeIP(i).String(), cidr: PodCIDR(i),
			ips: map[types.UID]string{}, used: map[string]bool{}, started: map[types.UID]time.Time{}}
		s.nodes[n.name] = n
		s.order = append(s.order, n)
	}
	return s, nil
}

// NodeName names the i-th simulated node.
func NodeName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// PodCIDR is the i-th node's pod range: 10.244.i.0/24, carrying into the
// next octets (wrapping inside 10.0.0.0/8) past 255 nodes.
func PodCIDR(i int) netip.Prefix {
	v := (uint32(244)<<16 + uint32(i)<<8) & 0xffffff
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 16), byte(v >> 8), 0}), 24)
}

// NodeIP is the i-th node's InternalIP, from 172.16.0.0/12.
func NodeIP(i int) netip.Addr {
	v := uint32(172)<<24 | uint32(16)<<16 + uint32(i+1)&0xfffff
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NodeObject is the Node a simulated node registers.
func NodeObject(cfg Config, i int, now time.Time) *corev1.Node {
	name := NodeName(cfg.NamePrefix, i)
	cidr := PodCIDR(i).String()
	res := corev1.ResourceList{
		corev1.ResourceCPU:              cfg.CPU,
		corev1.ResourceMemory:           cfg.Memory,
		corev1.ResourcePods:             *resource.NewQuantity(int64(cfg.Pods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	labels := map[string]string{
		corev1.LabelHostname:   name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
		"type":                 "sim",
	}
	if cfg.Zones > 0 {
		labels[corev1.LabelTopologyZone] = "zone-" + strconv.Itoa(i%cfg.Zones)
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Conditions:  Conditions(nil, now),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: NodeIP(i).String()},
				{Type: corev1.NodeHostName, Address: name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem: "linux", Architecture: "amd64",
				KubeletVersion: "v1.37.2-bosun-sim", ContainerRuntimeVersion: "sim://0",
			},
			Phase: corev1.NodeRunning,
		},
	}
}

// Conditions returns a healthy node's conditions with their heartbeat at
// now, keeping each transition time from prev when the status is the same.
func Conditions(prev []corev1.NodeCondition, now time.Time) []corev1.NodeCondition {
	want := []struct {
		t               corev1.NodeConditionType
		s               corev1.ConditionStatus
		reason, message string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
	}
	t := metav1.NewTime(now)
	out := make([]corev1.NodeCondition, 0, len(want))
	for _, w := range want {
		c := corev1.NodeCondition{Type: w.t, Status: w.s, Reason: w.reason, Message: w.message, LastHeartbeatTime: t, LastTransitionTime: t}
		for _, p := range prev {
			if p.Type == w.t && p.Status == w.s {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

// NeedsStatus tells whether a node's status must be posted now: its Ready
// condition is missing or not True (someone else marked it), or its
// heartbeat is older than interval.
func NeedsStatus(node *corev1.Node, now time.Time, interval time.Duration) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status != corev1.ConditionTrue || now.Sub(c.LastHeartbeatTime.Time) >= interval
		}
	}
	return true
}

// PodStatus is the status of a pod running on node, given its IP.
func PodStatus(pod *corev1.Pod, hostIP, podIP string, now time.Time) corev1.PodStatus {
	t := metav1.NewTime(now)
	st := pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.HostIP = hostIP
	st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	st.PodIP = podIP
	st.PodIPs = []corev1.PodIP{{IP: podIP}}
	if st.StartTime == nil {
		st.StartTime = &t
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		found := false
		for i := range st.Conditions {
			c := &st.Conditions[i]
			if c.Type != ct {
				continue
			}
			found = true
			if c.Status != corev1.ConditionTrue {
				c.Status, c.LastTransitionTime, c.Reason, c.Message = corev1.ConditionTrue, t, "", ""
			}
		}
		if !found {
			st.Conditions = append(st.Conditions, corev1.PodCondition{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: t})
		}
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     "sim://" + c.Image,
			ContainerID: "sim://" + string(pod.UID) + "/" + c.Name,
			Ready:       true,
			Started:     new(true),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}},
		})
	}
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     "sim://" + c.Image,
			ContainerID: "sim://" + string(pod.UID) + "/" + c.Name,
			Ready:       true,
			Started:     new(false),
			State:       corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: *st.StartTime, FinishedAt: *st.StartTime}},
		})
	}
	return *st
}

// Annotations that make a simulated pod's containers exit; see the
// package comment.
const (
	ExitAfterAnnotation = "sim.bosun.sh/exit-after"
	ExitCodeAnnotation  = "sim.bosun.sh/exit-code"
)

// exitPlan reads a pod's exit annotations. Unreadable values count as
// absent: the pod then runs until deleted.
func exitPlan(pod *corev1.Pod) (after time.Duration, code int32, ok bool) {
	v, ok := pod.Annotations[ExitAfterAnnotation]
	if !ok {
		return 0, 0, false
	}
	after, err := time.ParseDuration(v)
	if err != nil || after < 0 {
		return 0, 0, false
	}
	if c, set := pod.Annotations[ExitCodeAnnotation]; set {
		n, err := strconv.ParseInt(c, 10, 32)
		if err != nil {
			return 0, 0, false
		}
		code = int32(n)
	}
	return after, code, true
}

// Exit returns the status of a running pod whose containers started at
// started, once its exit-after time has passed at now. due is false when
// the pod has no exit annotation, or when it is not yet time; wait then
// says how long is left (zero: never).
func Exit(pod *corev1.Pod, started, now time.Time) (st corev1.PodStatus, wait time.Duration, due bool) {
	after, code, ok := exitPlan(pod)
	if !ok || pod.Status.Phase != corev1.PodRunning {
		return pod.Status, 0, false
	}
	if left := started.Add(after).Sub(now); left > 0 {
		return pod.Status, left, false
	}
	policy := pod.Spec.RestartPolicy
	restart := policy == corev1.RestartPolicyAlways || policy == "" || (policy == corev1.RestartPolicyOnFailure && code != 0)
	t := metav1.NewTime(now)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	out := pod.Status.DeepCopy()
	for i := range out.ContainerStatuses {
		cs := &out.ContainerStatuses[i]
		term := &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: t, ContainerID: cs.ContainerID}
		if r := cs.State.Running; r != nil {
			term.StartedAt = r.StartedAt
		}
		if restart {
			cs.LastTerminationState = corev1.ContainerState{Terminated: term}
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}}
			cs.RestartCount++
			continue
		}
		cs.State = corev1.ContainerState{Terminated: term}
		cs.Ready = false
		cs.Started = new(false)
	}
	if restart {
		return *out, 0, true
	}
	out.Phase = corev1.PodSucceeded
	if code != 0 {
		out.Phase = corev1.PodFailed
	}
	for i := range out.Conditions {
		c := &out.Conditions[i]
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.Reason, c.LastTransitionTime = corev1.ConditionFalse, "PodCompleted", t
		}
	}
	return *out, 0, true
}

// Running tells whether a pod already shows as running and ready.
func Running(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// allocate returns the pod's IP on n, reusing one it already has.
func (n *simNode) allocate(pod *corev1.Pod) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[pod.UID]; ok {
		return ip, nil
	}
	if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil && n.cidr.Contains(a) {
		n.ips[pod.UID], n.used[a.String()] = a.String(), true
		return a.String(), nil
	}
	a := n.cidr.Addr().Next().Next() // .0 is the network, .1 the gateway
	for ; n.cidr.Contains(a); a = a.Next() {
		if s := a.String(); !n.used[s] && a.As4()[3] != 255 {
			n.ips[pod.UID], n.used[s] = s, true
			return s, nil
		}
	}
	return "", fmt.Errorf("node %s: pod range %s exhausted", n.name, n.cidr)
}

// startedAt is when pod's containers last started.
func (n *simNode) startedAt(pod *corev1.Pod) time.Time {
	n.mu.Lock()
	t, ok := n.started[pod.UID]
	n.mu.Unlock()
	if ok {
		return t
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil {
			return r.StartedAt.Time
		}
	}
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return time.Time{}
}

func (n *simNode) setStarted(uid types.UID, t time.Time) {
	n.mu.Lock()
	n.started[uid] = t
	n.mu.Unlock()
}

func (n *simNode) release(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.started, uid)
	if ip, ok := n.ips[uid]; ok {
		delete(n.used, ip)
		delete(n.ips, uid)
	}
}

// Run registers the nodes and keeps them alive until ctx ends. It returns
// ctx's error, or the first registration error.
func (s *Sim) Run(ctx context.Context) error {
	if err := s.register(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	}))
	podInf := factory.Core().V1().Pods()
	nodeFactory := informers.NewSharedInformerFactory(s.client, 0)
	nodeInf := nodeFactory.Core().V1().Nodes()

	pods := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "simnode-pods", Clock: s.cfg.Clock})
	defer pods.ShutDown()
	enqueue := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				pod, _ = d.Obj.(*corev1.Pod)
			}
		}
		if pod == nil {
			return
		}
		if _, ok := s.nodes[pod.Spec.NodeName]; ok {
			if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
				pods.Add(key)
			}
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					pod, _ = d.Obj.(*corev1.Pod)
				}
			}
			if pod != nil {
				if n, ok := s.nodes[pod.Spec.NodeName]; ok {
					n.release(pod.UID)
				}
			}
		},
	}); err != nil {
		return err
	}
	nodeInf.Informer() // registers it
	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInf.Informer().HasSynced, nodeInf.Informer().HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		pods.ShutDown()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	work := make(chan *simNode)
	for range s.cfg.Workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := range work {
				s.heartbeat(ctx, n, nodeInf.Lister())
			}
		}()
		go func() {
			defer wg.Done()
			for s.processPod(ctx, pods, podInf.Lister()) {
			}
		}()
	}
	defer close(work)

	// Renew one slice of the nodes each tick, so every node is renewed
	// once per heartbeat and the writes are spread evenly.
	ticker := s.cfg.Clock.NewTicker(s.cfg.Heartbeat / slices)
	defer ticker.Stop()
	for tick := 0; ; tick = (tick + 1) % slices {
		for i := tick; i < len(s.order); i += slices {
			select {
			case work <- s.order[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-ticker.C():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// register creates the nodes and their leases, several at a time. A node
// that already exists (a restarted simulation) is kept and made Ready.
func (s *Sim) register(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(s.order))
	sem := make(chan struct{}, max(s.cfg.Workers, 32))
	for _, n := range s.order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.registerNode(ctx, n); err != nil {
				errs <- fmt.Errorf("registering node %s: %w", n.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *Sim) registerNode(ctx context.Context, n *simNode) error {
	now := s.cfg.Clock.Now()
	nodes := s.client.CoreV1().Nodes()
	node, err := nodes.Create(ctx, NodeObject(s.cfg, n.index, now), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err == nil {
			node, err = s.postStatus(ctx, node, now)
		}
	}
	if err != nil {
		return err
	}
	return s.renewLease(ctx, n, node)
}

// postStatus patches the node's conditions with a fresh heartbeat.
func (s *Sim) postStatus(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": Conditions(node.Status.Conditions, now)}})
	if err != nil {
		return nil, err
	}
	return s.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
}

// heartbeat renews n's lease and, when due, its Ready condition.
func (s *Sim) heartbeat(ctx context.Context, n *simNode, nodes corelisters.NodeLister) {
	node, err := nodes.Get(n.name)
	if err == nil && NeedsStatus(node, s.cfg.Clock.Now(), s.cfg.StatusInterval) {
		if _, err := s.postStatus(ctx, node, s.cfg.Clock.Now()); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("posting node status", "node", n.name, "err", err)
		}
	}
	if err != nil {
		node = nil
	}
	if err := s.renewLease(ctx, n, node); err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("renewing node lease", "node", n.name, "err", err)
	}
}

// renewLease writes n's lease with renewTime now, creating it if needed.
// node, when known, owns the lease so it goes away with the node.
func (s *Sim) renewLease(ctx context.Context, n *simNode, node *corev1.Node) error {
	n.mu.Lock()
	lease := n.lease
	n.mu.Unlock()
	leases := s.client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(s.cfg.Clock.Now())
	var err error
	if lease != nil {
		l := lease.DeepCopy()
		l.Spec.RenewTime = &now
		lease, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			n.setLease(lease)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	lease, err = leases.Get(ctx, n.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease, err = leases.Create(ctx, LeaseObject(n.name, node, now.Time), metav1.CreateOptions{})
	case err == nil:
		l := lease.DeepCopy()
		l.Spec.RenewTime = &now
		l.Spec.HolderIdentity = new(n.name)
		l.Spec.LeaseDurationSeconds = new(int32(leaseDurationSeconds))
		lease, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	n.setLease(lease)
	return nil
}

func (n *simNode) setLease(l *coordinationv1.Lease) {
	n.mu.Lock()
	n.lease = l
	n.mu.Unlock()
}

// LeaseObject is the heartbeat lease of a node, renewed at now.
func LeaseObject(name string, node *corev1.Node, now time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(now)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       new(name),
			LeaseDurationSeconds: new(int32(leaseDurationSeconds)),
			RenewTime:            &t,
		},
	}
	if node != nil && node.UID != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	}
	return l
}

// processPod handles one pod key; it returns false once the queue is shut.
func (s *Sim) processPod(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], pods corelisters.PodLister) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	after, err := s.syncPod(ctx, key, pods)
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			s.cfg.Log.Debug("pod sync", "pod", key, "err", err)
		}
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	if after > 0 {
		q.AddAfter(key, after)
	}
	return true
}

// syncPod moves one pod along; a positive duration asks to look at it
// again that much later.
func (s *Sim) syncPod(ctx context.Context, key string, lister corelisters.PodLister) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, ok := s.nodes[pod.Spec.NodeName]
	if !ok {
		return 0, nil
	}
	err = s.syncNodePod(ctx, key, n, pod)
	if err != nil || pod.DeletionTimestamp != nil || !Running(pod) {
		return 0, err
	}
	return s.exitPod(ctx, n, pod)
}

// exitPod ends or restarts the containers of a running pod whose
// exit-after time has come, or says how long until it does.
func (s *Sim) exitPod(ctx context.Context, n *simNode, pod *corev1.Pod) (time.Duration, error) {
	now := s.cfg.Clock.Now()
	st, wait, due := Exit(pod, n.startedAt(pod), now)
	if !due {
		return wait, nil
	}
	p := pod.DeepCopy()
	p.Status = st
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if st.Phase == corev1.PodRunning {
		n.setStarted(pod.UID, now)
	}
	return 0, nil
}

func (s *Sim) syncNodePod(ctx context.Context, key string, n *simNode, pod *corev1.Pod) error {
	ns, name := pod.Namespace, pod.Name
	pods := s.client.CoreV1().Pods(ns)
	if pod.DeletionTimestamp != nil {
		// Nothing runs, so the pod stops at once.
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0)), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			err = nil // gone, or a new pod under the same name
		}
		if err == nil {
			n.release(pod.UID)
		}
		return err
	}
	if Running(pod) || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	ip, err := n.allocate(pod)
	if err != nil {
		return err
	}
	p := pod.DeepCopy()
	now := s.cfg.Clock.Now()
	p.Status = PodStatus(pod, n.hostIP, ip, now)
	n.setStarted(pod.UID, now)
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod %s: %w", key, err)
	}
	return nil
}
