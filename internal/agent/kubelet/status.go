package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podStatus computes the pod's status from what the runtime runs.
func (k *Kubelet) podStatus(pod *corev1.Pod, rp *runtimePod) *corev1.PodStatus {
	st := pod.Status.DeepCopy()
	now := metav1.NewTime(k.clock.Now())
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.HostIP = k.cfg.NodeIP
	st.HostIPs = []corev1.HostIP{{IP: k.cfg.NodeIP}}
	st.QOSClass = qosClass(pod)
	sandboxReady := rp.readySandbox() != nil
	if sandboxReady {
		if pod.Spec.HostNetwork {
			st.PodIP = k.cfg.NodeIP
			st.PodIPs = []corev1.PodIP{{IP: k.cfg.NodeIP}}
		} else if ips := k.currentIPs(pod, rp.readySandbox().Id); len(ips) > 0 {
			st.PodIP = ips[0]
			st.PodIPs = st.PodIPs[:0]
			for _, ip := range ips {
				st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
			}
		}
	}

	st.InitContainerStatuses = k.containerStatuses(pod, pod.Spec.InitContainers, pod.Status.InitContainerStatuses, rp, true)
	st.ContainerStatuses = k.containerStatuses(pod, pod.Spec.Containers, pod.Status.ContainerStatuses, rp, false)

	initialized := initDone(pod, st.InitContainerStatuses)
	phase := podPhase(pod, st, initialized)
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		phase = pod.Status.Phase // terminal phases are final
	}
	st.Phase = phase

	containersReady := initialized && len(st.ContainerStatuses) > 0
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			containersReady = false
		}
	}
	for _, cs := range st.InitContainerStatuses {
		if isSidecar(pod, cs.Name) && !cs.Ready {
			containersReady = false
		}
	}
	ready := containersReady
	var notReady []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	gatesOK := true
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				found = true
			}
		}
		if !found {
			gatesOK = false
		}
	}
	ready = ready && gatesOK
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		ready, containersReady = false, false
	}

	set := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		status := corev1.ConditionFalse
		if ok {
			status, reason, msg = corev1.ConditionTrue, "", ""
		}
		setCondition(st, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	set(corev1.PodReadyToStartContainers, sandboxReady, "", "")
	set(corev1.PodInitialized, initialized, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: %v", incomplete(st.InitContainerStatuses)))
	switch {
	case phase == corev1.PodSucceeded || phase == corev1.PodFailed:
		set(corev1.ContainersReady, false, "PodCompleted", "")
		set(corev1.PodReady, false, "PodCompleted", "")
	default:
		set(corev1.ContainersReady, containersReady, "ContainersNotReady", fmt.Sprintf("containers with unready status: %v", notReady))
		if !gatesOK && containersReady {
			set(corev1.PodReady, false, "ReadinessGatesNotReady", "corresponding condition of pod readiness gate is not true")
		} else {
			set(corev1.PodReady, ready, "ContainersNotReady", fmt.Sprintf("containers with unready status: %v", notReady))
		}
	}
	return st
}

// currentIPs are the pod's addresses: those its sync just read from the
// sandbox, else the runtime's answer.
func (k *Kubelet) currentIPs(pod *corev1.Pod, sandboxID string) []string {
	if ips := k.podIPs(pod); len(ips) > 0 {
		return ips
	}
	return k.sandboxIPs(sandboxID)
}

func (k *Kubelet) sandboxIPs(id string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := k.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return nil
	}
	return sandboxIPs(s.Status)
}

func isSidecar(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func incomplete(statuses []corev1.ContainerStatus) []string {
	var out []string
	for _, cs := range statuses {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			out = append(out, cs.Name)
		}
	}
	return out
}

// initDone reports whether every init container has succeeded (sidecars:
// started).
func initDone(pod *corev1.Pod, statuses []corev1.ContainerStatus) bool {
	for i, c := range pod.Spec.InitContainers {
		cs := statuses[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if cs.Started == nil || !*cs.Started {
				return false
			}
			continue
		}
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			return false
		}
	}
	return true
}

