package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// Labels the kubelet puts on sandboxes and containers, as Kubernetes'
// kubelet does, so runtime tools (crictl) show whose they are.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	// annotationHash records the container spec a container was created
	// from; a different hash means the spec changed (a new image).
	annotationHash = "bosun.sh/container-hash"
	// annotationInit marks init containers.
	annotationInit = "bosun.sh/init-container"
)

// startSlotHold is the longest one pod start keeps others waiting.
const startSlotHold = 5 * time.Second

// runtimePod is what the runtime has of one pod.
type runtimePod struct {
	sandboxes []*runtimeapi.PodSandbox // newest first
	// containers holds, per container name, its instances newest first.
	containers map[string][]*runtimeapi.Container
	status     map[string]*runtimeapi.ContainerStatus
}

func (r *runtimePod) readySandbox() *runtimeapi.PodSandbox {
	if len(r.sandboxes) > 0 && r.sandboxes[0].State == runtimeapi.PodSandboxState_SANDBOX_READY {
		return r.sandboxes[0]
	}
	return nil
}

// latest is the newest instance of a container and its status.
func (r *runtimePod) latest(name string) (*runtimeapi.Container, *runtimeapi.ContainerStatus) {
	cs := r.containers[name]
	if len(cs) == 0 {
		return nil, nil
	}
	return cs[0], r.status[cs[0].Id]
}

// previous is the instance before the newest.
func (r *runtimePod) previous(name string) *runtimeapi.ContainerStatus {
	cs := r.containers[name]
	if len(cs) < 2 {
		return nil
	}
	return r.status[cs[1].Id]
}

// runtimeState lists a pod's sandboxes and containers.
func (k *Kubelet) runtimeState(ctx context.Context, uid types.UID) (*runtimePod, error) {
	sel := map[string]string{labelPodUID: string(uid)}
	sbs, err := k.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	cs, err := k.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	r := &runtimePod{sandboxes: sbs.Items, containers: map[string][]*runtimeapi.Container{}, status: map[string]*runtimeapi.ContainerStatus{}}
	sort.Slice(r.sandboxes, func(i, j int) bool {
		a, b := r.sandboxes[i], r.sandboxes[j]
		if a.Metadata.GetAttempt() != b.Metadata.GetAttempt() {
			return a.Metadata.GetAttempt() > b.Metadata.GetAttempt()
		}
		return a.CreatedAt > b.CreatedAt
	})
	for _, c := range cs.Containers {
		name := c.Metadata.GetName()
		r.containers[name] = append(r.containers[name], c)
	}
	for name, list := range r.containers {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Metadata.GetAttempt() != list[j].Metadata.GetAttempt() {
				return list[i].Metadata.GetAttempt() > list[j].Metadata.GetAttempt()
			}
			return list[i].CreatedAt > list[j].CreatedAt
		})
		// The newest two instances are all status is read for: the
		// current one and lastState.
		for _, c := range list[:min(2, len(list))] {
			st, err := k.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return nil, err
			}
			r.status[c.Id] = st.Status
		}
		r.containers[name] = list
	}
	return r, nil
}

