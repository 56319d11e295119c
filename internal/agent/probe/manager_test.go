package probe

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
)

// harness runs a Manager on a fake clock. Each worker reports every tick it
// handled and its exit, so a test moves time and then waits for exactly the
// workers it expects; nothing sleeps.
type harness struct {
	t       *testing.T
	m       *Manager
	clk     *clocktesting.FakeClock
	probed  chan Kind
	exited  chan Kind
	updates chan Update
	events  chan string
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:       t,
		clk:     clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		probed:  make(chan Kind, 1000),
		exited:  make(chan Kind, 1000),
		updates: make(chan Update, 1000),
		events:  make(chan string, 1000),
	}
	h.m = NewManager(hostExecer{}, h.clk,
		func(u Update) { h.updates <- u },
		func(pod *corev1.Pod, container, eventType, reason, message string) {
			h.events <- eventType + " " + reason + " " + container + ": " + message
		})
	h.m.jitter = func(time.Duration) time.Duration { return 0 }
	h.m.afterProbe = func(k Kind) { h.probed <- k }
	h.m.afterExit = func(k Kind) { h.exited <- k }
	t.Cleanup(func() { h.m.StopPod(testUID) })
	return h
}

// receive waits for one report of each kind; the deadline only turns a
// hang into a failure.
func receive(t *testing.T, ch chan Kind, what string, kinds ...Kind) {
	t.Helper()
	var got []Kind
	deadline := time.After(30 * time.Second)
	for len(got) < len(kinds) {
		select {
		case k := <-ch:
			got = append(got, k)
		case <-deadline:
			t.Fatalf("%s: got %v, want %v", what, got, kinds)
		}
	}
	want := slices.Clone(kinds)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	select {
	case k := <-ch:
		t.Fatalf("%s: unexpected extra %v", what, k)
	default:
	}
}

func (h *harness) wait(kinds ...Kind) { h.t.Helper(); receive(h.t, h.probed, "probed", kinds...) }

func (h *harness) step(d time.Duration, kinds ...Kind) {
	h.t.Helper()
	h.clk.Step(d)
	h.wait(kinds...)
}

func (h *harness) takeEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) takeUpdates() []Update {
	var out []Update
	for {
		select {
		case u := <-h.updates:
			out = append(out, u)
		default:
			return out
		}
	}
}

func (h *harness) expectEvents(want ...string) {
	h.t.Helper()
	if got := h.takeEvents(); !slices.Equal(got, want) {
		h.t.Fatalf("events %q, want %q", got, want)
	}
}

func (h *harness) expectUpdates(want ...Update) {
	h.t.Helper()
	got := h.takeUpdates()
	if len(got) != len(want) {
		h.t.Fatalf("updates %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.PodUID != w.PodUID || g.Container != w.Container || g.ContainerID != w.ContainerID || g.Kind != w.Kind || g.Result != w.Result || g.Message != w.Message ||
			(g.TerminationGracePeriodSeconds == nil) != (w.TerminationGracePeriodSeconds == nil) ||
			(g.TerminationGracePeriodSeconds != nil && *g.TerminationGracePeriodSeconds != *w.TerminationGracePeriodSeconds) {
			h.t.Fatalf("update %d: %+v, want %+v", i, g, w)
		}
	}
}

const testUID = "pod-uid"

func testPod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: testUID},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
}

func execProbe(period int32, cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, PeriodSeconds: period}
}

// flag is a file whose presence makes "test -f" probes pass.
type flag string

func newFlag(t *testing.T) flag { return flag(filepath.Join(t.TempDir(), "healthy")) }
func (f flag) probe(period int32) *corev1.Probe {
	return execProbe(period, "test", "-f", string(f))
}
func (f flag) set(t *testing.T) {
	if err := os.WriteFile(string(f), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
func (f flag) clear(t *testing.T) {
	if err := os.Remove(string(f)); err != nil {
		t.Fatal(err)
	}
}

const (
	readinessFailed = "Warning Unhealthy app: Readiness probe failed: "
	livenessFailed  = "Warning Unhealthy app: Liveness probe failed: "
	startupFailed   = "Warning Unhealthy app: Startup probe failed: "
)

func TestManagerReadinessThresholds(t *testing.T) {
	h := newHarness(t)
	ready := newFlag(t)
	p := ready.probe(10)
	p.SuccessThreshold = 2
	p.FailureThreshold = 3
	h.m.Start(testPod(corev1.Container{Name: "app", ReadinessProbe: p}), "app", "c1", "127.0.0.1", h.clk.Now())

	h.wait(Readiness)
	h.expectEvents(readinessFailed)
	if r := h.m.Result(testUID, "app", Readiness); r != Failure || h.m.Ready(testUID, "app") || !h.m.Started(testUID, "app") {
		t.Fatalf("before any success: result %v, ready %v, started %v", r, h.m.Ready(testUID, "app"), h.m.Started(testUID, "app"))
	}

	ready.set(t)
	h.step(10*time.Second, Readiness)
	h.expectEvents()
	h.expectUpdates()
	if h.m.Ready(testUID, "app") {
		t.Fatal("ready after one success with successThreshold 2")
	}
	h.step(10*time.Second, Readiness)
	h.expectUpdates(Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Readiness, Result: Success})
	if !h.m.Ready(testUID, "app") {
		t.Fatal("not ready after two successes")
	}

	ready.clear(t)
	h.step(10*time.Second, Readiness)
	h.step(10*time.Second, Readiness)
	h.expectEvents(readinessFailed, readinessFailed)
	h.expectUpdates()
	if !h.m.Ready(testUID, "app") {
		t.Fatal("unready after two failures with failureThreshold 3")
	}
	h.step(10*time.Second, Readiness)
	h.expectEvents(readinessFailed)
	h.expectUpdates(Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Readiness, Result: Failure})
	if h.m.Ready(testUID, "app") {
		t.Fatal("still ready after three failures")
	}
}

