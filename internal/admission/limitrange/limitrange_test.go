package limitrange

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// list parses "cpu=1,memory=64Mi".
func list(s string) corev1.ResourceList {
	if s == "" {
		return nil
	}
	l := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		l[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return l
}

func show(l corev1.ResourceList) string {
	var parts []string
	for _, k := range sortedNames(l) {
		q := l[k]
		parts = append(parts, string(k)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

func ptr[T any](v T) *T { return &v }

func rangeOf(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func container(name, requests, limits string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: list(requests), Limits: list(limits)}}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name             string
		item             corev1.LimitRangeItem
		c                corev1.Container
		wantReq, wantLim string
		wantAnnotation   string
	}{
		{
			name:           "default and defaultRequest",
			item:           corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("cpu=500m,memory=128Mi"), DefaultRequest: list("cpu=100m")},
			c:              container("c", "", ""),
			wantReq:        "cpu=100m,memory=128Mi",
			wantLim:        "cpu=500m,memory=128Mi",
			wantAnnotation: "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c",
		},
		{
			name:           "defaultRequest falls back to default limit",
			item:           corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("cpu=1")},
			c:              container("c", "", ""),
			wantReq:        "cpu=1",
			wantLim:        "cpu=1",
			wantAnnotation: "LimitRanger plugin set: cpu request for container c; cpu limit for container c",
		},
		{
			name:           "default limit falls back to max, request to min",
			item:           corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=2"), Min: list("memory=10Mi")},
			c:              container("c", "", ""),
			wantReq:        "cpu=2,memory=10Mi",
			wantLim:        "cpu=2",
			wantAnnotation: "LimitRanger plugin set: cpu, memory request for container c; cpu limit for container c",
		},
		{
			name:    "explicit values kept",
			item:    corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("cpu=1"), DefaultRequest: list("cpu=100m")},
			c:       container("c", "cpu=200m", "cpu=300m"),
			wantReq: "cpu=200m",
			wantLim: "cpu=300m",
		},
		{
			name:    "lone limit becomes the request",
			item:    corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("cpu=1"), DefaultRequest: list("cpu=100m")},
			c:       container("c", "", "cpu=50m"),
			wantReq: "cpu=50m",
			wantLim: "cpu=50m",
		},
		{
			name:    "pod item does not default",
			item:    corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu=4")},
			c:       container("c", "cpu=1", "cpu=1"),
			wantReq: "cpu=1",
			wantLim: "cpu=1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{tc.c}}}
			if err := Apply([]*corev1.LimitRange{rangeOf(tc.item)}, pod); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			r := pod.Spec.Containers[0].Resources
			if got := show(r.Requests); got != tc.wantReq {
				t.Errorf("requests %s, want %s", got, tc.wantReq)
			}
			if got := show(r.Limits); got != tc.wantLim {
				t.Errorf("limits %s, want %s", got, tc.wantLim)
			}
			if got := pod.Annotations[Annotation]; got != tc.wantAnnotation {
				t.Errorf("annotation %q, want %q", got, tc.wantAnnotation)
			}
		})
	}
}

