package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Update reports that the cached result of one probe of one container
// changed. A liveness or startup Failure means the container must be killed
// and restarted; the Manager stops probing it until Start is called with a
// new container ID.
type Update struct {
	PodUID      types.UID
	Container   string
	ContainerID string
	Kind        Kind
	Result      Result
	// Message is, for a liveness or startup Failure, the kubelet's text for
	// the Killing event that follows ("Container app failed liveness probe,
	// will be restarted"); empty otherwise.
	Message string
	// TerminationGracePeriodSeconds is the probe's own grace period for that
	// kill (probe.terminationGracePeriodSeconds), nil when the pod's applies.
	TerminationGracePeriodSeconds *int64
}

// EventFunc records an event about a container of a pod. The kubelet turns
// it into an Event whose involvedObject.fieldPath is
// spec.containers{container}.
type EventFunc func(pod *corev1.Pod, container, eventType, reason, message string)

// Manager probes running containers, one goroutine per (pod, container,
// probe kind), with the kubelet's timing: the first probe runs at once
// (after a random part of the period if the Manager itself just started, so
// that an agent restart does not probe every container in the same
// instant), then one every periodSeconds; probes are skipped until
// initialDelaySeconds have passed since the container started, and
// liveness and readiness are skipped until the startup probe has succeeded.
// A result changes only after successThreshold (or failureThreshold) equal
// results in a row. Every failed probe records an Unhealthy event.
type Manager struct {
	ex       Execer
	clock    clock.WithTicker
	onChange func(Update)
	event    EventFunc
	start    time.Time

	// jitter returns how long a worker started within one period of the
	// Manager waits before its first probe; tests replace it.
	jitter func(period time.Duration) time.Duration
	// afterProbe, when set by tests, is called by a worker each time it has
	// handled a tick, whether or not that ran a probe.
	afterProbe func(Kind)
	// afterExit, when set by tests, is called when a worker's goroutine ends.
	afterExit func(Kind)

	mu      sync.Mutex
	workers map[workerKey]*worker
}

type workerKey struct {
	pod       types.UID
	container string
	kind      Kind
}

// NewManager returns a Manager that runs exec probes through ex, reads time
// from clk (clock.RealClock{} outside tests), and reports through onChange
// and event. Both callbacks are called from the probing goroutines without
// any lock held; they must not block for long. Either may be nil.
func NewManager(ex Execer, clk clock.WithTicker, onChange func(Update), event EventFunc) *Manager {
	return &Manager{
		ex:       ex,
		clock:    clk,
		onChange: onChange,
		event:    event,
		start:    clk.Now(),
		jitter: func(period time.Duration) time.Duration {
			return time.Duration(rand.Float64() * float64(period))
		},
		workers: make(map[workerKey]*worker),
	}
}

// Start probes container of pod, running since startedAt as containerID at
// podIP. Calling it again with the same containerID only hands the workers
// the newer pod object (a deletion timestamp stops liveness and startup
// probing, as in Kubernetes) and pod IP. A different containerID (the
// container was restarted) starts over: results go back to their initial
// values — readiness Failure, liveness Success, startup Unknown. A container
// without probes, or not in the pod's spec, is ignored.
func (m *Manager) Start(pod *corev1.Pod, container, containerID, podIP string, startedAt time.Time) {
	c := findContainer(pod, container)
	if c == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range []struct {
		kind Kind
		spec *corev1.Probe
	}{{Startup, c.StartupProbe}, {Liveness, c.LivenessProbe}, {Readiness, c.ReadinessProbe}} {
		key := workerKey{pod.UID, container, p.kind}
		if w, ok := m.workers[key]; ok {
			if w.containerID == containerID {
				w.pod, w.container, w.podIP = pod, c, podIP
				continue
			}
			w.cancel()
			delete(m.workers, key)
		}
		if p.spec == nil {
			continue
		}
		w := m.newWorker(key, p.spec, pod, c, containerID, podIP, startedAt)
		m.workers[key] = w
		go w.run()
	}
}