// syncPod brings one pod's containers to what its spec asks for and
// reports its status. It returns when to sync again, and done once the
// pod is gone from both the API and the runtime.
func (k *Kubelet) syncPod(ctx context.Context, uid types.UID, namespace, name string) (time.Duration, bool) {
	log := k.log.With("pod", namespace+"/"+name)
	pod, err := k.pods.Pods(namespace).Get(name)
	if err != nil || pod.UID != uid {
		pod = nil
	}
	rp, err := k.runtimeState(ctx, uid)
	if err != nil {
		log.Warn("reading the pod's containers", "err", err)
		return 2 * time.Second, false
	}
	if pod == nil {
		// Deleted from the API (or while the agent was down): remove
		// what is left, without grace — the API server already decided.
		if err := k.killPod(ctx, nil, rp, 0); err != nil {
			log.Warn("removing a deleted pod's containers", "err", err)
			return 2 * time.Second, false
		}
		if err := k.removePod(ctx, uid, rp); err != nil {
			log.Warn("removing a deleted pod's sandbox", "err", err)
			return 2 * time.Second, false
		}
		k.probes.stopPod(uid)
		k.backoff.forgetPod(uid)
		return 0, true
	}
	if pod.DeletionTimestamp != nil {
		return k.terminate(ctx, pod, rp)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished: nothing runs again. Stop the sandbox to free the
		// pod's IP; keep the containers for their logs.
		if sb := rp.readySandbox(); sb != nil {
			if err := k.killPod(ctx, pod, rp, 0); err != nil {
				log.Warn("stopping a finished pod", "err", err)
			}
		}
		k.probes.stopPod(uid)
		return 0, false
	}
	after, err := k.run(ctx, pod, rp)
	if err != nil && ctx.Err() == nil {
		log.Warn("syncing pod", "err", err)
		if after == 0 || after > 5*time.Second {
			after = 5 * time.Second
		}
	}
	// Read back what now runs and report it.
	if rp2, err := k.runtimeState(ctx, uid); err == nil {
		rp = rp2
	}
	if st := k.podStatus(pod, rp); st != nil {
		if err := k.writeStatus(ctx, pod, st); err != nil && ctx.Err() == nil {
			log.Warn("writing pod status", "err", err)
			return time.Second, false
		}
	}
	return after, false
}

// run starts what should run: the sandbox, the init containers in order,
// then every container due to (re)start. It returns when to look again
// (a back-off ending).
func (k *Kubelet) run(ctx context.Context, pod *corev1.Pod, rp *runtimePod) (time.Duration, error) {
	if err := k.volumes.Setup(ctx, pod); err != nil {
		k.events.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		return 5 * time.Second, err
	}
	sb := rp.readySandbox()
	if sb == nil {
		if len(rp.sandboxes) > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && anyStarted(rp) {
			// The sandbox died under containers that must not restart.
			return 0, nil
		}
		// Starting a pod — sandbox, network, containers — costs the
		// runtime, runc and the CNI plugins over half a CPU-second.
		// Started all at once, a burst of pods shares the CPUs until every
		// one is equally late; a few at a time, the first are ready early
		// and the last no later. A slow start (an image pull, a hanging
		// postStart hook) gives its slot back after startSlotHold.
		select {
		case k.startSlots <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		var release sync.Once
		free := func() { release.Do(func() { <-k.startSlots }) }
		t := time.AfterFunc(startSlotHold, free)
		defer func() {
			t.Stop()
			free()
		}()
		var err error
		if len(rp.sandboxes) > 0 {
			k.events.Eventf(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
			if err := k.killPod(ctx, pod, rp, 0); err != nil {
				return 0, err
			}
		}
		sb, err = k.createSandbox(ctx, pod, rp)
		if err != nil {
			k.events.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			if rp2, err := k.runtimeState(ctx, pod.UID); err == nil {
				k.gcContainers(ctx, rp2)
			}
			return 5 * time.Second, err
		}
		// Containers of older sandboxes are history now.
		rp, err = k.runtimeState(ctx, pod.UID)
		if err != nil {
			return 0, err
		}
	}
	sbStatus, err := k.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id})
	if err != nil {
		return 0, err
	}
	podIPs := sandboxIPs(sbStatus.Status)
	if pod.Spec.HostNetwork {
		podIPs = []string{k.cfg.NodeIP}
	}
	k.setPodIPs(pod.UID, podIPs)
	if !pod.Spec.HostNetwork {
		if err := k.volumes.Hosts(pod, podIPs, k.cfg.ClusterDomain); err != nil {
			return 0, err
		}
	}
	sbConfig := k.sandboxConfig(pod, sb.Metadata.Attempt)
	env := envContext{hostIP: k.cfg.NodeIP, podIPs: podIPs}
	if n := k.getNode(); n != nil {
		env.allocatable = n.Status.Allocatable
	}

	// Init containers, one at a time, each to success.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		cur, st := rp.latest(c.Name)
		switch {
		case st != nil && st.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
			if sidecar {
				k.probes.ensure(pod, c, st.Id, time.Unix(0, st.StartedAt))
				if k.checkLiveness(ctx, pod, c, st) {
					continue
				}
				cur, st = k.reread(ctx, cur, st)
				break
			}
			return 0, nil
		case st != nil && st.State == runtimeapi.ContainerState_CONTAINER_EXITED && st.ExitCode == 0 && !sidecar:
			continue
		case st != nil && st.State == runtimeapi.ContainerState_CONTAINER_EXITED && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !sidecar:
			return 0, nil // the pod has failed; podStatus says so
		}
		wait, err := k.startIfDue(ctx, pod, c, cur, st, sb.Id, sbConfig, env, true)
		if err != nil || wait > 0 || !sidecar {
			return wait, err
		}
	}

	var (
		next time.Duration
		errs []error
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	// Containers start in parallel, as the kubelet starts them: a slow
	// image or postStart hook of one does not hold up the others.
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur, st := rp.latest(c.Name)
		if st != nil && st.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			if st.Annotations[annotationHash] == containerHash(c) {
				k.probes.ensure(pod, c, st.Id, time.Unix(0, st.StartedAt))
				if k.checkLiveness(ctx, pod, c, st) {
					continue
				}
			} else {
				k.events.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s definition changed, will be restarted", c.Name)
				if err := k.stopContainer(ctx, pod, c, st.Id, gracePeriod(pod)); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			cur, st = k.reread(ctx, cur, st)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait, err := k.startIfDue(ctx, pod, c, cur, st, sb.Id, sbConfig, env, false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if wait > 0 && (next == 0 || wait < next) {
				next = wait
			}
		}()
	}
	wg.Wait()
	k.gcContainers(ctx, rp)
	return next, errors.Join(errs...)
}

