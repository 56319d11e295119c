package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-sh/bosun/test/images"
)

// runLabel tells one batch of pods from the others.
const runLabel = "bench-run"

// probes says which probes a benchmark pod's container has.
type probes int

const (
	noProbes probes = iota
	// readiness1s: an httpGet readiness probe every second, so Ready
	// follows the container's start within about a second.
	readiness1s
	// bothProbes: httpGet liveness and readiness at the default period
	// (10 s), what a typical service runs with.
	bothProbes
)

// benchPod is a bare Pod running the test server. The image is on the
// node already (imported before the agent started), so no pull is timed.
func benchPod(name, run string, p probes) *corev1.Pod {
	grace := int64(2) // the test server exits on SIGTERM at once
	c := corev1.Container{
		Name:            "server",
		Image:           images.TestServer,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
	}
	get := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8080)}}
	}
	switch p {
	case readiness1s:
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: get("/readyz"), PeriodSeconds: 1}
	case bothProbes:
		c.LivenessProbe = &corev1.Probe{ProbeHandler: get("/healthz")}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: get("/readyz")}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{runLabel: run}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			TerminationGracePeriodSeconds: &grace,
		},
	}
}

// startup is what one batch of pods created at once showed through a
// watch: per pod, the time from the start of its create request to the
// arrival of the event that first showed each step.
type startup struct {
	bound   []time.Duration // spec.nodeName set (the scheduler)
	running []time.Duration // a container status says running (the agent)
	ready   []time.Duration // the Ready condition True
	// allReady is the time from the first create to the last Ready.
	allReady time.Duration
	// cpu is where CPU time went from before the first create to the
	// last Ready.
	cpu cpuSplit
}

// podTimes are the event arrival times for one pod.
type podTimes struct {
	created, bound, running, ready time.Time
}

// startPods creates count pods at once (one goroutine each) and watches
// them until all are Ready.
func (n *node) startPods(ctx context.Context, count int, run string, p probes, timeout time.Duration) (startup, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	selector := runLabel + "=" + run
	w, err := n.watcher.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return startup{}, fmt.Errorf("watch: %w", err)
	}
	var (
		mu    sync.Mutex
		times = make(map[string]*podTimes, count)
		last  = map[string]*corev1.Pod{}
	)
	entry := func(name string) *podTimes {
		t := times[name]
		if t == nil {
			t = &podTimes{}
			times[name] = t
		}
		return t
	}

	before, err := n.usage()
	if err != nil {
		return startup{}, err
	}
	createErr := make(chan error, count)
	var wg sync.WaitGroup
	first := time.Now()
	for i := range count {
		name := fmt.Sprintf("%s-%03d", run, i)
		pod := benchPod(name, run, p)
		wg.Go(func() {
			start := time.Now()
			_, err := n.client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				createErr <- fmt.Errorf("create %s: %w", name, err)
				return
			}
			mu.Lock()
			entry(name).created = start
			mu.Unlock()
		})
	}
	go func() { wg.Wait(); close(createErr) }()

	readyCount, rv := 0, ""
	for readyCount < count {
		select {
		case err, ok := <-createErr:
			if ok {
				w.Stop()
				return startup{}, err
			}
			createErr = nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The server ended the watch; carry on from the last event.
				if w, err = n.watcher.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv}); err != nil {
					return startup{}, fmt.Errorf("watch again: %w%s", err, notReady(last))
				}
				continue
			}
			at := time.Now()
			if ev.Type == watch.Error {
				w.Stop()
				return startup{}, fmt.Errorf("watch: %v", apierrors.FromObject(ev.Object))
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = pod.ResourceVersion
			mu.Lock()
			t := entry(pod.Name)
			last[pod.Name] = pod
			if t.bound.IsZero() && pod.Spec.NodeName != "" {
				t.bound = at
			}
			if t.running.IsZero() && containerRunning(pod) {
				t.running = at
			}
			if t.ready.IsZero() && podReady(pod) {
				t.ready = at
				readyCount++
			}
			mu.Unlock()
		case <-ctx.Done():
			w.Stop()
			mu.Lock()
			defer mu.Unlock()
			return startup{}, fmt.Errorf("%d of %d pods Ready after %s%s", readyCount, count, timeout, notReady(last))
		}
	}
	w.Stop()
	wg.Wait()
	after, err := n.usage()
	if err != nil {
		return startup{}, err
	}

	mu.Lock()
	defer mu.Unlock()
	s := startup{cpu: split(before, after)}
	var lastReady time.Time
	for _, t := range times {
		if t.created.IsZero() {
			// The create's response came after the Ready event: impossible
			// unless the create failed, which was reported above.
			return startup{}, fmt.Errorf("a pod was Ready before its create returned")
		}
		s.bound = append(s.bound, t.bound.Sub(t.created))
		s.running = append(s.running, t.running.Sub(t.created))
		s.ready = append(s.ready, t.ready.Sub(t.created))
		if t.ready.After(lastReady) {
			lastReady = t.ready
		}
	}
	s.allReady = lastReady.Sub(first)
	return s, nil
}

func containerRunning(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReady describes, for an error, up to five pods that are not Ready.
func notReady(last map[string]*corev1.Pod) string {
	var b strings.Builder
	shown := 0
	for _, name := range slices.Sorted(maps.Keys(last)) {
		p := last[name]
		if podReady(p) {
			continue
		}
		if shown == 5 {
			b.WriteString("\n     ...")
			break
		}
		shown++
		fmt.Fprintf(&b, "\n     %s: node %q, phase %s", name, p.Spec.NodeName, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, ", %s waiting: %s %s", cs.Name, w.Reason, w.Message)
			}
		}
	}
	return b.String()
}

// deletePods deletes the batch's pods (with their grace period) and waits
// until the agent has removed them from the API, which it does once their
// containers are gone.
func (n *node) deletePods(ctx context.Context, run string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	start := time.Now()
	opts := metav1.ListOptions{LabelSelector: runLabel + "=" + run}
	list, err := n.client.CoreV1().Pods(namespace).List(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("list: %w", err)
	}
	errs := make(chan error, len(list.Items))
	var wg sync.WaitGroup
	for _, p := range list.Items {
		wg.Go(func() {
			err := n.client.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs <- fmt.Errorf("delete %s: %w", p.Name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	for {
		list, err := n.client.CoreV1().Pods(namespace).List(ctx, opts)
		if err == nil && len(list.Items) == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			left := -1
			if list != nil {
				left = len(list.Items)
			}
			return 0, fmt.Errorf("%d pods of %s still there: %w", left, run, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// percentile is the nearest-rank percentile of sorted d (q in (0, 1]).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// spread is p50, p90, p99 and max of d, which it sorts.
type spread struct{ p50, p90, p99, max time.Duration }

func spreadOf(d []time.Duration) spread {
	slices.Sort(d)
	if len(d) == 0 {
		return spread{}
	}
	return spread{percentile(d, 0.5), percentile(d, 0.9), percentile(d, 0.99), d[len(d)-1]}
}

func (s spread) String() string {
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max))
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
