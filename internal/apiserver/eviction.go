package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/storage"
)

// evictionRetries bounds how often an eviction re-reads a budget whose
// status another writer changed under it.
const evictionRetries = 8

// maxDisruptedPods bounds status.disruptedPods: past it the disruption
// controller is not keeping up, and evictions are refused rather than
// growing the budget object without limit.
const maxDisruptedPods = 2000

// evict serves pods/eviction: it deletes the pod with the eviction's
// options if the pod's PodDisruptionBudget allows one more disruption,
// and records the disruption in the budget's status first so that
// concurrent evictions cannot both spend the last one.
func (h *handler) evict(ctx context.Context, r *http.Request) (runtime.Object, error) {
	var ev policyv1.Eviction
	if err := h.decodeBody(r, &ev); err != nil {
		return nil, err
	}
	if ev.Name != "" && ev.Name != h.t.name {
		return nil, errBadRequest("name in URL does not match name in Eviction object")
	}
	if err := validDryRun(r.URL.Query()); err != nil {
		return nil, err
	}
	opts := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions.DeepCopy()
	}
	if dryRun(r.URL.Query()) && len(opts.DryRun) == 0 {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			return nil, errBadRequest("dryRun may only be set to All, got %q", d)
		}
	}
	ns, name := h.t.namespace, h.t.name
	if err := h.s.admitNodeWrite(ctx, h.rs.gr(), "create", "eviction", ns, name, &ev, nil); err != nil {
		return nil, err
	}
	var pod *corev1.Pod
	for attempt := 0; ; attempt++ {
		obj, _, err := h.rs.get(ctx, h.s.store, ns, name)
		if err != nil {
			return nil, err
		}
		pod = obj.(*corev1.Pod)
		// A pod the preconditions do not name spends no budget.
		if err := checkPreconditions(h.rs, pod, opts.Preconditions); err != nil {
			return nil, err
		}
		err = h.s.spendDisruption(ctx, pod, &opts)
		if errors.Is(err, errBudgetChanged) && attempt < evictionRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if len(opts.DryRun) == 0 && pod.DeletionTimestamp == nil && !podFinished(pod) {
		if err := h.s.markDisruptionTarget(ctx, h.rs, ns, name, &opts); err != nil {
			return nil, err
		}
	}
	if _, _, err := h.s.deleteObject(ctx, h.rs, ns, name, opts); err != nil {
		return nil, err
	}
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	return &st, nil
}

// markDisruptionTarget records on a running pod, as Kubernetes does, that
// it is being deleted by an eviction, so that its owner (a Job's failure
// policy, a user reading the status) can tell this from a crash. The
// delete's preconditions are checked here and then moved to the updated
// pod, which the deletion must still find unchanged.
func (s *Server) markDisruptionTarget(ctx context.Context, rs *resource, ns, name string, opts *metav1.DeleteOptions) error {
	pre := opts.Preconditions
	updated, err := s.updateObject(ctx, rs, ns, name, "status", false, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if err := checkPreconditions(rs, pod, pre); err != nil {
			return nil, err
		}
		pod.ResourceVersion = ""
		if pod.DeletionTimestamp != nil || podFinished(pod) || hasPodCondition(pod, corev1.DisruptionTarget) {
			return pod, nil
		}
		setPodCondition(pod, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting",
		})
		return pod, nil
	})
	if err != nil {
		return err
	}
	if pre != nil && pre.ResourceVersion != nil {
		rv := accessor(updated).GetResourceVersion()
		pre.ResourceVersion = &rv
	}
	return nil
}

// checkPreconditions refuses a pod the delete options' preconditions do
// not match, with the same answer the delete itself would give.
func checkPreconditions(rs *resource, pod *corev1.Pod, pre *metav1.Preconditions) error {
	switch {
	case pre == nil:
	case pre.UID != nil && *pre.UID != pod.UID:
		return errConflict(rs.gr(), pod.Name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *pre.UID, pod.UID))
	case pre.ResourceVersion != nil && *pre.ResourceVersion != pod.ResourceVersion:
		return errConflict(rs.gr(), pod.Name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *pre.ResourceVersion, pod.ResourceVersion))
	}
	return nil
}

func hasPodCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// errBudgetChanged means the budget's status changed between reading it
// and writing the disruption: the eviction starts over.
var errBudgetChanged = errors.New("disruption budget changed")

