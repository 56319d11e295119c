package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// leaseNamespace holds the node heartbeat leases.
const leaseNamespace = "kube-node-lease"

// maxPods is the kubelet's default pod capacity.
const maxPods = 110

// nodeObject describes this machine as a Node.
func (k *Kubelet) nodeObject(ctx context.Context) (*corev1.Node, error) {
	capacity, err := k.capacity()
	if err != nil {
		return nil, err
	}
	info, err := k.systemInfo(ctx)
	if err != nil {
		return nil, err
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: k.cfg.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:   k.cfg.NodeName,
				corev1.LabelOSStable:   runtime.GOOS,
				corev1.LabelArchStable: runtime.GOARCH,
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses:   k.addresses(),
			NodeInfo:    info,
			DaemonEndpoints: corev1.NodeDaemonEndpoints{
				KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.cfg.Port)},
			},
			Phase: corev1.NodeRunning,
		},
	}
	for key, v := range k.cfg.Labels {
		n.Labels[key] = v
	}
	n.Status.Conditions = k.conditions(nil)
	return n, nil
}

func (k *Kubelet) addresses() []corev1.NodeAddress {
	hostname, _ := os.Hostname()
	if hostname == "" {
		hostname = k.cfg.NodeName
	}
	return []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP},
		{Type: corev1.NodeHostName, Address: hostname},
	}
}

