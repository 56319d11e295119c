package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bosun-sh/bosun/bench/benchserver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

const (
	watchTarget = 50 * time.Millisecond // p99
	// sentAnnotation carries "SEQ/UNIXNANO" of the patch that set it;
	// SEQ -1 is the warm-up that proves every watch is established.
	sentAnnotation = "bench.bosun.sh/sent"
)

// watchLatency opens o.watchers watches on one namespace, then patches
// o.watchPods pods in turn, o.updates times at o.updateRate per second,
// each patch carrying its send time, and measures send-to-delivery for
// every MODIFIED event every watcher receives.
func watchLatency(ctx context.Context, o options, out io.Writer) ([]row, error) {
	s, cfg, cs, err := start(ctx, o.bin)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	// The writer has a connection of its own, so its patches do not queue
	// behind the watch traffic they cause.
	writer, err := kubernetes.NewForConfig(benchserver.OwnConnection(cfg))
	if err != nil {
		return nil, err
	}
	conns := make([]kubernetes.Interface, max(1, o.watchConns))
	for i := range conns {
		if conns[i], err = kubernetes.NewForConfig(benchserver.OwnConnection(cfg)); err != nil {
			return nil, err
		}
	}
	if err := createNamespace(ctx, cs); err != nil {
		return nil, err
	}
	var names []string
	for i := range o.watchPods {
		p, err := cs.CoreV1().Pods(namespace).Create(ctx, benchPod(i), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("pod %d: %w", i, err)
		}
		names = append(names, p.Name)
	}
	l, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}

	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	ws := make([]*watcher, o.watchers)
	var warm, done sync.WaitGroup
	warm.Add(o.watchers)
	done.Add(o.watchers)
	for i := range ws {
		wi, err := conns[i%len(conns)].CoreV1().Pods(namespace).Watch(wctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			return nil, fmt.Errorf("watch %d: %w", i, err)
		}
		ws[i] = newWatcher(wi, o.updates)
		go ws[i].run(&warm, &done)
	}
	defer func() {
		stopWatches()
		for _, w := range ws {
			if w != nil {
				w.w.Stop()
			}
		}
	}()

	// Updates start only once every watcher has seen one, so the figures
	// do not include watch setup.
	if err := patchSent(ctx, writer, names[0], -1); err != nil {
		return nil, err
	}
	if err := waitGroup(ctx, &warm, 30*time.Second); err != nil {
		return nil, fmt.Errorf("warm-up event not delivered to all %d watchers: %w", o.watchers, err)
	}

	patchLat := make([]time.Duration, o.updates)
	m := meter(s)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.updateRate))
	t0 := time.Now()
	for seq := range o.updates {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, fmt.Errorf("after %d updates: %w", seq, ctx.Err())
		case <-tick.C:
		}
		sent := time.Now()
		if err := patchSent(ctx, writer, names[seq%len(names)], seq); err != nil {
			tick.Stop()
			return nil, fmt.Errorf("update %d: %w", seq, err)
		}
		patchLat[seq] = time.Since(sent)
	}
	tick.Stop()
	sendTime := time.Since(t0)
	waitErr := waitGroup(ctx, &done, 30*time.Second)
	usage := m.String()
	stopWatches()

	// first[seq] is the earliest delivery of an update to any watcher:
	// write plus etcd watch plus encoding. What the others add on top is
	// the fan-out.
	first := make([]time.Duration, o.updates)
	for i := range first {
		first[i] = -1
	}
	var lat []time.Duration
	delivered, dup := 0, 0
	var werrs []string
	for _, w := range ws {
		w.mu.Lock()
		for seq, d := range w.lat {
			if d < 0 {
				continue
			}
			lat = append(lat, d)
			if first[seq] < 0 || d < first[seq] {
				first[seq] = d
			}
		}
		delivered += w.n
		dup += w.dup
		if w.err != nil && len(werrs) < 3 {
			werrs = append(werrs, w.err.Error())
		}
		w.mu.Unlock()
	}
	var spread, firsts []time.Duration
	for _, w := range ws {
		w.mu.Lock()
		for seq, d := range w.lat {
			if d >= 0 {
				spread = append(spread, d-first[seq])
			}
		}
		w.mu.Unlock()
	}
	for _, d := range first {
		if d >= 0 {
			firsts = append(firsts, d)
		}
	}
	want := o.watchers * o.updates
	p50, p99, worst := benchserver.Percentile(lat, 0.5), benchserver.Percentile(lat, 0.99), benchserver.Percentile(lat, 1)
	fmt.Fprintf(out, "   %d updates in %s (%.0f /s); patch latency p50 %s, p99 %s\n", o.updates, sendTime.Round(time.Millisecond),
		float64(o.updates)/sendTime.Seconds(), ms(benchserver.Percentile(patchLat, 0.5)), ms(benchserver.Percentile(patchLat, 0.99)))
	fmt.Fprintf(out, "   delivered %d of %d (%d duplicates); send-to-delivery p50 %s, p99 %s, max %s\n", delivered, want, dup, ms(p50), ms(p99), ms(worst))
	fmt.Fprintf(out, "   first watcher to receive an update: p50 %s, p99 %s; lag of the others behind the first: p50 %s, p99 %s\n",
		ms(benchserver.Percentile(firsts, 0.5)), ms(benchserver.Percentile(firsts, 0.99)), ms(benchserver.Percentile(spread, 0.5)), ms(benchserver.Percentile(spread, 0.99)))
	fmt.Fprintf(out, "   %s\n", usage)
	if len(werrs) > 0 {
		fmt.Fprintf(out, "   watcher errors: %s\n", strings.Join(werrs, "; "))
	}
	if waitErr != nil {
		fmt.Fprintf(out, "   not all deliveries arrived: %v\n", waitErr)
	}
	shape := fmt.Sprintf("%d watchers x %d updates", o.watchers, o.updates)
	if o.watchConns > 1 {
		shape += fmt.Sprintf(" on %d conns", o.watchConns)
	}
	return []row{
		judged("watch events delivered, "+shape, fmt.Sprintf("%d/%d", delivered, want), "all", delivered == want && dup == 0),
		info("watch send-to-delivery p50, "+shape, ms(p50)),
		judged("watch send-to-delivery p99, "+shape, ms(p99), "<= 50 ms", p99 <= watchTarget && delivered == want),
		info("watch send-to-delivery max, "+shape, ms(worst)),
	}, nil
}

