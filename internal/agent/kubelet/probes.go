package kubelet

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent/probe"
)

// probeState connects the probe manager to the pod workers: results wake
// the pod's worker, and liveness or startup failures mark the container for
// a restart.
type probeState struct {
	k *Kubelet
	m *probe.Manager

	mu    sync.Mutex
	pods  map[types.UID][2]string // namespace, name
	kills map[string]probe.Update // by container ID
}

func newProbeState(k *Kubelet) *probeState {
	s := &probeState{k: k, pods: map[types.UID][2]string{}, kills: map[string]probe.Update{}}
	s.m = probe.NewManager(execer{k.rt}, k.clock, s.changed, func(pod *corev1.Pod, container, eventType, reason, message string) {
		k.events.Eventf(pod, eventType, reason, "%s", message)
	})
	return s
}

func (s *probeState) changed(u probe.Update) {
	s.mu.Lock()
	if u.Result == probe.Failure && (u.Kind == probe.Liveness || u.Kind == probe.Startup) {
		s.kills[u.ContainerID] = u
	}
	key, ok := s.pods[u.PodUID]
	s.mu.Unlock()
	if ok {
		s.k.kick(u.PodUID, key[0], key[1])
	}
}

// start begins probing a container that just started.
func (s *probeState) start(pod *corev1.Pod, c *corev1.Container, id string) {
	s.ensure(pod, c, id, s.k.clock.Now())
}

// ensure keeps probing a running container (after an agent restart, say);
// for the same container ID it only hands the workers the newer pod.
func (s *probeState) ensure(pod *corev1.Pod, c *corev1.Container, id string, startedAt time.Time) {
	s.mu.Lock()
	s.pods[pod.UID] = [2]string{pod.Namespace, pod.Name}
	s.mu.Unlock()
	s.m.Start(pod, c.Name, id, s.podIP(pod), startedAt)
}

// podIP is where httpGet, tcpSocket and grpc probes and hooks connect.
func (s *probeState) podIP(pod *corev1.Pod) string {
	if ips := s.k.podIPs(pod); len(ips) > 0 {
		return ips[0]
	}
	return pod.Status.PodIP
}

func (s *probeState) stop(uid types.UID, container string) { s.m.Stop(uid, container) }

func (s *probeState) stopPod(uid types.UID) {
	s.m.StopPod(uid)
	s.mu.Lock()
	delete(s.pods, uid)
	s.mu.Unlock()
}

// failed reports whether the container instance failed its liveness or
// startup probe.
func (s *probeState) failed(uid types.UID, container, id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.kills[id]
	if !ok {
		return "", false
	}
	delete(s.kills, id)
	if u.Kind == probe.Startup {
		return "startup", true
	}
	return "liveness", true
}

func (s *probeState) started(uid types.UID, c *corev1.Container, id string) bool {
	return s.m.Started(uid, c.Name)
}

func (s *probeState) ready(uid types.UID, c *corev1.Container, id string) bool {
	return s.m.Ready(uid, c.Name)
}

// hook runs a postStart or preStop handler.
func (s *probeState) hook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) error {
	return probe.RunHook(ctx, h, probe.Target{Pod: pod, Container: c, ContainerID: id, PodIP: s.podIP(pod)}, execer{s.k.rt})
}

func probeFor(c *corev1.Container, kind string) *corev1.Probe {
	if kind == "startup" {
		return c.StartupProbe
	}
	return c.LivenessProbe
}

// execer runs probe and hook commands through CRI ExecSync.
type execer struct {
	rt runtimeapi.RuntimeServiceClient
}

func (e execer) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		// The runtime enforces the timeout; the context only guards
		// against a runtime that does not answer.
		ctx, cancel = context.WithTimeout(ctx, timeout+5*time.Second)
		defer cancel()
	}
	r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second)})
	if err != nil {
		if status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, -1, context.DeadlineExceeded
		}
		return nil, nil, -1, err
	}
	return r.Stdout, r.Stderr, r.ExitCode, nil
}