// spendDisruption decides whether pod may be deleted now. It returns nil
// when the pod needs no budget, or after recording the disruption in its
// budget's status; opts may gain a precondition pinning the pod's state
// the decision was made on.
func (s *Server) spendDisruption(ctx context.Context, pod *corev1.Pod, opts *metav1.DeleteOptions) error {
	// Pods that are not running or already going away spend no budget.
	switch {
	case pod.DeletionTimestamp != nil, podFinished(pod), pod.Status.Phase == corev1.PodPending:
		return nil
	}
	pdbRS := s.byGVK[policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")]
	if pdbRS == nil {
		return nil
	}
	pdbs, err := s.budgetsFor(ctx, pdbRS, pod)
	if err != nil {
		return err
	}
	switch len(pdbs) {
	case 0:
		return nil
	case 1:
	default:
		return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
	}
	pdb := pdbs[0]
	if !podReady(pod) {
		// An unready pod is not counted healthy, so deleting it costs the
		// budget nothing when the policy says so, or when the budget is
		// met without it. The precondition makes sure the pod is still the
		// unready one this was decided on.
		policy := pdb.Spec.UnhealthyPodEvictionPolicy
		always := policy != nil && *policy == policyv1.AlwaysAllow
		if always || (pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0) {
			if opts.Preconditions == nil {
				opts.Preconditions = &metav1.Preconditions{}
			}
			if opts.Preconditions.ResourceVersion == nil {
				rv := pod.ResourceVersion
				opts.Preconditions.ResourceVersion = &rv
			}
			return nil
		}
	}
	if err := budgetAllows(pdb); err != nil {
		return err
	}
	return s.recordDisruption(ctx, pdbRS, pdb, pod.Name, len(opts.DryRun) > 0)
}

// budgetsFor returns the budgets in pod's namespace whose selector
// matches it.
func (s *Server) budgetsFor(ctx context.Context, rs *resource, pod *corev1.Pod) ([]*policyv1.PodDisruptionBudget, error) {
	res, err := s.store.List(ctx, rs.listPrefix(pod.Namespace), storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*policyv1.PodDisruptionBudget
	for _, kv := range res.KVs {
		obj, err := rs.decodeStored(kv)
		if err != nil {
			return nil, err
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		// A nil selector matches no pod, an empty one every pod.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

// budgetAllows refuses an eviction the budget's status does not permit.
func budgetAllows(pdb *policyv1.PodDisruptionBudget) error {
	st := pdb.Status
	switch {
	case st.ObservedGeneration < pdb.Generation:
		return errTooManyEvictions(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	case st.DisruptionsAllowed < 0:
		return errForbidden(policyv1.Resource("poddisruptionbudgets"), pdb.Name, "pdb disruptions allowed is negative")
	case len(st.DisruptedPods) > maxDisruptedPods:
		return errForbidden(policyv1.Resource("poddisruptionbudgets"), pdb.Name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
	case st.DisruptionsAllowed == 0:
		return errTooManyEvictions(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	return nil
}

// errTooManyEvictions is the 429 of an eviction the budget refuses. Only
// a budget the controller has not yet processed suggests a retry delay:
// without one, client-go hands the 429 straight to its caller (kubectl
// drain waits 5 s and tries again) instead of retrying on its own.
func errTooManyEvictions(retryAfter int32, cause string) error {
	se := newStatus(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "Cannot evict pod as it would violate the pod's disruption budget.")
	se.s.Details = &metav1.StatusDetails{
		RetryAfterSeconds: retryAfter,
		Causes:            []metav1.StatusCause{{Type: policyv1.DisruptionBudgetCause, Message: cause}},
	}
	return se
}

// recordDisruption spends one disruption of pdb on the pod, with pdb's
// resourceVersion as precondition, so that of two evictions racing for
// the last disruption one sees errBudgetChanged and looks again.
func (s *Server) recordDisruption(ctx context.Context, rs *resource, pdb *policyv1.PodDisruptionBudget, podName string, dry bool) error {
	_, err := s.updateObject(ctx, rs, pdb.Namespace, pdb.Name, "status", dry, func(runtime.Object) (runtime.Object, error) {
		next := pdb.DeepCopy()
		next.Status.DisruptionsAllowed--
		if next.Status.DisruptionsAllowed == 0 {
			apimeta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{
				Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
				Reason: policyv1.InsufficientPodsReason, ObservedGeneration: next.Status.ObservedGeneration,
			})
		}
		if next.Status.DisruptedPods == nil {
			next.Status.DisruptedPods = map[string]metav1.Time{}
		}
		next.Status.DisruptedPods[podName] = metav1.NewTime(time.Now().Truncate(time.Second))
		return next, nil
	})
	var se *statusError
	if (errors.As(err, &se) && se.s.Code == http.StatusConflict) || errors.Is(err, storage.ErrConflict) {
		// Wrapped so that, once retries run out, the client sees the 409.
		return fmt.Errorf("%w: %w", errBudgetChanged, err)
	}
	return err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