func TestDefaultsInitContainerAnnotation(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{container("i", "", "")},
		Containers:     []corev1.Container{container("c", "cpu=1", "")},
	}}
	lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("cpu=2"), DefaultRequest: list("cpu=100m")})
	if err := Apply([]*corev1.LimitRange{lr}, pod); err != nil {
		t.Fatal(err)
	}
	want := "LimitRanger plugin set: cpu limit for container c; cpu request for init container i; cpu limit for init container i"
	if got := pod.Annotations[Annotation]; got != want {
		t.Errorf("annotation\n got %q\nwant %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name       string
		item       corev1.LimitRangeItem
		containers []corev1.Container
		init       []corev1.Container
		want       string
	}{
		{
			name:       "container max limit",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=500m"), Default: list("cpu=100m")},
			containers: []corev1.Container{container("c", "cpu=200m", "cpu=1")},
			want:       "maximum cpu usage per Container is 500m, but limit is 1",
		},
		{
			name:       "container max within",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=500m")},
			containers: []corev1.Container{container("c", "cpu=0.5", "cpu=500m")},
		},
		{
			name:       "container min request",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("memory=64Mi")},
			containers: []corev1.Container{container("c", "memory=32Mi", "memory=128Mi")},
			want:       "minimum memory usage per Container is 64Mi, but request is 32Mi",
		},
		{
			name:       "container min limit",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("memory=64Mi")},
			containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: list("memory=64Mi"), Limits: list("memory=32Mi")}}},
			want:       "minimum memory usage per Container is 64Mi, but limit is 32Mi",
		},
		{
			name:       "ratio exceeded",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu=2")},
			containers: []corev1.Container{container("c", "cpu=100m", "cpu=500m")},
			want:       "cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000",
		},
		{
			name:       "fractional ratio",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu=1500m")},
			containers: []corev1.Container{container("c", "cpu=100m", "cpu=150m")},
		},
		{
			name:       "ratio without limit",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("memory=2")},
			containers: []corev1.Container{container("c", "memory=1Gi", "")},
			want:       "memory max limit to request ratio per Container is 2, but no limit is specified or limit is 0",
		},
		{
			name:       "init container checked",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=1")},
			containers: []corev1.Container{container("c", "cpu=1", "cpu=1")},
			init:       []corev1.Container{container("i", "cpu=1", "cpu=2")},
			want:       "maximum cpu usage per Container is 1, but limit is 2",
		},
		{
			name:       "pod max sums containers",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu=1")},
			containers: []corev1.Container{container("a", "cpu=600m", "cpu=600m"), container("b", "cpu=600m", "cpu=600m")},
			want:       "maximum cpu usage per Pod is 1, but limit is 1200m",
		},
		{
			name:       "pod max takes the larger init container",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("memory=1Gi")},
			containers: []corev1.Container{container("a", "memory=100Mi", "memory=100Mi")},
			init:       []corev1.Container{container("i", "memory=2Gi", "memory=2Gi")},
			want:       "maximum memory usage per Pod is 1Gi, but limit is 2Gi",
		},
		{
			name:       "pod max counts sidecars with later init containers",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu=1")},
			containers: []corev1.Container{container("a", "cpu=100m", "cpu=100m")},
			init: []corev1.Container{
				func() corev1.Container {
					c := container("sidecar", "cpu=300m", "cpu=300m")
					c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
					return c
				}(),
				container("i", "cpu=800m", "cpu=800m"),
			},
			want: "maximum cpu usage per Pod is 1, but limit is 1100m",
		},
		{
			name:       "pod min without request",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypePod, Min: list("cpu=100m")},
			containers: []corev1.Container{container("a", "", "")},
			want:       "minimum cpu usage per Pod is 100m.  No request is specified",
		},
		{
			name:       "pod max without limit",
			item:       corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu=2")},
			containers: []corev1.Container{container("a", "cpu=1", "")},
			want:       "maximum cpu usage per Pod is 2.  No limit is specified",
		},
		{
			name: "several errors aggregate",
			item: corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=1,memory=1Gi")},
			containers: []corev1.Container{
				container("a", "cpu=1,memory=1Gi", "cpu=2,memory=2Gi"),
			},
			want: "[maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 2Gi]",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init}}
			err := Apply([]*corev1.LimitRange{rangeOf(tc.item)}, pod)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("error\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDefaultsThenValidate(t *testing.T) {
	// A default limit above max is the range's own mistake, but the pod is
	// still judged by what it ends up with.
	lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=500m"), Default: list("cpu=1")})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{container("c", "", "")}}}
	err := Apply([]*corev1.LimitRange{lr, nil}, pod)
	if err == nil || err.Error() != "maximum cpu usage per Container is 500m, but limit is 1" {
		t.Fatalf("error %v", err)
	}
	if Apply(nil, nil) != nil {
		t.Error("nil pod")
	}
}

func TestPodLevelResources(t *testing.T) {
	lr := rangeOf(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu=1"), Min: list("memory=1Gi")})
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Resources:  &corev1.ResourceRequirements{Requests: list("memory=2Gi"), Limits: list("cpu=2")},
		Overhead:   list("cpu=5"),
		Containers: []corev1.Container{container("a", "cpu=100m", "cpu=100m")},
	}}
	err := Apply([]*corev1.LimitRange{lr}, pod)
	if err == nil || err.Error() != "maximum cpu usage per Pod is 1, but limit is 2" {
		t.Fatalf("error %v", err)
	}
}

func TestApplyPVC(t *testing.T) {
	lr := rangeOf(
		corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: list("storage=1Gi"), Max: list("storage=10Gi")},
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu=1")},
	)
	cases := []struct {
		name, requests, want string
	}{
		{"within", "storage=5Gi", ""},
		{"too small", "storage=500Mi", "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"},
		{"too big", "storage=20Gi", "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"},
		{"none", "", "[minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
				Resources: corev1.VolumeResourceRequirements{Requests: list(tc.requests)}}}
			err := ApplyPVC([]*corev1.LimitRange{lr}, pvc)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("error\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
