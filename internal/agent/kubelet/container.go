package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent/volume"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// envContext is what environment values may refer to.
type envContext struct {
	hostIP      string
	podIPs      []string
	allocatable corev1.ResourceList
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// containerHash identifies the parts of a container spec that require a
// new container when they change.
func containerHash(c *corev1.Container) string {
	b, _ := json.Marshal(struct {
		Image   string
		Command []string
		Args    []string
	}{c.Image, c.Command, c.Args})
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// cgroupParent places the pod under its QoS class, as the kubelet's
// cgroupfs layout does, under bosun's own root.
func cgroupParent(pod *corev1.Pod) string {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return "/bosun/pod" + string(pod.UID)
	case corev1.PodQOSBurstable:
		return "/bosun/burstable/pod" + string(pod.UID)
	}
	return "/bosun/besteffort/pod" + string(pod.UID)
}

// qosClass is the pod's QoS class: Guaranteed when every container has
// equal cpu and memory requests and limits, BestEffort when none has any,
// Burstable otherwise.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	any, guaranteed := false, true
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// sandboxConfig is the CRI description of a pod's sandbox.
func (k *Kubelet) sandboxConfig(pod *corev1.Pod, attempt uint32) *runtimeapi.PodSandboxConfig {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	if pod.Spec.HostNetwork {
		hostname, _ = os.Hostname()
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: k.LogDir(pod),
		Labels:       map[string]string{labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID)},
		Annotations:  map[string]string{},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent(pod),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(pod),
			},
			Sysctls: map[string]string{},
		},
		DnsConfig: k.dnsConfig(pod),
	}
	for key, v := range pod.Labels {
		if _, taken := cfg.Labels[key]; !taken {
			cfg.Labels[key] = v
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		s := cfg.Linux.SecurityContext
		if sc.RunAsUser != nil {
			s.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
		}
		if sc.RunAsGroup != nil {
			s.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
		}
		s.SupplementalGroups = sc.SupplementalGroups
		for _, sy := range sc.Sysctls {
			cfg.Linux.Sysctls[sy.Name] = sy.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return cfg
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	o := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		o.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		o.Pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		o.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		o.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return o
}

// dnsConfig is the pod's resolv.conf per its dnsPolicy, as the kubelet
// writes it: ClusterFirst names the cluster DNS, searches the pod's
// namespace, the services and the cluster domain before the host's search
// domains, with ndots:5 so that short names try those first. With no
// cluster DNS configured, ClusterFirst falls back to the host's resolver.
// A pod's dnsConfig adds to the result; options of the same name replace.
func (k *Kubelet) dnsConfig(pod *corev1.Pod) *runtimeapi.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	cluster := len(k.cfg.ClusterDNS) > 0 &&
		(policy == corev1.DNSClusterFirstWithHostNet || policy == corev1.DNSClusterFirst && !pod.Spec.HostNetwork)
	var cfg *runtimeapi.DNSConfig
	switch {
	case policy == corev1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case cluster:
		cfg = &runtimeapi.DNSConfig{Servers: k.cfg.ClusterDNS, Options: []string{"ndots:5"}}
		if d := strings.TrimSuffix(k.cfg.ClusterDomain, "."); d != "" {
			cfg.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		}
		cfg.Searches = appendNew(cfg.Searches, hostResolvConf().Searches...)
	case pod.Spec.DNSConfig == nil:
		// The host's resolv.conf: nil makes the runtime copy it.
		return nil
	default:
		cfg = hostResolvConf()
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = appendNew(cfg.Servers, dc.Nameservers...)
		cfg.Searches = appendNew(cfg.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = slices.DeleteFunc(cfg.Options, func(have string) bool {
				name, _, _ := strings.Cut(have, ":")
				return name == o.Name
			})
			cfg.Options = append(cfg.Options, opt)
		}
	}
	// The resolver reads no more than these; the kubelet trims likewise
	// rather than failing the pod.
	if len(cfg.Servers) > 3 {
		cfg.Servers = cfg.Servers[:3]
	}
	if len(cfg.Searches) > 32 {
		cfg.Searches = cfg.Searches[:32]
	}
	return cfg
}

// appendNew appends the values not already in list, keeping its order.
func appendNew(list []string, values ...string) []string {
	out := slices.Clone(list)
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// hostResolvConf reads the host's resolver configuration.
func hostResolvConf() *runtimeapi.DNSConfig {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return &runtimeapi.DNSConfig{}
	}
	return parseResolvConf(string(b))
}

// parseResolvConf reads nameservers, search domains and options from a
// resolv.conf. The last search line wins, as in the resolver; "." and
// trailing dots are dropped so a domain is not searched twice.
func parseResolvConf(text string) *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search":
			cfg.Searches = nil
			for _, d := range f[1:] {
				if d = strings.TrimRight(d, "."); d != "" {
					cfg.Searches = append(cfg.Searches, d)
				}
			}
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg
}

