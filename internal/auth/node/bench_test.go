package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

const (
	benchPods  = 5000
	benchNodes = 100
)

// benchCluster is 5,000 pods spread over 100 nodes and 50 namespaces.
// Pod i runs on node i%100 with its own Secret and ConfigMap, its
// namespace's shared pull secret and root CA ConfigMap, its own service
// account, and (one pod in four) a claim bound to a volume with a
// Secret of its own.
func benchCluster() []runtime.Object {
	var objs []runtime.Object
	for i := range benchPods {
		ns := fmt.Sprintf("ns-%d", i%50)
		spec := corev1.PodSpec{
			ServiceAccountName: fmt.Sprintf("sa-%d", i),
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
			Containers: []corev1.Container{{Name: "c", Env: secretEnv(fmt.Sprintf("secret-%d", i)),
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: fmt.Sprintf("cm-%d", i)}}}}}},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
			}}}}},
		}
		if i%4 == 0 {
			claim := fmt.Sprintf("data-%d", i)
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			objs = append(objs, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim}, Spec: corev1.PersistentVolumeSpec{
				ClaimRef: &corev1.ObjectReference{Namespace: ns, Name: claim},
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
					Driver: "d", NodePublishSecretRef: &corev1.SecretReference{Namespace: ns, Name: "pv-secret-" + claim},
				}},
			}})
		}
		objs = append(objs, pod(ns, fmt.Sprintf("pod-%d", i), fmt.Sprintf("node-%d", i%benchNodes), spec))
	}
	return objs
}

func nodeUser(i int) user.Info {
	return user.Info{Name: fmt.Sprintf("system:node:node-%d", i%benchNodes), Groups: []string{user.NodesGroup, user.AllAuthenticated}}
}

// BenchmarkAuthorize measures decisions over the 5,000-pod cluster and
// reports the median and 99th percentile of single decisions besides the
// mean. Each iteration asks about a different pod, so the lookups spread
// over the whole index as a cluster's requests do.
func BenchmarkAuthorize(b *testing.B) {
	t0 := time.Now()
	z, _ := start(b, benchCluster()...)
	b.Logf("index of %d pods on %d nodes built in %v", benchPods, benchNodes, time.Since(t0))
	secretOf := func(i int) authorizer.Attributes {
		return authorizer.Attributes{Verb: "get", ResourceRequest: true, Resource: "secrets", Namespace: fmt.Sprintf("ns-%d", i%50), Name: fmt.Sprintf("secret-%d", i)}
	}
	// Precomputed so the loop measures decisions, not Sprintf.
	type req struct {
		attrs authorizer.Attributes
		want  authorizer.Decision
	}
	cases := []struct {
		name  string
		build func(i int) req
	}{
		{"secret-allowed", func(i int) req {
			a := secretOf(i)
			a.User = nodeUser(i)
			return req{a, authorizer.Allow}
		}},
		{"secret-other-node", func(i int) req {
			a := secretOf(i)
			a.User = nodeUser(i + 1)
			return req{a, authorizer.NoOpinion}
		}},
		{"shared-configmap", func(i int) req {
			return req{authorizer.Attributes{User: nodeUser(i), Verb: "watch", ResourceRequest: true, Resource: "configmaps", Namespace: fmt.Sprintf("ns-%d", i%50), Name: "kube-root-ca.crt"}, authorizer.Allow}
		}},
		{"volume-secret", func(i int) req {
			i -= i % 4
			return req{authorizer.Attributes{User: nodeUser(i), Verb: "get", ResourceRequest: true, Resource: "secrets", Namespace: fmt.Sprintf("ns-%d", i%50), Name: fmt.Sprintf("pv-secret-data-%d", i)}, authorizer.Allow}
		}},
		{"token", func(i int) req {
			return req{authorizer.Attributes{User: nodeUser(i), Verb: "create", ResourceRequest: true, Resource: "serviceaccounts", Subresource: "token", Namespace: fmt.Sprintf("ns-%d", i%50), Name: fmt.Sprintf("sa-%d", i)}, authorizer.Allow}
		}},
		{"static-rule", func(i int) req {
			return req{authorizer.Attributes{User: nodeUser(i), Verb: "watch", ResourceRequest: true, Resource: "pods"}, authorizer.Allow}
		}},
		{"not-a-node", func(i int) req {
			a := secretOf(i)
			a.User = user.Info{Name: "alice", Groups: []string{user.AllAuthenticated}}
			return req{a, authorizer.NoOpinion}
		}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		reqs := make([]req, benchPods)
		for i := range reqs {
			reqs[i] = tc.build(i)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<20)
			i := 0
			for b.Loop() {
				r := &reqs[i%benchPods]
				start := time.Now()
				d, reason, _ := z.Authorize(ctx, r.attrs)
				lat = append(lat, time.Since(start))
				if d != r.want {
					b.Fatalf("%+v: decision %v (%s), want %v", r.attrs, d, reason, r.want)
				}
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