func TestManagerLivenessRestart(t *testing.T) {
	h := newHarness(t)
	alive := newFlag(t)
	p := alive.probe(5)
	p.FailureThreshold = 2
	grace := int64(5)
	p.TerminationGracePeriodSeconds = &grace
	pod := testPod(corev1.Container{Name: "app", LivenessProbe: p})
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())

	h.wait(Liveness)
	h.expectEvents(livenessFailed)
	h.expectUpdates()
	if r := h.m.Result(testUID, "app", Liveness); r != Success {
		t.Fatalf("liveness %v after one failure of two", r)
	}
	h.step(5*time.Second, Liveness)
	h.expectEvents(livenessFailed)
	h.expectUpdates(Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Liveness, Result: Failure,
		Message: "Container app failed liveness probe, will be restarted", TerminationGracePeriodSeconds: &grace})

	// Held until the container is replaced: no more probes, no more events,
	// even when Start repeats the same container.
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())
	h.step(5*time.Second, Liveness)
	h.step(5*time.Second, Liveness)
	h.expectEvents()
	h.expectUpdates()
	if r := h.m.Result(testUID, "app", Liveness); r != Failure {
		t.Fatalf("liveness %v while held", r)
	}

	// The restarted container starts from a clean slate.
	h.m.Start(pod, "app", "c2", "127.0.0.1", h.clk.Now())
	receive(t, h.exited, "exited", Liveness)
	h.wait(Liveness)
	h.expectEvents(livenessFailed)
	if r := h.m.Result(testUID, "app", Liveness); r != Success {
		t.Fatalf("liveness %v for the new container after one failure", r)
	}
	alive.set(t)
	h.step(5*time.Second, Liveness)
	h.expectEvents()
	h.expectUpdates()
}

func TestManagerStartupGatesLivenessAndReadiness(t *testing.T) {
	h := newHarness(t)
	started := newFlag(t)
	pod := testPod(corev1.Container{
		Name:           "app",
		StartupProbe:   started.probe(3),
		LivenessProbe:  execProbe(10, "false"),
		ReadinessProbe: execProbe(10, "true"),
	})
	pod.Spec.Containers[0].StartupProbe.FailureThreshold = 30
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())

	h.wait(Startup, Liveness, Readiness)
	h.expectEvents(startupFailed)
	if h.m.Started(testUID, "app") || h.m.Ready(testUID, "app") || h.m.Result(testUID, "app", Startup) != Unknown {
		t.Fatal("started or ready before the startup probe succeeded")
	}
	h.step(3*time.Second, Startup)
	h.expectEvents(startupFailed)

	// Started: readiness runs at once rather than at its next tick.
	started.set(t)
	h.step(3*time.Second, Startup, Readiness)
	h.expectEvents()
	h.expectUpdates(
		Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Startup, Result: Success},
		Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Readiness, Result: Success},
	)
	if !h.m.Started(testUID, "app") || !h.m.Ready(testUID, "app") {
		t.Fatal("not started and ready after the startup probe succeeded")
	}

	// The startup probe is done; liveness runs from its next tick.
	h.step(3*time.Second, Startup)
	h.step(1*time.Second, Liveness, Readiness)
	h.expectEvents(livenessFailed)
}

func TestManagerStartupFailure(t *testing.T) {
	h := newHarness(t)
	p := execProbe(10, "false")
	p.FailureThreshold = 2
	h.m.Start(testPod(corev1.Container{Name: "app", StartupProbe: p, ReadinessProbe: execProbe(10, "true")}), "app", "c1", "127.0.0.1", h.clk.Now())
	h.wait(Startup, Readiness)
	h.step(10*time.Second, Startup, Readiness)
	h.expectEvents(startupFailed, startupFailed)
	h.expectUpdates(Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Startup, Result: Failure,
		Message: "Container app failed startup probe, will be restarted"})
	h.step(10*time.Second, Startup, Readiness)
	h.expectEvents()
	if h.m.Ready(testUID, "app") {
		t.Fatal("ready without having started")
	}
}