// createSandbox runs a new sandbox for the pod.
func (k *Kubelet) createSandbox(ctx context.Context, pod *corev1.Pod, rp *runtimePod) (*runtimeapi.PodSandbox, error) {
	attempt := uint32(0)
	if len(rp.sandboxes) > 0 {
		attempt = rp.sandboxes[0].Metadata.GetAttempt() + 1
	}
	cfg := k.sandboxConfig(pod, attempt)
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return nil, err
	}
	resp, err := k.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandbox{Id: resp.PodSandboxId, Metadata: cfg.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY}, nil
}

// startContainer pulls the image if needed, creates and starts the
// container, and runs its postStart hook.
func (k *Kubelet) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, sandboxID string, sbConfig *runtimeapi.PodSandboxConfig, env envContext, init bool) error {
	key := backoffKey(pod.UID, c.Name)
	imageRef, err := k.ensureImage(ctx, pod, c)
	if err != nil {
		return err
	}
	cfg, err := k.containerConfig(ctx, pod, c, attempt, imageRef, env, init)
	if err == nil {
		err = k.verifyNonRoot(ctx, pod, c, imageRef)
	}
	if err != nil {
		k.setLastErr(key, "CreateContainerConfigError", err.Error())
		k.events.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	created, err := k.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: cfg, SandboxConfig: sbConfig})
	if err != nil {
		k.setLastErr(key, "CreateContainerError", err.Error())
		k.events.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	k.events.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if _, err := k.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		k.setLastErr(key, "RunContainerError", err.Error())
		k.events.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	k.clearLastErr(key)
	k.events.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	k.probes.start(pod, c, created.ContainerId)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if err := k.probes.hook(ctx, pod, c, created.ContainerId, c.Lifecycle.PostStart); err != nil {
			k.events.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			k.stopContainer(ctx, pod, nil, created.ContainerId, gracePeriod(pod))
			return fmt.Errorf("postStart hook of %s: %w", c.Name, err)
		}
	}
	return nil
}

// ensureImage makes the container's image present per its pull policy
// and returns the runtime's reference to it.
func (k *Kubelet) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (string, error) {
	key := backoffKey(pod.UID, c.Name)
	spec := &runtimeapi.ImageSpec{Image: c.Image}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if policy != corev1.PullAlways {
		st, err := k.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
		if err == nil && st.Image != nil {
			k.events.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return st.Image.Id, nil
		}
		if policy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			k.setLastErr(key, "ErrImageNeverPull", msg)
			k.events.Event(pod, corev1.EventTypeWarning, "ErrImageNeverPull", msg)
			return "", errors.New(msg)
		}
	}
	pullKey := key + "/image"
	if wait := k.backoff.wait(pullKey, k.backoff.last(pullKey), k.clock.Now()); wait > 0 {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		k.setLastErr(key, "ImagePullBackOff", msg)
		k.events.Event(pod, corev1.EventTypeNormal, "BackOff", msg)
		return "", errors.New(msg)
	}
	k.events.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := k.clock.Now()
	resp, err := k.images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
	if err != nil {
		k.backoff.next(pullKey, k.clock.Now())
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, status.Convert(err).Message())
		k.setLastErr(key, "ErrImagePull", msg)
		k.events.Event(pod, corev1.EventTypeWarning, "Failed", msg)
		return "", errors.New(msg)
	}
	k.backoff.reset(pullKey)
	k.events.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, k.clock.Since(start).Round(time.Millisecond))
	return resp.ImageRef, nil
}

