package deployment

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

const (
	hashLabel            = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
	revisionAnnotation   = "deployment.kubernetes.io/revision"
	historyAnnotation    = "deployment.kubernetes.io/revision-history"
	desiredAnnotation    = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotaton = "deployment.kubernetes.io/max-replicas"
	changeCause          = "kubernetes.io/change-cause"
	lastAppliedConfig    = "kubectl.kubernetes.io/last-applied-configuration"
)

// templateHash names a pod template: an FNV-32a hash of its JSON form and
// the collision count, in the alphabet of generated names.
func templateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, _ := json.Marshal(withoutHash(t))
	h.Write(data)
	if collisionCount != nil {
		fmt.Fprintf(h, "/%d", *collisionCount)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// withoutHash returns t without the pod-template-hash label.
func withoutHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	delete(c.Labels, hashLabel)
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}

// sameTemplate reports whether two templates are equal apart from the
// pod-template-hash label.
func sameTemplate(a, b *corev1.PodTemplateSpec) bool {
	return equality.Semantic.DeepEqual(withoutHash(a), withoutHash(b))
}

// surgeAndUnavailable resolves a rolling update's bounds for replicas:
// surge rounds up, unavailable down, and both zero becomes unavailable 1
// so that a rollout can move at all.
func surgeAndUnavailable(d *appsv1.Deployment) (surge, unavailable int32) {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0, 0
	}
	replicas := int(replicasOf(d))
	ms, mu := intstr.FromString("25%"), intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			ms = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = *ru.MaxUnavailable
		}
	}
	s, err := intstr.GetScaledValueFromIntOrPercent(&ms, replicas, true)
	if err != nil {
		s = 0
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(&mu, replicas, false)
	if err != nil {
		u = 0
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(min(u, replicas))
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

// newRSReplicas is how far the new ReplicaSet may grow now in a rolling
// update: up to the desired count, within replicas+surge pods in total.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicasOf(d)
	cur := rsReplicas(newRS)
	if cur >= want {
		return want
	}
	surge, _ := surgeAndUnavailable(d)
	total := int32(0)
	for _, rs := range all {
		total += rsReplicas(rs)
	}
	room := want + surge - total
	if room <= 0 {
		return cur
	}
	return cur + min(room, want-cur)
}

// oldScaleDown returns how many replicas the old ReplicaSets may lose now
// without availability falling below replicas-maxUnavailable, counting the
// new ReplicaSet's pods that are not yet available as unavailable.
func oldScaleDown(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	_, unavailable := surgeAndUnavailable(d)
	minAvailable := replicasOf(d) - unavailable
	total := int32(0)
	for _, rs := range all {
		total += rsReplicas(rs)
	}
	newUnavailable := int32(0)
	if newRS != nil {
		newUnavailable = max(0, rsReplicas(newRS)-newRS.Status.AvailableReplicas)
	}
	return max(0, total-minAvailable-newUnavailable)
}

// revision reads a ReplicaSet's revision annotation (0 when absent).
func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	return n
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// byAge sorts oldest first, by creation then name.
func byAge(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i], rss[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// replicaSetAnnotations are the deployment's annotations the ReplicaSets
// carry (change-cause among them), without the ones kubectl or this
// controller keep for themselves.
func replicaSetAnnotations(d *appsv1.Deployment) map[string]string {
	out := map[string]string{}
	for k, v := range d.Annotations {
		if k == revisionAnnotation || k == historyAnnotation || k == lastAppliedConfig || k == desiredAnnotation || k == maxReplicasAnnotaton {
			continue
		}
		out[k] = v
	}
	return out
}

// computeStatus sums the ReplicaSets' counts into the deployment status.
// Conditions are carried over; setConditions decides them.
func computeStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	s := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	for _, rs := range all {
		s.Replicas += rs.Status.Replicas
		s.ReadyReplicas += rs.Status.ReadyReplicas
		s.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		s.UpdatedReplicas = newRS.Status.Replicas
	}
	s.UnavailableReplicas = max(0, replicasOf(d)-s.AvailableReplicas)
	return s
}

// complete reports whether the rollout is done: every wanted pod is new
// and available and no old pods remain.
func complete(d *appsv1.Deployment, s appsv1.DeploymentStatus) bool {
	r := replicasOf(d)
	return s.UpdatedReplicas == r && s.Replicas == r && s.AvailableReplicas == r && s.ObservedGeneration >= d.Generation
}

// progressed reports whether status moved towards the goal since old.
func progressed(old, s appsv1.DeploymentStatus) bool {
	return s.UpdatedReplicas > old.UpdatedReplicas || s.ReadyReplicas > old.ReadyReplicas ||
		s.AvailableReplicas > old.AvailableReplicas || s.Replicas < old.Replicas
}

func condition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition, keeping lastTransitionTime when the
// status does not change and lastUpdateTime when nothing changes.
func setCondition(s *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	setConditionAt(s, c, false)
}

// setConditionAt is setCondition; touch moves lastUpdateTime even when
// nothing else changes (progress was made).
func setConditionAt(s *appsv1.DeploymentStatus, c appsv1.DeploymentCondition, touch bool) {
	old := condition(s, c.Type)
	if old == nil {
		s.Conditions = append(s.Conditions, c)
		return
	}
	if old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
		if !touch && old.Reason == c.Reason && old.Message == c.Message {
			c.LastUpdateTime = old.LastUpdateTime
		}
	}
	*old = c
}

// deadlineExceeded reports whether the Progressing condition has not been
// updated for progressDeadlineSeconds, and how long is left otherwise.
func deadlineExceeded(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) (bool, time.Duration) {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return false, 0
	}
	c := condition(s, appsv1.DeploymentProgressing)
	if c == nil {
		return false, 0
	}
	if c.Reason == reasonDeadlineExceeded {
		return true, 0
	}
	end := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	if !now.Before(end) {
		return true, 0
	}
	return false, end.Sub(now)
}

func copyLabels(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

// proportionalSizes spreads a change of the total across ReplicaSets of
// the given sizes in proportion to their sizes, so that a deployment
// scaled mid-rollout keeps the ratio between old and new pods. The sizes
// returned sum to allowed; rounding leftovers go to the first entry
// (callers put the largest, or newest, first).
func proportionalSizes(sizes []int32, allowed int32) []int32 {
	out := append([]int32(nil), sizes...)
	var total int32
	for _, s := range sizes {
		total += s
	}
	if total == 0 || len(sizes) == 0 {
		return out
	}
	delta := allowed - total
	var used int32
	for i, s := range sizes {
		share := int32(int64(s) * int64(allowed) / int64(total))
		change := share - s
		// Never move past the total change.
		if delta > 0 {
			change = max(0, min(change, delta-used))
		} else {
			change = min(0, max(change, delta-used))
		}
		out[i] = s + change
		used += change
	}
	out[0] = max(0, out[0]+delta-used)
	return out
}