// podPhase follows the kubelet: Pending until the containers run, Running
// while any runs or will restart, and Succeeded or Failed once all have
// stopped for good.
func podPhase(pod *corev1.Pod, st *corev1.PodStatus, initialized bool) corev1.PodPhase {
	if !initialized {
		for i, cs := range st.InitContainerStatuses {
			c := pod.Spec.InitContainers[i]
			failed := cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 ||
				cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode != 0
			if failed && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && (c.RestartPolicy == nil) {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == len(st.ContainerStatuses) && stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if succeeded == stopped {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
		if succeeded == stopped {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

// containerStatuses reports each container of specs from its newest two
// instances in the runtime.
func (k *Kubelet) containerStatuses(pod *corev1.Pod, specs []corev1.Container, prev []corev1.ContainerStatus, rp *runtimePod, init bool) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		c := &specs[i]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
		for _, p := range prev {
			if p.Name == c.Name {
				cs.ImageID = p.ImageID
			}
		}
		cur, rst := rp.latest(c.Name)
		key := backoffKey(pod.UID, c.Name)
		if cur == nil || rst == nil {
			reason := "ContainerCreating"
			if !init && len(pod.Spec.InitContainers) > 0 {
				reason = "PodInitializing"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
			if e, ok := k.getLastErr(key); ok {
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: e.reason, Message: e.message}
			}
			cs.Started = ptrBool(false)
			out = append(out, cs)
			continue
		}
		cs.RestartCount = int32(cur.Metadata.GetAttempt())
		cs.ContainerID = "containerd://" + rst.Id
		if rst.ImageRef != "" {
			cs.ImageID = rst.ImageRef
		}
		if rst.Image != nil && rst.Image.UserSpecifiedImage != "" {
			cs.Image = rst.Image.UserSpecifiedImage
		}
		if p := rp.previous(c.Name); p != nil && p.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			cs.LastTerminationState.Terminated = k.terminated(pod, c, p)
		}
		switch rst.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(0, rst.StartedAt))}
			cs.Started = ptrBool(k.probes.started(pod.UID, c, rst.Id))
			cs.Ready = k.probes.ready(pod.UID, c, rst.Id) && *cs.Started
			if init && !isSidecar(pod, c.Name) {
				cs.Ready = false
			}
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			t := k.terminated(pod, c, rst)
			cs.Started = ptrBool(false)
			if pod.DeletionTimestamp == nil && shouldRestart(pod, c, rst, init) {
				if wait := k.backoff.wait(key, time.Unix(0, rst.FinishedAt), k.clock.Now()); wait > 0 {
					cs.LastTerminationState.Terminated = t
					cs.State.Waiting = &corev1.ContainerStateWaiting{
						Reason:  "CrashLoopBackOff",
						Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", k.backoff.delay(key).Round(time.Second), c.Name, podDesc(pod)),
					}
					break
				}
			}
			cs.State.Terminated = t
			if init && t.ExitCode == 0 {
				cs.Ready = true
			}
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			cs.Started = ptrBool(false)
		}
		out = append(out, cs)
	}
	return out
}

// terminated describes an exited container instance; its termination
// message is read from the file it wrote, or from its log tail when
// FallbackToLogsOnError asks for it.
func (k *Kubelet) terminated(pod *corev1.Pod, c *corev1.Container, st *runtimeapi.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    st.ExitCode,
		Reason:      st.Reason,
		Message:     st.Message,
		StartedAt:   metav1.NewTime(time.Unix(0, st.StartedAt)),
		FinishedAt:  metav1.NewTime(time.Unix(0, st.FinishedAt)),
		ContainerID: "containerd://" + st.Id,
	}
	if t.Reason == "" {
		t.Reason = "Completed"
		if t.ExitCode != 0 {
			t.Reason = "Error"
		}
	}
	if c.TerminationMessagePath != "" {
		p := filepath.Join(k.cfg.RootDir, "pods", string(pod.UID), "containers", c.Name, "termination-log-"+attemptString(st.GetMetadata().GetAttempt()))
		if b, err := readLimited(p, 4096); err == nil && len(b) > 0 {
			t.Message = string(b)
		}
	}
	return t
}

func readLimited(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, _ := f.Read(b)
	return b[:m], nil
}

func ptrBool(b bool) *bool { return &b }

// setCondition sets c in st, keeping the transition time when the status
// did not change.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			c.LastProbeTime = st.Conditions[i].LastProbeTime
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// writeStatus sends what changed in the pod's status as a strategic merge
// patch of the status subresource, as the kubelet does: no resourceVersion
// precondition, so the scheduler's or an eviction's concurrent condition
// writes neither conflict with it nor get overwritten.
func (k *Kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, st *corev1.PodStatus) error {
	if apiequality.Semantic.DeepEqual(&pod.Status, st) {
		return nil
	}
	old, err := json.Marshal(corev1.Pod{Status: pod.Status})
	if err != nil {
		return err
	}
	cur, err := json.Marshal(corev1.Pod{Status: *st})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(old, cur, corev1.Pod{})
	if err != nil {
		return err
	}
	// The UID guards against patching a new pod of the same name.
	patch, err = addUIDPrecondition(patch, pod.UID)
	if err != nil {
		return err
	}
	_, err = k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// addUIDPrecondition adds metadata.uid to a patch, which makes the server
// refuse it (409) for a different pod of the same name.
func addUIDPrecondition(patch []byte, uid types.UID) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return nil, err
	}
	m["metadata"] = map[string]any{"uid": string(uid)}
	return json.Marshal(m)
}