// containerConfig is the CRI description of one container.
func (k *Kubelet) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, imageRef string, env envContext, init bool) (*runtimeapi.ContainerConfig, error) {
	envs, warnings, err := volume.Env(ctx, k.sources, pod, c, volume.NodeInfo{HostIP: env.hostIP, PodIPs: env.podIPs, Allocatable: env.allocatable, ServiceEnv: k.serviceEnv(pod)})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		k.events.Eventf(pod, corev1.EventTypeWarning, "InvalidEnvironmentVariableNames", "%s", w)
	}
	mounts, err := k.volumes.Mounts(pod, c, envs)
	if err != nil {
		return nil, err
	}
	expand := expander(envs)
	cmd := make([]string, len(c.Command))
	for i, s := range c.Command {
		cmd[i] = expand(s)
	}
	args := make([]string, len(c.Args))
	for i, s := range c.Args {
		args[i] = expand(s)
	}
	if p := c.TerminationMessagePath; p != "" {
		// The container writes its termination message here; the file
		// lives with the pod so it survives the container.
		dir := filepath.Join(k.cfg.RootDir, "pods", string(pod.UID), "containers", c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		host := filepath.Join(dir, "termination-log-"+attemptString(attempt))
		if err := os.WriteFile(host, nil, 0o666); err != nil {
			return nil, err
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: p, HostPath: host})
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    cmd,
		Args:       args,
		WorkingDir: c.WorkingDir,
		Envs:       envs,
		Mounts:     mounts,
		LogPath:    filepath.Join(c.Name, attemptString(attempt)+".log"),
		Stdin:      c.Stdin,
		StdinOnce:  c.StdinOnce,
		Tty:        c.TTY,
		Labels: map[string]string{
			labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID), labelContainerName: c.Name,
		},
		Annotations: map[string]string{annotationHash: containerHash(c)},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       k.resources(pod, c),
			SecurityContext: securityContext(pod, c),
		},
	}
	if init {
		cfg.Annotations[annotationInit] = "true"
	}
	if err := os.MkdirAll(filepath.Join(k.LogDir(pod), c.Name), 0o755); err != nil {
		return nil, err
	}
	return cfg, nil
}

// verifyNonRoot refuses to start a container that must not run as root
// (runAsNonRoot) when its user — from the security context, else the
// image — is root or cannot be known, with the kubelet's messages.
func (k *Kubelet) verifyNonRoot(ctx context.Context, pod *corev1.Pod, c *corev1.Container, imageRef string) error {
	nonRoot, uid := false, (*int64)(nil)
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsNonRoot != nil {
			nonRoot = *psc.RunAsNonRoot
		}
		uid = psc.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
	}
	if !nonRoot {
		return nil
	}
	where := fmt.Sprintf("(pod: %q, container: %s)", podDesc(pod), c.Name)
	if uid != nil {
		if *uid == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy %s", where)
		}
		return nil
	}
	st, err := k.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: imageRef}})
	if err != nil || st.Image == nil {
		return fmt.Errorf("container has runAsNonRoot and the image's user cannot be read %s", where)
	}
	switch {
	case st.Image.Uid != nil && st.Image.Uid.Value == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
	case st.Image.Uid == nil && st.Image.Username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root %s", st.Image.Username, where)
	case st.Image.Uid == nil:
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
	}
	return nil
}

// expander expands $(VAR) references to the container's environment, as
// Kubernetes does for command and args.
func expander(envs []*runtimeapi.KeyValue) func(string) string {
	vals := make(map[string]string, len(envs))
	for _, e := range envs {
		vals[e.Key] = string(e.Value)
	}
	return func(s string) string {
		return volume.Expand(s, func(name string) (string, bool) {
			v, ok := vals[name]
			return v, ok
		})
	}
}