func TestManagerInitialDelay(t *testing.T) {
	h := newHarness(t)
	p := execProbe(10, "false")
	p.InitialDelaySeconds = 15
	p.FailureThreshold = 1
	h.m.Start(testPod(corev1.Container{Name: "app", LivenessProbe: p}), "app", "c1", "127.0.0.1", h.clk.Now())
	h.wait(Liveness)
	h.step(10*time.Second, Liveness)
	h.expectEvents()
	h.step(10*time.Second, Liveness)
	h.expectEvents(livenessFailed)
	h.expectUpdates(Update{PodUID: testUID, Container: "app", ContainerID: "c1", Kind: Liveness, Result: Failure,
		Message: "Container app failed liveness probe, will be restarted"})
}

func TestManagerJitter(t *testing.T) {
	h := newHarness(t)
	var asked []time.Duration
	h.m.jitter = func(period time.Duration) time.Duration {
		asked = append(asked, period)
		return 4 * time.Second
	}
	h.m.Start(testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe(10, "true")}), "app", "c1", "127.0.0.1", h.clk.Now())
	for !h.clk.HasWaiters() {
		runtime.Gosched()
	}
	select {
	case k := <-h.probed:
		t.Fatalf("%v probed before its jitter elapsed", k)
	default:
	}
	h.step(4*time.Second, Readiness)
	if !slices.Equal(asked, []time.Duration{10 * time.Second}) {
		t.Fatalf("jitter asked for %v", asked)
	}

	// A Manager running for more than a period starts workers at once.
	h.m.StopPod(testUID)
	receive(t, h.exited, "exited", Readiness)
	h.clk.Step(time.Minute)
	h.m.Start(testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe(10, "true")}), "app", "c2", "127.0.0.1", h.clk.Now())
	h.wait(Readiness)
	if len(asked) != 1 {
		t.Fatalf("jitter asked again: %v", asked)
	}
}

func TestManagerPodDeletion(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{
		Name:           "app",
		LivenessProbe:  execProbe(10, "false"),
		ReadinessProbe: execProbe(10, "false"),
	})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "slow", StartupProbe: execProbe(10, "false")})
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())
	h.m.Start(pod, "slow", "c2", "127.0.0.1", h.clk.Now())
	h.wait(Liveness, Readiness, Startup)
	h.takeEvents()

	deleting := pod.DeepCopy()
	now := metav1.NewTime(h.clk.Now())
	deleting.DeletionTimestamp = &now
	h.m.Start(deleting, "app", "c1", "127.0.0.1", h.clk.Now())
	h.m.Start(deleting, "slow", "c2", "127.0.0.1", h.clk.Now())
	h.step(10*time.Second, Readiness)
	receive(t, h.exited, "exited", Startup, Liveness)
	// Only readiness keeps probing a terminating container.
	h.expectEvents(readinessFailed)
	h.expectUpdates()
	if h.m.Result(testUID, "app", Liveness) != Unknown {
		t.Fatal("a terminating container is still liveness-probed")
	}
	if !h.m.Started(testUID, "slow") {
		t.Fatal("a terminating container still waits for its startup probe")
	}
}

func TestManagerProbeErrorsAndWarnings(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{
		Name: "app",
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("missing")}},
			PeriodSeconds: 10, FailureThreshold: 1},
	})
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())
	h.wait(Readiness)
	// An error is reported but counts as neither success nor failure.
	h.expectEvents(`Warning Unhealthy app: Readiness probe errored and resulted in unknown state: port "missing" not found in the container's ports`)
	h.expectUpdates()
	if r := h.m.Result(testUID, "app", Readiness); r != Failure {
		t.Fatalf("readiness %v, want the initial Failure", r)
	}
}

func TestManagerStop(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{Name: "app", StartupProbe: execProbe(10, "false"), ReadinessProbe: execProbe(10, "true")})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", LivenessProbe: execProbe(10, "true")})
	h.m.Start(pod, "app", "c1", "127.0.0.1", h.clk.Now())
	h.m.Start(pod, "side", "c2", "127.0.0.1", h.clk.Now())
	h.m.Start(pod, "nope", "c3", "127.0.0.1", h.clk.Now())
	h.wait(Startup, Readiness, Liveness)

	h.m.Stop(testUID, "app")
	receive(t, h.exited, "exited", Startup, Readiness)
	if h.m.Result(testUID, "app", Readiness) != Unknown || h.m.Result(testUID, "side", Liveness) != Success {
		t.Fatal("Stop did not stop exactly one container's probes")
	}
	h.m.StopPod(testUID)
	receive(t, h.exited, "exited", Liveness)
	h.clk.Step(time.Minute)
	select {
	case k := <-h.probed:
		t.Fatalf("%v probed after StopPod", k)
	default:
	}
}

func TestWithDefaults(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		in   corev1.Probe
		want corev1.Probe
	}{
		{"zeroes", Readiness, corev1.Probe{}, corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}},
		{"kept", Readiness, corev1.Probe{TimeoutSeconds: 2, PeriodSeconds: 3, SuccessThreshold: 4, FailureThreshold: 5}, corev1.Probe{TimeoutSeconds: 2, PeriodSeconds: 3, SuccessThreshold: 4, FailureThreshold: 5}},
		{"liveness succeeds at once", Liveness, corev1.Probe{SuccessThreshold: 4}, corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := withDefaults(&tc.in, tc.kind); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