// Stop stops probing a container and forgets its results; call it when the
// container stopped running.
func (m *Manager) Stop(podUID types.UID, container string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, kind := range []Kind{Startup, Liveness, Readiness} {
		key := workerKey{podUID, container, kind}
		if w, ok := m.workers[key]; ok {
			w.cancel()
			delete(m.workers, key)
		}
	}
}

// StopPod stops probing every container of a pod.
func (m *Manager) StopPod(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.pod == podUID {
			w.cancel()
			delete(m.workers, key)
		}
	}
}

// Result returns the cached result of one probe of a container, Unknown
// when that probe is not running (not defined, container stopped, or the
// pod is being deleted).
func (m *Manager) Result(podUID types.UID, container string, kind Kind) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.workers[workerKey{podUID, container, kind}]; ok {
		return w.result
	}
	return Unknown
}

// Started reports containerStatuses[].started for a running container:
// true without a startup probe, else once the startup probe succeeded.
func (m *Manager) Started(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startedLocked(podUID, container)
}

// Ready reports containerStatuses[].ready for a running container: started,
// and without a readiness probe or with one that succeeded.
func (m *Manager) Ready(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.startedLocked(podUID, container) {
		return false
	}
	w, ok := m.workers[workerKey{podUID, container, Readiness}]
	return !ok || w.result == Success
}

func (m *Manager) startedLocked(podUID types.UID, container string) bool {
	w, ok := m.workers[workerKey{podUID, container, Startup}]
	return !ok || w.result == Success
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	// Sidecars (init containers that keep running) are probed too.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.Name == name && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return c
		}
	}
	return nil
}

// withDefaults fills what the API server defaults, for pods that reach the
// agent without them.
func withDefaults(p *corev1.Probe, kind Kind) corev1.Probe {
	d := *p
	if d.TimeoutSeconds <= 0 {
		d.TimeoutSeconds = 1
	}
	if d.PeriodSeconds <= 0 {
		d.PeriodSeconds = 10
	}
	if d.SuccessThreshold <= 0 || kind != Readiness {
		// Validation holds liveness and startup to 1.
		d.SuccessThreshold = 1
	}
	if d.FailureThreshold <= 0 {
		d.FailureThreshold = 3
	}
	return d
}

type worker struct {
	m           *Manager
	key         workerKey
	spec        corev1.Probe
	containerID string
	startedAt   time.Time
	ctx         context.Context
	cancel      context.CancelFunc
	trigger     chan struct{}

	// Guarded by m.mu.
	pod       *corev1.Pod
	container *corev1.Container
	podIP     string
	result    Result

	// Owned by the worker's goroutine.
	last   Result
	streak int // how many times in a row last came back
	onHold bool
}

func (m *Manager) newWorker(key workerKey, spec *corev1.Probe, pod *corev1.Pod, c *corev1.Container, containerID, podIP string, startedAt time.Time) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{
		m:           m,
		key:         key,
		spec:        withDefaults(spec, key.kind),
		containerID: containerID,
		startedAt:   startedAt,
		ctx:         ctx,
		cancel:      cancel,
		trigger:     make(chan struct{}, 1),
		pod:         pod,
		container:   c,
		podIP:       podIP,
	}
	switch key.kind {
	case Readiness:
		w.result = Failure
	case Liveness:
		w.result = Success
	default:
		w.result = Unknown
	}
	return w
}