// CPU and memory to CRI as the kubelet maps them.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	quotaPeriod   = 100000
	minQuotaMicro = 1000
)

func (k *Kubelet) resources(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	cpuReq, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	cpuLim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq, hasReq = cpuLim, true
	}
	r.CpuShares = minShares
	if hasReq {
		r.CpuShares = max(minShares, cpuReq.MilliValue()*sharesPerCPU/1000)
	}
	if hasLim {
		r.CpuPeriod = quotaPeriod
		r.CpuQuota = max(minQuotaMicro, cpuLim.MilliValue()*quotaPeriod/1000)
	}
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = m.Value()
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, k.memoryCapacity())
	return r
}

func (k *Kubelet) memoryCapacity() int64 {
	if n := k.getNode(); n != nil {
		if m, ok := n.Status.Capacity[corev1.ResourceMemory]; ok {
			return m.Value()
		}
	}
	return 0
}

// oomScoreAdj follows the kubelet's policy: guaranteed pods are killed
// last, best-effort first, burstable in proportion to their request.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, capacity int64) int64 {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests[corev1.ResourceMemory]
	if capacity <= 0 {
		return 999
	}
	adj := 1000 - (1000*req.Value())/capacity
	return min(max(adj, 3), 999)
}

func securityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	s := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			s.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			s.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		s.SupplementalGroups = psc.SupplementalGroups
	}
	sc := c.SecurityContext
	if sc == nil {
		return s
	}
	if sc.RunAsUser != nil {
		s.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	}
	if sc.RunAsGroup != nil {
		s.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
	}
	if sc.Privileged != nil {
		s.Privileged = *sc.Privileged
	}
	if sc.ReadOnlyRootFilesystem != nil {
		s.ReadonlyRootfs = *sc.ReadOnlyRootFilesystem
	}
	if sc.AllowPrivilegeEscalation != nil {
		s.NoNewPrivs = !*sc.AllowPrivilegeEscalation
	}
	if caps := sc.Capabilities; caps != nil {
		s.Capabilities = &runtimeapi.Capability{}
		for _, c := range caps.Add {
			s.Capabilities.AddCapabilities = append(s.Capabilities.AddCapabilities, string(c))
		}
		for _, c := range caps.Drop {
			s.Capabilities.DropCapabilities = append(s.Capabilities.DropCapabilities, string(c))
		}
	}
	if s.Privileged {
		s.NamespaceOptions = namespaceOptions(pod)
	} else {
		// Mask /proc and /sys paths as the kubelet's default proc mount does.
		s.MaskedPaths = defaultMaskedPaths
		s.ReadonlyPaths = defaultReadonlyPaths
	}
	return s
}

var (
	defaultMaskedPaths   = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// stopContainer runs the preStop hook (when the spec is known), then asks
// the runtime to stop the container: SIGTERM, SIGKILL after the rest of
// grace seconds.
func (k *Kubelet) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64) error {
	start := k.clock.Now()
	if pod != nil && c != nil {
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
			hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
			if err := k.probes.hook(hctx, pod, c, id, c.Lifecycle.PreStop); err != nil {
				k.events.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
			cancel()
			grace -= int64(k.clock.Since(start) / time.Second)
		}
	}
	// Kubernetes gives at least two seconds after a preStop hook.
	if grace < 2 && pod != nil && c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		grace = 2
	}
	sctx, cancel := context.WithTimeout(ctx, time.Duration(max(grace, 0))*time.Second+30*time.Second)
	defer cancel()
	_, err := k.rt.StopContainer(sctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: max(grace, 0)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	if pod != nil && c != nil {
		k.probes.stop(pod.UID, c.Name)
	}
	return nil
}

func (k *Kubelet) setLastErr(key, reason, msg string) {
	k.mu.Lock()
	k.lastErr[key] = containerErr{reason: reason, message: msg}
	k.mu.Unlock()
}

func (k *Kubelet) clearLastErr(key string) {
	k.mu.Lock()
	delete(k.lastErr, key)
	k.mu.Unlock()
}

func (k *Kubelet) getLastErr(key string) (containerErr, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.lastErr[key]
	return e, ok
}
