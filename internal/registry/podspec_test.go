package registry

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coreCase is one write of an object through a core kind: a create when
// old is nil, else an update of old (stored, so defaulted first).
type coreCase struct {
	name  string
	obj   runtime.Object
	old   runtime.Object
	paths []string // the field paths of the expected errors; none: valid
}

// runCoreCases writes each case as the API server would (prepare,
// default, validate), checks that defaulting is idempotent and that the
// errors name exactly the expected paths.
func runCoreCases(t *testing.T, k *Kind, cases []coreCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.obj.DeepCopyObject()
			var old runtime.Object
			if tc.old != nil {
				old = tc.old.DeepCopyObject()
				if k.Defaults != nil {
					k.Defaults(old)
				}
				if k.PrepareForUpdate != nil {
					k.PrepareForUpdate(obj, old)
				}
			} else if k.PrepareForCreate != nil {
				k.PrepareForCreate(obj)
			}
			if k.Defaults != nil {
				k.Defaults(obj)
				once := mustJSON(t, obj)
				k.Defaults(obj)
				if twice := mustJSON(t, obj); twice != once {
					t.Errorf("defaulting is not idempotent:\nonce:  %s\ntwice: %s", once, twice)
				}
			}
			var errs field.ErrorList
			if k.Validate != nil {
				errs = k.Validate(obj, old)
			}
			if got := errorPaths(errs); !slices.Equal(got, tc.paths) {
				t.Errorf("error paths = %q, want %q\nerrors: %v", got, tc.paths, errs.ToAggregate())
			}
		})
	}
}

func errorPaths(errs field.ErrorList) []string {
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Field)
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// corePodSpec is a typical valid pod spec, before defaulting.
func corePodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			Env: []corev1.EnvVar{
				{Name: "MODE", Value: "prod"},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
		}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}},
			{Name: "scratch"},
		},
		Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web", Effect: corev1.TaintEffectNoSchedule}},
	}
}

func coreTemplate(mutate func(*corev1.PodSpec)) *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: corePodSpec()}
	if mutate != nil {
		mutate(&t.Spec)
	}
	return t
}

func TestDefaultPodTemplateSpecStoresWhatKubernetesStores(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
	}}}}
	defaultPodTemplateSpec(tmpl)
	want := `{"containers":[{"name":"web","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},` +
		`"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"Always"}],` +
		`"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}`
	if got := mustJSON(t, tmpl.Spec); got != want {
		t.Errorf("defaulted spec:\n got %s\nwant %s", got, want)
	}
	once := mustJSON(t, tmpl)
	defaultPodTemplateSpec(tmpl)
	if twice := mustJSON(t, tmpl); twice != once {
		t.Errorf("not idempotent:\n%s\n%s", once, twice)
	}
}