func patchSent(ctx context.Context, cs kubernetes.Interface, name string, seq int) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d/%d"}}}`, sentAnnotation, seq, time.Now().UnixNano())
	_, err := cs.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patch pod %q: %w", name, err)
	}
	return nil
}

// watcher records, for one watch, the latency of every update it sees.
type watcher struct {
	w    watch.Interface // set before run starts
	want int

	mu sync.Mutex
	// lat[seq] is the send-to-delivery time of update seq, -1 until seen.
	lat    []time.Duration
	n      int
	dup    int
	err    error
	warmed atomic.Bool
}

func newWatcher(wi watch.Interface, updates int) *watcher {
	w := &watcher{w: wi, want: updates, lat: make([]time.Duration, updates)}
	for i := range w.lat {
		w.lat[i] = -1
	}
	return w
}

func (w *watcher) run(warm, done *sync.WaitGroup) {
	finished := false
	finish := func() {
		if !finished {
			finished = true
			done.Done()
		}
	}
	defer finish()
	defer func() {
		if !w.warmed.Swap(true) {
			warm.Done()
		}
	}()
	defer func() {
		w.mu.Lock()
		n := w.n
		w.mu.Unlock()
		if n < w.want {
			w.fail(fmt.Errorf("watch ended after %d of %d updates", n, w.want))
		}
	}()
	for ev := range w.w.ResultChan() {
		now := time.Now()
		if ev.Type == watch.Error {
			w.fail(fmt.Errorf("watch error: %v", ev.Object))
			return
		}
		if ev.Type != watch.Modified {
			continue
		}
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok {
			w.fail(fmt.Errorf("unexpected object %T", ev.Object))
			return
		}
		seqS, nanoS, ok := strings.Cut(pod.Annotations[sentAnnotation], "/")
		seq, err1 := strconv.Atoi(seqS)
		nano, err2 := strconv.ParseInt(nanoS, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			w.fail(fmt.Errorf("pod %s: bad annotation %q", pod.Name, pod.Annotations[sentAnnotation]))
			return
		}
		if seq < 0 {
			if !w.warmed.Swap(true) {
				warm.Done()
			}
			continue
		}
		if seq >= w.want {
			w.fail(fmt.Errorf("pod %s: update %d out of range", pod.Name, seq))
			return
		}
		w.mu.Lock()
		if w.lat[seq] >= 0 {
			w.dup++
		} else {
			w.lat[seq] = now.Sub(time.Unix(0, nano))
			w.n++
		}
		n := w.n
		w.mu.Unlock()
		if n == w.want {
			finish()
		}
	}
}

// fail records the first error of a watch that has not seen every update;
// one that has is being stopped, and client-go reports that as an error.
func (w *watcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && w.n < w.want {
		w.err = err
	}
}

// waitGroup waits for wg, at most d.
func waitGroup(ctx context.Context, wg *sync.WaitGroup, d time.Duration) error {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return fmt.Errorf("timed out after %s", d)
	}
}