// reread refreshes one container's status after it was stopped.
func (k *Kubelet) reread(ctx context.Context, c *runtimeapi.Container, st *runtimeapi.ContainerStatus) (*runtimeapi.Container, *runtimeapi.ContainerStatus) {
	r, err := k.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: st.Id})
	if err != nil {
		return c, st
	}
	return c, r.Status
}

// checkLiveness kills a running container whose liveness or startup probe
// has failed past its threshold. It reports whether the container is
// still running and healthy.
func (k *Kubelet) checkLiveness(ctx context.Context, pod *corev1.Pod, c *corev1.Container, st *runtimeapi.ContainerStatus) bool {
	kind, failed := k.probes.failed(pod.UID, c.Name, st.Id)
	if !failed {
		return true
	}
	k.events.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.Name, kind)
	grace := gracePeriod(pod)
	if p := probeFor(c, kind); p != nil && p.TerminationGracePeriodSeconds != nil {
		grace = *p.TerminationGracePeriodSeconds
	}
	if err := k.stopContainer(ctx, pod, c, st.Id, grace); err != nil {
		k.log.Warn("stopping a container after a failed probe", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
	}
	return false
}

// startIfDue starts a container whose previous instance is gone or
// exited, if the restart policy and the back-off allow it now; otherwise it
// returns how long the back-off still runs.
func (k *Kubelet) startIfDue(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur *runtimeapi.Container, st *runtimeapi.ContainerStatus, sandboxID string, sbConfig *runtimeapi.PodSandboxConfig, env envContext, init bool) (time.Duration, error) {
	attempt := uint32(0)
	if cur != nil {
		attempt = cur.Metadata.GetAttempt() + 1
		if st == nil {
			return time.Second, nil
		}
		switch st.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			return 0, nil
		case runtimeapi.ContainerState_CONTAINER_CREATED, runtimeapi.ContainerState_CONTAINER_UNKNOWN:
			// Created but never started (a crash between the two calls):
			// remove it and create again under the same attempt.
			k.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: cur.Id})
			attempt = cur.Metadata.GetAttempt()
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if !shouldRestart(pod, c, st, init) {
				return 0, nil
			}
			key := backoffKey(pod.UID, c.Name)
			finished := time.Unix(0, st.FinishedAt)
			if wait := k.backoff.wait(key, finished, k.clock.Now()); wait > 0 {
				k.events.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, podDesc(pod))
				return wait, nil
			}
			k.backoff.next(key, k.clock.Now())
		}
	}
	return 0, k.startContainer(ctx, pod, c, attempt, sandboxID, sbConfig, env, init)
}