func TestDefaultPodSpecDetails(t *testing.T) {
	s := corePodSpec()
	s.DeprecatedServiceAccount = "builder"
	s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
	s.Volumes = append(s.Volumes,
		corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
	)
	defaultPodSpec(&s)

	c := s.Containers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"serviceAccountName", s.ServiceAccountName, "builder"},
		{"serviceAccount", s.DeprecatedServiceAccount, "builder"},
		{"pull policy of a tagged image", c.ImagePullPolicy, corev1.PullIfNotPresent},
		{"env fieldRef apiVersion", c.Env[1].ValueFrom.FieldRef.APIVersion, "v1"},
		{"readiness timeout", c.ReadinessProbe.TimeoutSeconds, int32(1)},
		{"readiness period", c.ReadinessProbe.PeriodSeconds, int32(10)},
		{"readiness success", c.ReadinessProbe.SuccessThreshold, int32(1)},
		{"readiness failure", c.ReadinessProbe.FailureThreshold, int32(3)},
		{"httpGet scheme", c.ReadinessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"httpGet path", c.ReadinessProbe.HTTPGet.Path, "/"},
		{"grpc service", *c.LivenessProbe.GRPC.Service, ""},
		{"configMap mode", *s.Volumes[0].ConfigMap.DefaultMode, int32(0o644)},
		{"empty source becomes emptyDir", s.Volumes[1].EmptyDir != nil, true},
		{"projected mode", *s.Volumes[2].Projected.DefaultMode, int32(0o644)},
		{"token expiry", *s.Volumes[2].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, int64(3600)},
		{"projected fieldRef", s.Volumes[2].Projected.Sources[1].DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		{"hostPath type", *s.Volumes[3].HostPath.Type, corev1.HostPathUnset},
		{"no enableServiceLinks in a template", s.EnableServiceLinks == nil, true},
		{"requests not copied from limits in a template", len(c.Resources.Requests), 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	cases := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.local:5000/team/app", corev1.PullAlways},
		{"registry.local:5000/team/app:v2", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		{"", corev1.PullIfNotPresent},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			if got := defaultPullPolicy(tc.image); got != tc.want {
				t.Errorf("defaultPullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
			}
		})
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.PodSpec)
		paths  []string
	}{
		{"valid", nil, nil},
		{"no containers", func(s *corev1.PodSpec) { s.Containers = nil }, []string{"spec.template.spec.containers"}},
		{"bad and duplicate names", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "web", Image: "busybox"}}
			s.Containers = append(s.Containers, corev1.Container{Name: "Side_Car", Image: "busybox"})
		}, []string{"spec.template.spec.containers[0].name", "spec.template.spec.containers[1].name"}},
		{"image", func(s *corev1.PodSpec) {
			s.Containers[0].Image = ""
			s.Containers = append(s.Containers, corev1.Container{Name: "b", Image: " busybox"})
		}, []string{"spec.template.spec.containers[0].image", "spec.template.spec.containers[1].image"}},
		{"ports", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{
				{Name: "http", ContainerPort: 70000},
				{Name: "http", ContainerPort: 81, Protocol: "ICMP"},
				{Name: "not_a_name"},
			}
		}, []string{
			"spec.template.spec.containers[0].ports[0].containerPort",
			"spec.template.spec.containers[0].ports[1].name",
			"spec.template.spec.containers[0].ports[1].protocol",
			"spec.template.spec.containers[0].ports[2].containerPort",
			"spec.template.spec.containers[0].ports[2].name",
		}},
		{"env", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{
				{Name: "A=B"},
				{Name: "X", Value: "1", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
				{Name: "relaxed.name-1"},
			}
		}, []string{
			"spec.template.spec.containers[0].env[0].name",
			"spec.template.spec.containers[0].env[1].valueFrom",
			"spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef.name",
		}},
		{"volumes", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes,
				corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				corev1.Volume{Name: "two", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				corev1.Volume{Name: "Bad_Name", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
			)
		}, []string{
			"spec.template.spec.volumes[2].name",
			"spec.template.spec.volumes[3].secret",
			"spec.template.spec.volumes[4].name",
			"spec.template.spec.volumes[4].secret.secretName",
		}},
		{"mounts", func(s *corev1.PodSpec) {
			s.Containers[0].VolumeMounts = []corev1.VolumeMount{
				{Name: "missing", MountPath: "/a"},
				{Name: "config"},
				{Name: "scratch", MountPath: "/a", SubPath: "../up"},
			}
		}, []string{
			"spec.template.spec.containers[0].volumeMounts[0].name",
			"spec.template.spec.containers[0].volumeMounts[1].mountPath",
			"spec.template.spec.containers[0].volumeMounts[2].mountPath",
			"spec.template.spec.containers[0].volumeMounts[2].subPath",
		}},
		{"enums", func(s *corev1.PodSpec) {
			s.RestartPolicy = "Sometimes"
			s.DNSPolicy = "Google"
		}, []string{"spec.template.spec.dnsPolicy", "spec.template.spec.restartPolicy"}},
		{"dnsPolicy None needs nameservers", func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSNone },
			[]string{"spec.template.spec.dnsConfig.nameservers"}},
		{"resources", func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("-1")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), "gpu": resource.MustParse("1")},
			}
		}, []string{
			"spec.template.spec.containers[0].resources.limits[gpu]",
			"spec.template.spec.containers[0].resources.requests[cpu]",
			"spec.template.spec.containers[0].resources.requests[memory]",
		}},
		{"probe handlers", func(s *corev1.PodSpec) {
			s.Containers[0].ReadinessProbe = &corev1.Probe{}
			s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec:      &corev1.ExecAction{Command: []string{"true"}},
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
			}}
			s.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 2}
		}, []string{
			"spec.template.spec.containers[0].livenessProbe.tcpSocket",
			"spec.template.spec.containers[0].readinessProbe",
			"spec.template.spec.containers[0].startupProbe.successThreshold",
		}},
		{"probe on a plain init container", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ReadinessProbe: s.Containers[0].ReadinessProbe}}
		}, []string{"spec.template.spec.initContainers[0].readinessProbe"}},
		{"sidecar may have probes", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "proxy", Image: "envoy", RestartPolicy: new(corev1.ContainerRestartPolicyAlways),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(15000)}}}}}
		}, nil},
		{"grace period, deadline, selectors", func(s *corev1.PodSpec) {
			s.TerminationGracePeriodSeconds = new(int64(-1))
			s.ActiveDeadlineSeconds = new(int64(0))
			s.NodeSelector = map[string]string{"bad key!": "v"}
		}, []string{
			"spec.template.spec.activeDeadlineSeconds",
			"spec.template.spec.nodeSelector",
			"spec.template.spec.terminationGracePeriodSeconds",
		}},
		{"tolerations", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{
				{Key: "k", Operator: "Like"},
				{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"},
				{Operator: corev1.TolerationOpEqual, Value: "v"},
				{Key: "k", Effect: "Evict"},
				{Key: "k", Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: new(int64(5))},
				{Operator: corev1.TolerationOpExists},
			}
		}, []string{
			"spec.template.spec.tolerations[0].operator",
			"spec.template.spec.tolerations[1].operator",
			"spec.template.spec.tolerations[2].operator",
			"spec.template.spec.tolerations[3].effect",
			"spec.template.spec.tolerations[4].effect",
		}},
		{"empty image pull secret name tolerated", func(s *corev1.PodSpec) {
			s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: ""}}
		}, nil},
		{"ephemeral containers in a template", func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []string{"spec.template.spec.ephemeralContainers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := coreTemplate(tc.mutate)
			defaultPodTemplateSpec(tmpl)
			errs := validatePodTemplateSpec(tmpl, field.NewPath("spec", "template"))
			if got := errorPaths(errs); !slices.Equal(got, tc.paths) {
				t.Errorf("error paths = %q, want %q\nerrors: %v", got, tc.paths, errs.ToAggregate())
			}
		})
	}
}

func TestValidatePodTemplateLabels(t *testing.T) {
	tmpl := coreTemplate(nil)
	tmpl.Labels["bad key!"] = "x"
	defaultPodTemplateSpec(tmpl)
	errs := validatePodTemplateSpec(tmpl, field.NewPath("spec", "template"))
	if got := errorPaths(errs); !slices.Equal(got, []string{"spec.template.metadata.labels"}) {
		t.Errorf("error paths = %q", got)
	}
}
