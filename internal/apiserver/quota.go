package apiserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/admission/resourcequota"
	"github.com/bosun-sh/bosun/internal/storage"
)

// quotaRetries bounds how often an admission re-reads quotas whose status
// another request changed between reading and charging. Each round
// charges at least one of the racing requests, so it is far above the
// concurrency any namespace sees; requestTimeout bounds the loop too.
const quotaRetries = 1024

// admitQuota charges a new object (old nil) or an update to the
// ResourceQuotas of its namespace, as Kubernetes' ResourceQuota admission
// does: each quota that applies gets the object's usage added to
// status.used by a compare-and-swap on the quota before the object is
// written, so that concurrent requests cannot together pass a limit. A
// quota the object would take past a limit refuses it with 403. A dry run
// is checked but charges nothing.
//
// Updates are charged what they add, and only for Services (a new type,
// more ports) and PersistentVolumeClaims (a larger request): no other
// update changes what an object counts for. What an update frees is given
// back by the controller's recount.
//
// If the object's own write then fails, the quota stays charged until the
// quota controller recounts the namespace (an update retried after a
// conflict is charged again); a create whose name is taken is let through
// uncharged, to fail as it would anyway.
func (s *Server) admitQuota(ctx context.Context, rs *resource, obj, old runtime.Object, dry bool) error {
	qrs := s.byGVK[corev1.SchemeGroupVersion.WithKind("ResourceQuota")]
	if qrs == nil || !rs.stored.Namespaced {
		return nil
	}
	if gr := rs.gr(); old != nil && gr != resourcequota.Services && gr != resourcequota.PersistentVolumeClaims {
		return nil
	}
	m := accessor(obj)
	ns, name := m.GetNamespace(), m.GetName()
	// Most namespaces have no quota: find that out from the local member
	// before paying for a quorum read.
	resp, err := s.store.Client().Get(ctx, qrs.listPrefix(ns), clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("counting resource quotas of %s: %w", ns, err)
	}
	if resp.Count == 0 {
		return nil
	}
	if old == nil && !dry {
		if _, err := s.store.GetSerializable(ctx, rs.key(ns, name)); err == nil {
			return nil
		}
	}
	gr := rs.gr()
	charged := map[string]bool{}
	for attempt := 0; ; attempt++ {
		res, err := s.store.List(ctx, qrs.listPrefix(ns), storage.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing resource quotas of %s: %w", ns, err)
		}
		quotas := make([]*corev1.ResourceQuota, 0, len(res.KVs))
		revs := map[string]int64{}
		for _, kv := range res.KVs {
			o, err := qrs.decodeStored(kv)
			if err != nil {
				return err
			}
			q := o.(*corev1.ResourceQuota)
			if !charged[q.Name] {
				quotas = append(quotas, q)
				revs[q.Name] = kv.Rev
			}
		}
		charges, err := resourcequota.Check(quotas, gr, obj, old, time.Now())
		var refusal *resourcequota.Refusal
		if errors.As(err, &refusal) {
			return errForbidden(gr, name, refusal.Message)
		}
		if err != nil {
			return fmt.Errorf("measuring %s %s/%s against its quotas: %w", gr, ns, name, err)
		}
		if dry {
			return nil
		}
		lost := ""
		for _, c := range charges {
			next := c.Quota.DeepCopy()
			next.Status.Used = c.Used
			data, err := qrs.encodeStored(next)
			if err != nil {
				return err
			}
			_, err = s.store.Update(ctx, qrs.key(ns, next.Name), data, revs[next.Name])
			switch {
			case err == nil:
				charged[next.Name] = true
			case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
				// Charged or recounted by someone else, or deleted:
				// look again.
				lost = next.Name
			default:
				return fmt.Errorf("charging resource quota %s/%s: %w", ns, next.Name, err)
			}
		}
		if lost == "" {
			return nil
		}
		if attempt >= quotaRetries {
			return errConflict(qrs.gr(), lost, "the object has been modified; please apply your changes to the latest version and try again")
		}
	}
}