// capacity reads the machine's CPUs, memory and the data directory's
// file system size.
func (k *Kubelet) capacity() (corev1.ResourceList, error) {
	mem, err := memTotal()
	if err != nil {
		return nil, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(k.cfg.RootDir, &fs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", k.cfg.RootDir, err)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI),
	}, nil
}

// memTotal and memAvailable read /proc/meminfo.
func memTotal() (int64, error)     { return meminfo("MemTotal:") }
func memAvailable() (int64, error) { return meminfo("MemAvailable:") }

func meminfo(key string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == key {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s", key)
}

func (k *Kubelet) systemInfo(ctx context.Context) (corev1.NodeSystemInfo, error) {
	v, err := k.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return corev1.NodeSystemInfo{}, fmt.Errorf("container runtime version: %w", err)
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	machineID, _ := os.ReadFile("/etc/machine-id")
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return corev1.NodeSystemInfo{
		MachineID:               strings.TrimSpace(string(machineID)),
		BootID:                  strings.TrimSpace(string(bootID)),
		KernelVersion:           unix.ByteSliceToString(uts.Release[:]),
		OSImage:                 osImage(),
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
		ContainerRuntimeVersion: v.RuntimeName + "://" + v.RuntimeVersion,
		KubeletVersion:          k.cfg.Version,
		KubeProxyVersion:        "",
	}, nil
}

// osImage is PRETTY_NAME from os-release.
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// conditions measures memory, disk and PID pressure and readiness, keeping
// each transition time from prev when the status is unchanged.
func (k *Kubelet) conditions(prev []corev1.NodeCondition) []corev1.NodeCondition {
	type cond struct {
		t               corev1.NodeConditionType
		bad             bool
		good, badReason string
		goodMsg, badMsg string
	}
	memLow, diskLow, pidLow := k.pressure()
	ready, notReadyMsg := k.runtimeReady()
	want := []cond{
		{corev1.NodeMemoryPressure, memLow, "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory", "kubelet has sufficient memory available", "kubelet has insufficient memory available"},
		{corev1.NodeDiskPressure, diskLow, "KubeletHasNoDiskPressure", "KubeletHasDiskPressure", "kubelet has no disk pressure", "kubelet has disk pressure"},
		{corev1.NodePIDPressure, pidLow, "KubeletHasSufficientPID", "KubeletHasInsufficientPID", "kubelet has sufficient PID available", "kubelet has insufficient PID available"},
	}
	now := metav1.NewTime(k.clock.Now())
	out := make([]corev1.NodeCondition, 0, 4)
	keep := func(c corev1.NodeCondition) corev1.NodeCondition {
		for _, p := range prev {
			if p.Type == c.Type && p.Status == c.Status {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		return c
	}
	for _, w := range want {
		c := corev1.NodeCondition{Type: w.t, Status: corev1.ConditionFalse, Reason: w.good, Message: w.goodMsg, LastHeartbeatTime: now, LastTransitionTime: now}
		if w.bad {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, w.badReason, w.badMsg
		}
		out = append(out, keep(c))
	}
	r := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	if !ready {
		r.Status, r.Reason, r.Message = corev1.ConditionFalse, "KubeletNotReady", notReadyMsg
	}
	return append(out, keep(r))
}

// Eviction thresholds the kubelet uses by default for its conditions.
const (
	memoryAvailableMin = 100 << 20
	diskAvailableRatio = 0.10
	pidAvailableRatio  = 0.05
)

// pressure reports the node's memory, disk and PID pressure.
func (k *Kubelet) pressure() (mem, disk, pid bool) {
	if avail, err := memAvailable(); err == nil {
		mem = avail < memoryAvailableMin
	}
	var fs unix.Statfs_t
	if unix.Statfs(k.cfg.RootDir, &fs) == nil && fs.Blocks > 0 {
		disk = float64(fs.Bavail)/float64(fs.Blocks) < diskAvailableRatio
	}
	if max, err := readInt("/proc/sys/kernel/pid_max"); err == nil && max > 0 {
		var si unix.Sysinfo_t
		if unix.Sysinfo(&si) == nil {
			pid = float64(max-int64(si.Procs))/float64(max) < pidAvailableRatio
		}
	}
	return mem, disk, pid
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// runtimeReady asks the runtime whether it and its network are ready.
func (k *Kubelet) runtimeReady() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := k.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return false, "container runtime is down: " + err.Error()
	}
	var bad []string
	for _, c := range st.GetStatus().GetConditions() {
		if !c.Status {
			bad = append(bad, fmt.Sprintf("%s=false reason:%s message:%s", c.Type, c.Reason, c.Message))
		}
	}
	if len(bad) > 0 {
		return false, "container runtime not ready: " + strings.Join(bad, ", ")
	}
	return true, ""
}

// register creates the Node or, when it exists (a restart), refreshes its
// status, keeping what others set (taints, pod range, labels).
func (k *Kubelet) register(ctx context.Context) (*corev1.Node, error) {
	want, err := k.nodeObject(ctx)
	if err != nil {
		return nil, err
	}
	nodes := k.client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		got, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			k.log.Info("registered node", "node", k.cfg.NodeName)
			return got, nil
		}
		if apierrors.IsAlreadyExists(err) {
			cur, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return k.postStatus(ctx, cur)
		}
		if attempt >= 30 || ctx.Err() != nil {
			return nil, fmt.Errorf("registering node %s: %w", k.cfg.NodeName, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// postStatus writes the node's measured status.
func (k *Kubelet) postStatus(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	n := node.DeepCopy()
	capacity, err := k.capacity()
	if err != nil {
		return nil, err
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity.DeepCopy()
	n.Status.Addresses = k.addresses()
	if info, err := k.systemInfo(ctx); err == nil {
		n.Status.NodeInfo = info
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.cfg.Port)
	n.Status.Conditions = k.conditions(node.Status.Conditions)
	n.Status.Images = nil
	return k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
}

// heartbeat renews the node's lease every interval and posts its status
// when a condition changed or every statusInterval, until ctx ends.
func (k *Kubelet) heartbeat(ctx context.Context) {
	t := k.clock.NewTicker(k.cfg.Heartbeat)
	defer t.Stop()
	var lastStatus time.Time
	for {
		if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("renewing node lease", "err", err)
		}
		node, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			k.setNode(node)
			if k.clock.Since(lastStatus) >= statusInterval || conditionsChanged(node.Status.Conditions, k.conditions(node.Status.Conditions)) {
				if n, err := k.postStatus(ctx, node); err != nil {
					if ctx.Err() == nil {
						k.log.Warn("posting node status", "err", err)
					}
				} else {
					k.setNode(n)
					lastStatus = k.clock.Now()
				}
			}
		} else if apierrors.IsNotFound(err) {
			// Someone deleted the Node: register it again, as the kubelet does.
			if n, err := k.register(ctx); err == nil {
				k.setNode(n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// statusInterval is how often an unchanged node status is posted.
const statusInterval = time.Minute

func conditionsChanged(a, b []corev1.NodeCondition) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason {
			return true
		}
	}
	return false
}

func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(k.clock.Now())
	l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: leaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(k.cfg.NodeName),
				LeaseDurationSeconds: ptr.To[int32](40),
				RenewTime:            &now,
			},
		}
		if node := k.getNode(); node != nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(k.cfg.NodeName)
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}