// shouldRestart applies the restart policy to an exited container.
func shouldRestart(pod *corev1.Pod, c *corev1.Container, st *runtimeapi.ContainerStatus, init bool) bool {
	if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		return true
	}
	if init {
		// Init containers restart on failure unless the pod never restarts.
		return st.ExitCode != 0 && pod.Spec.RestartPolicy != corev1.RestartPolicyNever
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return st.ExitCode != 0
	}
	return true
}

func anyStarted(rp *runtimePod) bool {
	for _, list := range rp.containers {
		if len(list) > 0 {
			return true
		}
	}
	return false
}

// gcContainers removes exited instances older than the newest two of
// each container (the newest dead one backs `logs --previous`), and old
// sandboxes no container instance lives in any more (failed attempts
// leave them behind).
func (k *Kubelet) gcContainers(ctx context.Context, rp *runtimePod) {
	inUse := map[string]bool{}
	for _, list := range rp.containers {
		for i, c := range list {
			if i >= 2 && c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				k.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id})
				continue
			}
			inUse[c.PodSandboxId] = true
		}
	}
	for i, sb := range rp.sandboxes {
		if i == 0 || sb.State == runtimeapi.PodSandboxState_SANDBOX_READY || inUse[sb.Id] {
			continue
		}
		if _, err := k.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err == nil {
			k.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
		}
	}
}

// terminate stops a pod being deleted: preStop hooks and SIGTERM within
// its grace period, SIGKILL after; then removes its sandbox and volumes and
// completes the deletion with grace 0.
func (k *Kubelet) terminate(ctx context.Context, pod *corev1.Pod, rp *runtimePod) (time.Duration, bool) {
	grace := gracePeriod(pod)
	if err := k.killPod(ctx, pod, rp, grace); err != nil {
		k.log.Warn("stopping pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return time.Second, false
	}
	k.probes.stopPod(pod.UID)
	if rp2, err := k.runtimeState(ctx, pod.UID); err == nil {
		rp = rp2
	}
	if st := k.podStatus(pod, rp); st != nil {
		_ = k.writeStatus(ctx, pod, st)
	}
	if err := k.removePod(ctx, pod.UID, rp); err != nil {
		k.log.Warn("removing pod sandbox", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return time.Second, false
	}
	err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Warn("completing pod deletion", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return time.Second, false
	}
	k.backoff.forgetPod(pod.UID)
	return 0, true
}

// gracePeriod is how long a pod's containers get between SIGTERM and
// SIGKILL.
func gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// killPod stops every running container of the pod in parallel (each
// with its preStop hook when pod is known) and then the sandbox.
func (k *Kubelet) killPod(ctx context.Context, pod *corev1.Pod, rp *runtimePod, grace int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for name, list := range rp.containers {
		for _, c := range list {
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING && c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
				continue
			}
			var spec *corev1.Container
			if pod != nil {
				spec = findContainer(pod, name)
			}
			if spec != nil {
				k.events.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", spec.Name)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := k.stopContainer(ctx, pod, spec, c.Id, grace); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	for _, sb := range rp.sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if _, err := k.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil && !isNotFound(err) {
				all = append(all, fmt.Errorf("stopping sandbox %s: %w", sb.Id, err))
			}
		}
	}
	return errors.Join(all...)
}

// removePod removes a stopped pod's containers, sandboxes and volumes.
func (k *Kubelet) removePod(ctx context.Context, uid types.UID, rp *runtimePod) error {
	var errs []error
	for _, list := range rp.containers {
		for _, c := range list {
			if _, err := k.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil && !isNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	for _, sb := range rp.sandboxes {
		if _, err := k.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		if _, err := k.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := k.volumes.Teardown(uid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func podDesc(pod *corev1.Pod) string {
	return pod.Name + "_" + pod.Namespace + "(" + string(pod.UID) + ")"
}

func sandboxIPs(st *runtimeapi.PodSandboxStatus) []string {
	n := st.GetNetwork()
	if n == nil || n.Ip == "" {
		return nil
	}
	ips := []string{n.Ip}
	for _, ip := range n.AdditionalIps {
		ips = append(ips, ip.Ip)
	}
	return ips
}

func attemptString(a uint32) string { return strconv.FormatUint(uint64(a), 10) }
