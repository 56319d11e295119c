package resourcequota

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Refusal is a quota's refusal of an object. Its message is what
// Kubernetes puts after `pods "p" is forbidden: `.
type Refusal struct{ Message string }

func (r *Refusal) Error() string { return r.Message }

func refuse(format string, a ...any) error { return &Refusal{Message: fmt.Sprintf(format, a...)} }

// Charge is one quota an admitted object is charged to, and the quota's
// status.used with the charge added.
type Charge struct {
	Quota *corev1.ResourceQuota
	Used  corev1.ResourceList
}

// Hard is what the quota limits for admission: status.hard, as its
// controller last confirmed it. A quota the controller has not yet seen
// limits nothing, as in Kubernetes.
func Hard(q *corev1.ResourceQuota) corev1.ResourceList {
	return q.Status.Hard
}

// Check decides whether obj, of gr, may be created (old nil) or updated
// from old under quotas, which must all be in obj's namespace. It returns
// the quotas to charge, or a *Refusal with Kubernetes' text:
//
//   - "failed quota: q: must specify ..." when a tracked cpu or memory is
//     not set on every container;
//   - "status unknown for quota: q, resources: pods" when the quota's
//     controller has not yet measured a resource its status.hard tracks
//     (a quota with no status.hard yet limits nothing);
//   - "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
//     when used + requested > hard for any resource, listing just those,
//     sorted by name.
//
// Quotas are looked at in the order given; the first refusal wins. Any
// other error means obj could not be measured.
func Check(quotas []*corev1.ResourceQuota, gr schema.GroupResource, obj, old runtime.Object, now time.Time) ([]Charge, error) {
	var applying []*corev1.ResourceQuota
	for _, q := range quotas {
		hard := Hard(q)
		tracked := Matching(gr, names(hard))
		if len(tracked) == 0 {
			continue
		}
		in, err := InScope(&q.Spec, gr, obj)
		if err != nil {
			return nil, fmt.Errorf("quota %s: %w", q.Name, err)
		}
		if !in {
			continue
		}
		if err := Constraints(gr, tracked, obj); err != nil {
			return nil, refuse("failed quota: %s: %v", q.Name, err)
		}
		var unknown []corev1.ResourceName
		for _, n := range tracked {
			if _, ok := q.Status.Used[n]; !ok {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return nil, refuse("status unknown for quota: %s, resources: %s", q.Name, joinNames(unknown))
		}
		applying = append(applying, q)
	}
	if len(applying) == 0 {
		return nil, nil
	}
	delta, err := Usage(gr, obj, now)
	if err != nil {
		return nil, err
	}
	if neg := negative(delta); len(neg) > 0 {
		return nil, refuse("quota usage is negative for resource(s): %s", joinNames(neg))
	}
	if old != nil {
		prev, err := Usage(gr, old, now)
		if err != nil {
			return nil, err
		}
		// An update is charged only what it adds; what it frees is
		// returned by the controller's recount.
		for n, q := range delta {
			if p, ok := prev[n]; ok {
				q.Sub(p)
				if q.Sign() < 0 {
					q.Set(0)
				}
				delta[n] = q
			}
		}
	}
	var charges []Charge
	for _, q := range applying {
		hard := q.Status.Hard
		requested := corev1.ResourceList{}
		for n, v := range delta {
			if _, ok := hard[n]; ok && !v.IsZero() {
				requested[n] = v
			}
		}
		if len(requested) == 0 {
			continue
		}
		used := q.Status.Used.DeepCopy()
		var exceeded []corev1.ResourceName
		for n, v := range requested {
			total := used[n]
			total.Add(v)
			used[n] = total
			if total.Cmp(hard[n]) > 0 {
				exceeded = append(exceeded, n)
			}
		}
		if len(exceeded) > 0 {
			return nil, refuse("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				q.Name, listed(requested, exceeded), listed(q.Status.Used, exceeded), listed(hard, exceeded))
		}
		charges = append(charges, Charge{Quota: q, Used: used})
	}
	return charges, nil
}

func names(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func negative(l corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for n, q := range l {
		if q.Sign() < 0 {
			out = append(out, n)
		}
	}
	return out
}

// joinNames lists names sorted, comma-separated.
func joinNames(ns []corev1.ResourceName) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = string(n)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// listed renders the entries of l named in only as "a=1,b=2", sorted by
// name; names l lacks are left out.
func listed(l corev1.ResourceList, only []corev1.ResourceName) string {
	var parts []string
	for _, n := range names(l) {
		for _, o := range only {
			if n == o {
				v := l[n]
				parts = append(parts, string(n)+"="+v.String())
			}
		}
	}
	return strings.Join(parts, ",")
}
