// Package probe owns the node agent's container health checks and lifecycle
// hooks: running one liveness, readiness or startup probe (exec, httpGet,
// tcpSocket, grpc) the way the Kubernetes kubelet does, running postStart and
// preStop handlers, and the Manager that probes every running container on its
// own schedule and reports result changes to the kubelet. It knows nothing of
// CRI or the API server: commands run through an Execer and results leave
// through callbacks.
package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Result is the outcome of a probe.
type Result int

const (
	// Unknown means the probe could not be run (a bad port name, no exec
	// runner, …) or has not produced a result yet. The Manager does not
	// count it towards any threshold.
	Unknown Result = iota
	// Success means the check passed.
	Success
	// Failure means the check failed.
	Failure
	// Warning is only returned by Run: an HTTP probe that stopped at a
	// redirect to another host. It counts as Success, and the Manager
	// reports it with a ProbeWarning event as the kubelet does.
	Warning
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Warning:
		return "warning"
	default:
		return "unknown"
	}
}

// Kind says which of a container's probes a result belongs to. Its value
// is the word the kubelet's event messages start with.
type Kind string

const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Event reasons, as the kubelet records them.
const (
	ReasonUnhealthy           = "Unhealthy"
	ReasonProbeWarning        = "ProbeWarning"
	ReasonFailedPostStartHook = "FailedPostStartHook"
	ReasonFailedPreStopHook   = "FailedPreStopHook"
)

// Execer runs a command in a running container; the kubelet backs it with
// CRI ExecSync.
//
// A timeout of zero means no timeout. When the command outlives a non-zero
// timeout the returned error must wrap context.DeadlineExceeded or be a gRPC
// status with code DeadlineExceeded (what CRI returns): probes count that as
// a failure rather than an error. A command that ran and exited non-zero is
// not an error: it is reported through exitCode with err == nil. The
// returned slices belong to the caller.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
}

// Target is what a probe or hook acts on.
type Target struct {
	Pod *corev1.Pod
	// Container is the spec of the probed container: named ports resolve
	// through its ports and exec commands expand $(VAR) from its env.
	Container   *corev1.Container
	ContainerID string
	// PodIP is where httpGet (without host), tcpSocket (without host) and
	// grpc connect.
	PodIP string
}

// kubeVersion is the major.minor the API server's discovery reports; the
// kubelet puts its own version in probe and hook User-Agents, and servers
// (and their logs) are known to match on it.
const kubeVersion = "1.37"

// maxOutput bounds the probe output kept from a command or a response body,
// as the kubelet does: the output ends up in an event message.
const maxOutput = 10 << 10
