package disruption

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appslisters "k8s.io/client-go/listers/apps/v1"

	"github.com/bosun-sh/bosun/internal/controller"
)

// deletionTimeout is how long an entry of status.disruptedPods keeps an
// evicted pod out of currentHealthy while the pod is not yet seen being
// deleted. After that the eviction is presumed lost.
const deletionTimeout = 2 * time.Minute

// Condition reasons, as Kubernetes names them.
const (
	reasonSufficientPods   = "SufficientPods"
	reasonInsufficientPods = "InsufficientPods"
	reasonSyncFailed       = "SyncFailed"
)

// scaleFunc returns the UID and spec.replicas of the controller of pod.
// ok is false for a pod without a controller, which counts towards no
// scale.
type scaleFunc func(pod *corev1.Pod) (uid types.UID, replicas int32, ok bool, err error)

// budget is the arithmetic of one PDB over its matching pods.
type budget struct {
	expected, desired, current int32
	// disrupted are the entries of status.disruptedPods still in effect.
	disrupted map[string]metav1.Time
	// recheck is when the earliest kept entry expires, zero when none.
	recheck time.Time
	// unmanaged counts pods without a controller, which a scale-based
	// budget cannot account for.
	unmanaged int
}

// compute derives the budget of pdb from its matching pods at now.
func compute(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale scaleFunc, now time.Time) (budget, error) {
	var b budget
	switch spec := pdb.Spec; {
	case spec.MaxUnavailable != nil:
		expected, unmanaged, err := expectedScale(pods, scale)
		if err != nil {
			return b, err
		}
		b.unmanaged = unmanaged
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return b, err
		}
		b.expected, b.desired = expected, max(0, expected-int32(maxUnavailable))
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		b.expected, b.desired = int32(len(pods)), spec.MinAvailable.IntVal
	case spec.MinAvailable != nil:
		expected, unmanaged, err := expectedScale(pods, scale)
		if err != nil {
			return b, err
		}
		b.unmanaged = unmanaged
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(expected), true)
		if err != nil {
			return b, err
		}
		b.expected, b.desired = expected, int32(minAvailable)
	}
	b.disrupted, b.recheck = keptDisruptions(pdb.Status.DisruptedPods, pods, now)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, ok := b.disrupted[p.Name]; ok {
			continue
		}
		if controller.PodReady(p) {
			b.current++
		}
	}
	return b, nil
}

// allowed is the number of further evictions the budget permits.
func (b budget) allowed() int32 {
	if b.expected <= 0 {
		return 0
	}
	return max(0, b.current-b.desired)
}

// expectedScale sums the replicas of the distinct controllers of pods
// and counts the pods that have none.
func expectedScale(pods []*corev1.Pod, scale scaleFunc) (sum int32, unmanaged int, err error) {
	seen := map[types.UID]bool{}
	for _, p := range pods {
		uid, n, ok, err := scale(p)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			unmanaged++
			continue
		}
		if !seen[uid] {
			seen[uid] = true
			sum += n
		}
	}
	return sum, unmanaged, nil
}

// keptDisruptions returns the entries of disrupted whose pod still
// matches, is not yet being deleted and was evicted less than
// deletionTimeout ago, with the earliest time one of them expires.
func keptDisruptions(disrupted map[string]metav1.Time, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Time) {
	if len(disrupted) == 0 {
		return nil, time.Time{}
	}
	var kept map[string]metav1.Time
	var recheck time.Time
	for _, p := range pods {
		at, ok := disrupted[p.Name]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		expires := at.Add(deletionTimeout)
		if !expires.After(now) {
			continue
		}
		if kept == nil {
			kept = map[string]metav1.Time{}
		}
		kept[p.Name] = at
		if recheck.IsZero() || expires.Before(recheck) {
			recheck = expires
		}
	}
	return kept, recheck
}

// nextStatus returns pdb's status after a sync that computed b, or failed
// with err.
func nextStatus(pdb *policyv1.PodDisruptionBudget, b budget, err error) policyv1.PodDisruptionBudgetStatus {
	s := *pdb.Status.DeepCopy()
	if err != nil {
		s.DisruptionsAllowed = 0
		apimeta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
			Reason: reasonSyncFailed, Message: err.Error(), ObservedGeneration: pdb.Generation,
		})
		return s
	}
	s.ObservedGeneration = pdb.Generation
	s.ExpectedPods, s.DesiredHealthy, s.CurrentHealthy = b.expected, b.desired, b.current
	s.DisruptionsAllowed = b.allowed()
	s.DisruptedPods = b.disrupted
	c := metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
		Reason: reasonSufficientPods, ObservedGeneration: pdb.Generation,
	}
	if s.DisruptionsAllowed == 0 {
		c.Status, c.Reason = metav1.ConditionFalse, reasonInsufficientPods
	}
	apimeta.SetStatusCondition(&s.Conditions, c)
	return s
}

// scales finds the scale of a pod's controller through the shared
// informers' listers. ReplicationControllers are not served by bosun, so
// a pod claiming one is looked up live and fails as in Kubernetes when
// it cannot be found.
type scales struct {
	rs     appslisters.ReplicaSetLister
	deploy appslisters.DeploymentLister
	sts    appslisters.StatefulSetLister
	rc     func(ns, name string) (*corev1.ReplicationController, error)
}

var (
	rsKind     = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	deployKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
	stsKind    = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	rcKind     = corev1.SchemeGroupVersion.WithKind("ReplicationController")
)

func (s scales) of(p *corev1.Pod) (types.UID, int32, bool, error) {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "", 0, false, nil
	}
	notFound := fmt.Errorf("found no controllers for pod %q", p.Name)
	ns := p.Namespace
	switch ref.APIVersion + "/" + ref.Kind {
	case rsKind.GroupVersion().String() + "/" + rsKind.Kind:
		rs, err := s.rs.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false, lookupErr(err, notFound)
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == deployKind.Kind && dref.APIVersion == deployKind.GroupVersion().String() {
			d, err := s.deploy.Deployments(ns).Get(dref.Name)
			if err != nil || d.UID != dref.UID {
				return "", 0, false, lookupErr(err, notFound)
			}
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case deployKind.GroupVersion().String() + "/" + deployKind.Kind:
		d, err := s.deploy.Deployments(ns).Get(ref.Name)
		if err != nil || d.UID != ref.UID {
			return "", 0, false, lookupErr(err, notFound)
		}
		return d.UID, replicas(d.Spec.Replicas), true, nil
	case stsKind.GroupVersion().String() + "/" + stsKind.Kind:
		ss, err := s.sts.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, false, lookupErr(err, notFound)
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	case rcKind.GroupVersion().String() + "/" + rcKind.Kind:
		if s.rc == nil {
			return "", 0, false, notFound
		}
		rc, err := s.rc(ns, ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, false, lookupErr(err, notFound)
		}
		return rc.UID, replicas(rc.Spec.Replicas), true, nil
	}
	return "", 0, false, notFound
}

// lookupErr keeps transient errors (to retry) apart from a controller
// that does not exist (a sync failure reported in the condition).
func lookupErr(err, notFound error) error {
	if err == nil || apierrors.IsNotFound(err) {
		return notFound
	}
	return err
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
