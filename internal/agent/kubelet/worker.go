package kubelet

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// resync is how often a pod is synced with nothing having changed, so that
// ConfigMap and Secret volumes follow their objects.
const resync = time.Minute

// worker syncs one pod, one sync at a time; wakes coalesce.
type worker struct {
	k         *Kubelet
	uid       types.UID
	namespace string
	name      string

	wakeCh chan struct{}
	stopCh chan struct{}
	once   sync.Once
}

func newWorker(k *Kubelet, uid types.UID, namespace, name string) *worker {
	return &worker{k: k, uid: uid, namespace: namespace, name: name, wakeCh: make(chan struct{}, 1), stopCh: make(chan struct{})}
}

func (w *worker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *worker) stop() { w.once.Do(func() { close(w.stopCh) }) }

func (w *worker) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.stopCh
		cancel()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-w.stopCh:
			return
		case <-w.wakeCh:
		case <-timer.C:
		}
		after, done := w.k.syncPod(ctx, w.uid, w.namespace, w.name)
		if done {
			w.k.forget(w.uid)
			return
		}
		if after <= 0 || after > resync {
			after = resync
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(after)
	}
}