func (w *worker) run() {
	defer w.remove()
	period := time.Duration(w.spec.PeriodSeconds) * time.Second
	if w.m.clock.Since(w.m.start) < period {
		if d := w.m.jitter(period); d > 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-w.m.clock.After(d):
			}
		}
	}
	ticker := w.m.clock.NewTicker(period)
	defer ticker.Stop()
	for w.probe() {
		if w.m.afterProbe != nil {
			w.m.afterProbe(w.key.kind)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

// remove drops the worker from the Manager unless Start or Stop already
// replaced or removed it.
func (w *worker) remove() {
	w.cancel()
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if w.m.workers[w.key] == w {
		delete(w.m.workers, w.key)
	}
	if w.m.afterExit != nil {
		w.m.afterExit(w.key.kind)
	}
}

// probe handles one tick and returns whether the worker goes on.
func (w *worker) probe() bool {
	m := w.m
	m.mu.Lock()
	pod, c, podIP := w.pod, w.container, w.podIP
	started := m.startedLocked(w.key.pod, w.key.container)
	m.mu.Unlock()

	if w.ctx.Err() != nil {
		return false
	}
	if w.onHold {
		return true
	}
	if pod.DeletionTimestamp != nil && w.key.kind != Readiness {
		// A container being shut down is not restarted for failing its
		// liveness probe; with the worker gone it also counts as started.
		return false
	}
	if int32(m.clock.Since(w.startedAt)/time.Second) < w.spec.InitialDelaySeconds {
		return true
	}
	if (w.key.kind == Startup) == started {
		// Startup probes run until the container has started, the others
		// from then on.
		return true
	}

	timeout := time.Duration(w.spec.TimeoutSeconds) * time.Second
	res, out := Run(w.ctx, w.spec.ProbeHandler, timeout, Target{Pod: pod, Container: c, ContainerID: w.containerID, PodIP: podIP}, m.ex)
	if w.ctx.Err() != nil {
		// Stopped while probing: the result says nothing about the container.
		return false
	}
	switch res {
	case Unknown:
		m.record(pod, w.key.container, ReasonUnhealthy, fmt.Sprintf("%s probe errored and resulted in %s state: %s", w.key.kind, res, out))
		return true
	case Warning:
		m.record(pod, w.key.container, ReasonProbeWarning, fmt.Sprintf("%s probe warning: %s", w.key.kind, out))
		res = Success
	case Failure:
		m.record(pod, w.key.container, ReasonUnhealthy, fmt.Sprintf("%s probe failed: %s", w.key.kind, out))
	}

	if res == w.last {
		w.streak++
	} else {
		w.last, w.streak = res, 1
	}
	if (res == Failure && w.streak < int(w.spec.FailureThreshold)) || (res == Success && w.streak < int(w.spec.SuccessThreshold)) {
		return true
	}
	w.set(res)
	if (w.key.kind == Liveness && res == Failure) || w.key.kind == Startup {
		// A failed container is about to be killed and a started one needs
		// no more startup probing: hold until Start brings a new container.
		w.onHold = true
		w.streak = 0
	}
	return true
}

func (m *Manager) record(pod *corev1.Pod, container, reason, message string) {
	if m.event != nil {
		m.event(pod, container, corev1.EventTypeWarning, reason, message)
	}
}

// set caches a result past its threshold and reports it if it changed.
func (w *worker) set(res Result) {
	m := w.m
	m.mu.Lock()
	if m.workers[w.key] != w || w.result == res {
		m.mu.Unlock()
		return
	}
	w.result = res
	u := Update{PodUID: w.key.pod, Container: w.key.container, ContainerID: w.containerID, Kind: w.key.kind, Result: res}
	if res == Failure && w.key.kind != Readiness {
		u.Message = fmt.Sprintf("Container %s failed %s probe, will be restarted", w.key.container, lower(w.key.kind))
		u.TerminationGracePeriodSeconds = w.spec.TerminationGracePeriodSeconds
	}
	m.mu.Unlock()
	if m.onChange != nil {
		m.onChange(u)
	}
	if w.key.kind == Startup && res == Success {
		// Readiness need not wait up to a period once the container started.
		m.mu.Lock()
		if r, ok := m.workers[workerKey{w.key.pod, w.key.container, Readiness}]; ok {
			select {
			case r.trigger <- struct{}{}:
			default:
			}
		}
		m.mu.Unlock()
	}
}

func lower(k Kind) string {
	switch k {
	case Liveness:
		return "liveness"
	case Readiness:
		return "readiness"
	}
	return "startup"
}
