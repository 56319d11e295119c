package volume

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func envSources() *fakeSources {
	return &fakeSources{
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg": {ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"},
				Data: map[string]string{"LEVEL": "debug", "bad=key": "x", "PORT": "8080"}},
		},
		secrets: map[string]*corev1.Secret{
			"ns/creds": {ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"},
				Data: map[string][]byte{"PASSWORD": []byte("s3cret")}},
		},
	}
}

func envMap(kvs []*runtimeapi.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = string(kv.Value)
	}
	return m
}

func TestEnv(t *testing.T) {
	node := NodeInfo{
		HostIP: "10.0.0.5", PodIPs: []string{"10.42.0.7", "fd00::7"},
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("8Gi"),
		},
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: p}}
	}
	res := func(r, div string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{Resource: r}
		if div != "" {
			s.Divisor = resource.MustParse(div)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	secKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	cases := []struct {
		name      string
		service   map[string]string
		envFrom   []corev1.EnvFromSource
		env       []corev1.EnvVar
		limits    corev1.ResourceList
		want      map[string]string
		wantOrder []string
		warning   string
		err       string
		notFound  bool
	}{
		{
			name:      "plain values keep order and later ones override",
			env:       []corev1.EnvVar{{Name: "B", Value: "1"}, {Name: "A", Value: "2"}, {Name: "B", Value: "3"}},
			want:      map[string]string{"A": "2", "B": "3"},
			wantOrder: []string{"B", "A"},
		},
		{
			name: "expansion sees only earlier variables",
			env: []corev1.EnvVar{
				{Name: "HOST", Value: "db"}, {Name: "URL", Value: "tcp://$(HOST):$(PORT)"},
				{Name: "PORT", Value: "5432"}, {Name: "ESC", Value: "$$(HOST)"}, {Name: "EMPTY"},
			},
			want: map[string]string{"HOST": "db", "URL": "tcp://db:$(PORT)", "PORT": "5432", "ESC": "$(HOST)", "EMPTY": ""},
		},
		{
			name:    "envFrom with prefix skips invalid names with a warning",
			envFrom: []corev1.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			env:     []corev1.EnvVar{{Name: "ADDR", Value: ":$(APP_PORT)"}},
			want:    map[string]string{"APP_LEVEL": "debug", "APP_PORT": "8080", "ADDR": ":8080"},
			warning: "Keys [APP_bad=key] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names.",
		},
		{
			name:    "service variables expand and fill in what the container leaves out",
			service: map[string]string{"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443", "OVERRIDDEN": "svc"},
			env: []corev1.EnvVar{
				{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
				{Name: "OVERRIDDEN", Value: "mine"},
			},
			want: map[string]string{"API": "https://10.43.0.1:443", "OVERRIDDEN": "mine",
				"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"},
			wantOrder: []string{"API", "OVERRIDDEN", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"},
		},
		{
			name:    "envFrom secret",
			envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}},
			want:    map[string]string{"PASSWORD": "s3cret"},
		},
		{
			name:     "envFrom missing configmap",
			envFrom:  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			err:      `configmap "nope" not found`,
			notFound: true,
		},
		{
			name:     "envFrom missing secret",
			envFrom:  []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			err:      `secret "nope" not found`,
			notFound: true,
		},
		{
			name: "envFrom optional missing is skipped",
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			},
			want: map[string]string{},
		},
		{
			name: "configMapKeyRef and secretKeyRef",
			env:  []corev1.EnvVar{{Name: "L", ValueFrom: cmKey("cfg", "LEVEL", false)}, {Name: "P", ValueFrom: secKey("creds", "PASSWORD", false)}},
			want: map[string]string{"L": "debug", "P": "s3cret"},
		},
		{
			name: "missing configmap key",
			env:  []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "NOPE", false)}},
			err:  "couldn't find key NOPE in ConfigMap ns/cfg",
		},
		{
			name: "missing secret key",
			env:  []corev1.EnvVar{{Name: "X", ValueFrom: secKey("creds", "NOPE", false)}},
			err:  "couldn't find key NOPE in Secret ns/creds",
		},
		{
			name:     "missing configmap for key ref",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("nope", "K", false)}},
			err:      `configmap "nope" not found`,
			notFound: true,
		},
		{
			name: "optional refs skip the variable",
			env: []corev1.EnvVar{
				{Name: "A", ValueFrom: cmKey("cfg", "NOPE", true)}, {Name: "B", ValueFrom: cmKey("nope", "K", true)},
				{Name: "C", ValueFrom: secKey("creds", "NOPE", true)}, {Name: "D", ValueFrom: secKey("nope", "K", true)},
			},
			want: map[string]string{},
		},
		{
			name: "fieldRefs",
			env: []corev1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")}, {Name: "NONE", ValueFrom: field("metadata.labels['none']")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "HOST_IP", ValueFrom: field("status.hostIP")}, {Name: "HOST_IPS", ValueFrom: field("status.hostIPs")},
				{Name: "POD_IP", ValueFrom: field("status.podIP")}, {Name: "POD_IPS", ValueFrom: field("status.podIPs")},
			},
			want: map[string]string{
				"NAME": "web-0", "NS": "ns", "UID": "1234-abcd", "APP": "web", "NOTE": `a "quoted" value`, "NONE": "",
				"NODE": "node-1", "SA": "default", "HOST_IP": "10.0.0.5", "HOST_IPS": "10.0.0.5",
				"POD_IP": "10.42.0.7", "POD_IPS": "10.42.0.7,fd00::7",
			},
		},
		{
			name: "unsupported fieldRef",
			env:  []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.containers")}},
			err:  "field label not supported: spec.containers",
		},
		{
			name:   "resourceFieldRef with divisors and allocatable defaults",
			limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			env: []corev1.EnvVar{
				{Name: "MEM", ValueFrom: res("limits.memory", "")}, {Name: "MEM_MI", ValueFrom: res("limits.memory", "1Mi")},
				{Name: "CPU", ValueFrom: res("limits.cpu", "")}, {Name: "CPU_M", ValueFrom: res("limits.cpu", "1m")},
				{Name: "REQ_CPU", ValueFrom: res("requests.cpu", "")},
			},
			want: map[string]string{"MEM": "268435456", "MEM_MI": "256", "CPU": "4", "CPU_M": "4000", "REQ_CPU": "0"},
		},
		{
			name: "unsupported resource",
			env:  []corev1.EnvVar{{Name: "X", ValueFrom: res("limits.gpu", "")}},
			err:  "unsupported container resource : limits.gpu",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			c := &pod.Spec.Containers[0]
			c.EnvFrom, c.Env = tc.envFrom, tc.env
			c.Resources.Limits = tc.limits
			n := node
			n.ServiceEnv = tc.service
			kvs, warnings, err := Env(context.Background(), envSources(), pod, c, n)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err && !strings.HasSuffix(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if tc.notFound && !apierrors.IsNotFound(err) {
					t.Errorf("err %v is not a NotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := envMap(kvs)
			if len(got) != len(tc.want) {
				t.Errorf("env = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for i, k := range tc.wantOrder {
				if kvs[i].Key != k {
					t.Errorf("position %d = %s, want %s", i, kvs[i].Key, k)
				}
			}
			if tc.warning == "" && len(warnings) > 0 || tc.warning != "" && (len(warnings) != 1 || warnings[0] != tc.warning) {
				t.Errorf("warnings = %q, want %q", warnings, tc.warning)
			}
		})
	}
}

func TestEnvFetchesEachObjectOnce(t *testing.T) {
	src := envSources()
	pod := testPod()
	c := &pod.Spec.Containers[0]
	for _, k := range []string{"LEVEL", "PORT", "LEVEL"} {
		c.Env = append(c.Env, corev1.EnvVar{Name: "V" + k, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: k}}})
	}
	if _, _, err := Env(context.Background(), src, pod, c, NodeInfo{}); err != nil {
		t.Fatal(err)
	}
	if src.calls != 1 {
		t.Errorf("ConfigMap fetched %d times, want 1", src.calls)
	}
}
