package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// namespace is where every scenario puts its objects.
const namespace = "bench"

func createNamespace(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %q: %w", namespace, err)
	}
	return nil
}

// benchConfigMap is a small ConfigMap: two short keys.
func benchConfigMap(i int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%06d", i), Namespace: namespace, Labels: map[string]string{"app": "bench"}},
		Data:       map[string]string{"index": fmt.Sprint(i), "mode": "bench"},
	}
}

// benchPod is what a Deployment's pod looks like in a real cluster: labels,
// annotations, an app container with env, resources, ports, probes and
// mounts, and a logging sidecar. Its JSON is about 3 KiB. It names a
// scheduler that does not exist, so the built-in scheduler leaves it alone:
// the figures are the API server's, not those of a scheduler retrying
// thousands of pods on a cluster without nodes.
func benchPod(i int) *corev1.Pod {
	name := fmt.Sprintf("web-7d9f8c6b5-%06d", i)
	env := []corev1.EnvVar{
		{Name: "APP_ENV", Value: "production"},
		{Name: "LOG_LEVEL", Value: "info"},
		{Name: "LISTEN_ADDR", Value: ":8080"},
		{Name: "DATABASE_URL", Value: "postgres://app@db.bench.svc.cluster.local:5432/app?sslmode=require"},
		{Name: "CACHE_URL", Value: "redis://cache.bench.svc.cluster.local:6379/0"},
		{Name: "FEATURE_FLAGS", Value: "checkout-v2,search-suggest,new-header"},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc:4317"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}
	probe := func(path string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1,
		}
	}
	res := func(cpu, mem, cpuLimit, memLimit string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLimit), corev1.ResourceMemory: resource.MustParse(memLimit)},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod",
				"app.kubernetes.io/version": "2.14.1", "app.kubernetes.io/component": "frontend",
				"app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d9f8c6b5", "team": "storefront",
			},
			Annotations: map[string]string{
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics",
				"kubectl.kubernetes.io/restartedAt": "2026-11-30T09:12:44Z",
			},
		},
		Spec: corev1.PodSpec{
			SchedulerName:                 "bench",
			ServiceAccountName:            "web",
			TerminationGracePeriodSeconds: new(int64(30)),
			NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(300))},
			},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod"}},
			}},
			Containers: []corev1.Container{
				{
					Name:    "web",
					Image:   "registry.example.com/shop/web:2.14.1@sha256:4b1c0e6a8f3d2b7c9e5a1f0d8c6b4a2e9f7d5c3b1a0e8f6d4c2b0a9e7f5d3c1b",
					Command: []string{"/app/web"},
					Args:    []string{"--config=/etc/web/config.yaml", "--metrics-addr=:9090"},
					Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
						{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
					},
					Env:            env,
					Resources:      res("250m", "256Mi", "1", "512Mi"),
					LivenessProbe:  probe("/healthz", 10),
					ReadinessProbe: probe("/readyz", 2),
					VolumeMounts: []corev1.VolumeMount{
						{Name: "config", MountPath: "/etc/web", ReadOnly: true},
						{Name: "tmp", MountPath: "/tmp"},
					},
					ImagePullPolicy: corev1.PullIfNotPresent,
				},
				{
					Name:      "log-shipper",
					Image:     "registry.example.com/infra/fluent-bit:3.1.4",
					Args:      []string{"--config=/fluent-bit/etc/fluent-bit.conf"},
					Env:       []corev1.EnvVar{{Name: "OUTPUT_HOST", Value: "logs.observability.svc"}},
					Resources: res("50m", "64Mi", "200m", "128Mi"),
					VolumeMounts: []corev1.VolumeMount{
						{Name: "tmp", MountPath: "/var/log/app", ReadOnly: true},
					},
				},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}
