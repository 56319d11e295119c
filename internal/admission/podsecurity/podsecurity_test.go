package podsecurity

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func ptr[T any](v T) *T { return &v }

// restrictedSpec returns a pod spec that passes every level; each case
// breaks one thing in it.
func restrictedSpec() *corev1.PodSpec {
	return &corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name: "c",
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
		Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name   string
		meta   *metav1.ObjectMeta
		mutate func(s *corev1.PodSpec)
		// want is the Reasons text at baseline and at restricted; "" means allowed.
		baseline, restricted string
	}{
		{name: "compliant", mutate: func(*corev1.PodSpec) {}},
		{
			name:       "host namespaces",
			mutate:     func(s *corev1.PodSpec) { s.HostNetwork, s.HostPID, s.HostIPC = true, true, true },
			baseline:   "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)",
			restricted: "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)",
		},
		{
			name: "privileged in init and regular container",
			mutate: func(s *corev1.PodSpec) {
				s.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{
					Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}
				s.Containers[0].SecurityContext.Privileged = ptr(true)
			},
			baseline:   `privileged (containers "i", "c" must not set securityContext.privileged=true)`,
			restricted: `privileged (containers "i", "c" must not set securityContext.privileged=true)`,
		},
		{
			name: "privileged ephemeral container",
			mutate: func(s *corev1.PodSpec) {
				s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}}
			},
			baseline: `privileged (container "debug" must not set securityContext.privileged=true)`,
			restricted: `privileged (container "debug" must not set securityContext.privileged=true), ` +
				`allowPrivilegeEscalation != false (container "debug" must set securityContext.allowPrivilegeEscalation=false), ` +
				`unrestricted capabilities (container "debug" must set securityContext.capabilities.drop=["ALL"])`,
		},
		{
			name: "baseline capability added",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"CHOWN"}
			},
			restricted: `unrestricted capabilities (container "c" must not include "CHOWN" in securityContext.capabilities.add)`,
		},
		{
			name: "net bind service added",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
			},
		},
		{
			name: "non-default capabilities",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN", "NET_ADMIN"}}
			},
			baseline: `non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add)`,
			restricted: `unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]; ` +
				`container "c" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add)`,
		},
		{
			name: "hostPath volume",
			mutate: func(s *corev1.PodSpec) {
				s.Volumes = append(s.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
			},
			baseline:   `hostPath volumes (volume "h")`,
			restricted: `restricted volume types (volume "h" uses restricted volume type "hostPath")`,
		},
		{
			name: "restricted volume types",
			mutate: func(s *corev1.PodSpec) {
				s.Volumes = append(s.Volumes,
					corev1.Volume{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}}},
					corev1.Volume{Name: "u"},
					corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
					corev1.Volume{Name: "i", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "img"}}},
					corev1.Volume{Name: "g", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{}}})
			},
			restricted: `restricted volume types (volumes "n", "u", "g" use restricted volume types "gitRepo", "nfs", "unknown")`,
		},
		{
			name: "host ports",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}, {ContainerPort: 81}, {ContainerPort: 443, HostPort: 443}}
				s.InitContainers = []corev1.Container{{Name: "i", Ports: []corev1.ContainerPort{{HostPort: 80}}, SecurityContext: s.Containers[0].SecurityContext}}
			},
			baseline:   `hostPort (containers "i", "c" use hostPorts 443, 80)`,
			restricted: `hostPort (containers "i", "c" use hostPorts 443, 80)`,
		},
		{
			name: "probe host",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1"}}}
				s.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Host: "example.com"}}}
			},
			baseline:   `probe or lifecycle host (container "c" uses probe or lifecycle hosts "10.0.0.1", "example.com")`,
			restricted: `probe or lifecycle host (container "c" uses probe or lifecycle hosts "10.0.0.1", "example.com")`,
		},
		{
			name: "apparmor annotation and fields",
			meta: &metav1.ObjectMeta{Annotations: map[string]string{
				"container.apparmor.security.beta.kubernetes.io/c": "unconfined",
				"container.apparmor.security.beta.kubernetes.io/d": "localhost/prof",
			}},
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
			},
			baseline: `forbidden AppArmor profiles (pod and annotation must not set AppArmor profile type to ` +
				`"Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"")`,
			restricted: `forbidden AppArmor profiles (pod and annotation must not set AppArmor profile type to ` +
				`"Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"")`,
		},
		{
			name: "apparmor unconfined container",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
			},
			baseline:   `forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")`,
			restricted: `forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")`,
		},
		{
			name: "apparmor runtime default allowed",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
			},
		},
		{
			name: "selinux",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t", User: "root"}
				s.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Role: "r"}
			},
			baseline: `seLinuxOptions (pod and container "c" set forbidden securityContext.seLinuxOptions: ` +
				`type "spc_t"; user may not be set; role may not be set)`,
			restricted: `seLinuxOptions (pod and container "c" set forbidden securityContext.seLinuxOptions: ` +
				`type "spc_t"; user may not be set; role may not be set)`,
		},
		{
			name: "selinux allowed type",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_init_t", Level: "s0:c1"}
			},
		},
		{
			name: "proc mount",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.ProcMount = ptr(corev1.UnmaskedProcMount)
			},
			baseline:   `procMount (container "c" must not set securityContext.procMount to "Unmasked")`,
			restricted: `procMount (container "c" must not set securityContext.procMount to "Unmasked")`,
		},
		{
			name: "proc mount in a user namespace",
			mutate: func(s *corev1.PodSpec) {
				s.HostUsers = ptr(false)
				s.Containers[0].SecurityContext.ProcMount = ptr(corev1.UnmaskedProcMount)
			},
			restricted: `procMount (container "c" must not set securityContext.procMount to "Unmasked")`,
		},
		{
			name: "root in a user namespace",
			mutate: func(s *corev1.PodSpec) {
				s.HostUsers = ptr(false)
				s.SecurityContext.RunAsNonRoot = nil
				s.SecurityContext.RunAsUser = ptr(int64(0))
			},
		},
		{
			name: "seccomp unconfined",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			},
			baseline:   `seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`,
			restricted: `seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`,
		},
		{
			name: "seccomp on container only",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.SeccompProfile = nil
				s.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("p.json")}
			},
		},
		{
			name: "sysctls",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies"}, {Name: "kernel.msgmax"}, {Name: "net.core.somaxconn"}}
			},
			baseline:   `forbidden sysctls (kernel.msgmax, net.core.somaxconn)`,
			restricted: `forbidden sysctls (kernel.msgmax, net.core.somaxconn)`,
		},
		{
			name: "host process",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
				s.Containers[0].SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
			},
			baseline:   `hostProcess (pod and container "c" must not set securityContext.windowsOptions.hostProcess=true)`,
			restricted: `hostProcess (pod and container "c" must not set securityContext.windowsOptions.hostProcess=true)`,
		},
		{
			name: "allow privilege escalation true",
			mutate: func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr(true)
			},
			restricted: `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)`,
		},
		{
			name: "runAsNonRoot false wins over missing",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.RunAsNonRoot = nil
				s.Containers = append(s.Containers, *s.Containers[0].DeepCopy())
				s.Containers[1].Name = "d"
				s.Containers[1].SecurityContext.RunAsNonRoot = ptr(false)
			},
			restricted: `runAsNonRoot != true (container "d" must not set securityContext.runAsNonRoot=false)`,
		},
		{
			name: "runAsNonRoot missing",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.RunAsNonRoot = nil
			},
			restricted: `runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)`,
		},
		{
			name: "runAsNonRoot on container is enough",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.RunAsNonRoot = nil
				s.Containers[0].SecurityContext.RunAsNonRoot = ptr(true)
			},
		},
		{
			name: "runAsUser 0",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.RunAsUser = ptr(int64(0))
				s.Containers[0].SecurityContext.RunAsUser = ptr(int64(0))
			},
			restricted: `runAsUser=0 (pod and container "c" must not set runAsUser=0)`,
		},
		{
			name: "runAsUser 1000",
			mutate: func(s *corev1.PodSpec) {
				s.SecurityContext.RunAsUser = ptr(int64(1000))
			},
		},
		{
			name: "windows pod skips linux-only restricted checks",
			mutate: func(s *corev1.PodSpec) {
				s.OS = &corev1.PodOS{Name: corev1.Windows}
				s.SecurityContext.SeccompProfile = nil
				s.Containers[0].SecurityContext = nil
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, lvl := range []struct {
				level Level
				want  string
			}{{Privileged, ""}, {Baseline, tc.baseline}, {Restricted, tc.restricted}} {
				s := restrictedSpec()
				tc.mutate(s)
				meta := tc.meta
				if meta == nil {
					meta = &metav1.ObjectMeta{}
				}
				got := Reasons(Check(lvl.level, meta, s))
				if got != lvl.want {
					t.Errorf("%s:\n got %s\nwant %s", lvl.level, got, lvl.want)
				}
			}
		})
	}
}

func TestMessage(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}
	vs := Check(Restricted, nil, spec)
	want := `pods "x" is forbidden: violates PodSecurity "restricted:latest": ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if got := Message("x", Restricted, vs); got != want {
		t.Errorf("Message:\n got %s\nwant %s", got, want)
	}
	if got, want := Warning(Restricted, vs), strings.Replace(want, `pods "x" is forbidden: violates`, "would violate", 1); got != want {
		t.Errorf("Warning:\n got %s\nwant %s", got, want)
	}
	if len(Check(Baseline, nil, spec)) != 0 {
		t.Errorf("a plain pod should pass baseline")
	}

	hostNet := &corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c"}}}
	lv := LevelVersion{Baseline, "v1.30"}
	if got, want := lv.Message("", Check(Baseline, nil, hostNet)),
		`pods is forbidden: violates PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true)`; got != want {
		t.Errorf("generateName pod:\n got %s\nwant %s", got, want)
	}
	if got := Check(Level("bogus"), nil, hostNet); got != nil {
		t.Errorf("unknown level should not evaluate, got %v", got)
	}
	if got := Check(Restricted, nil, nil); got != nil {
		t.Errorf("nil spec: %v", got)
	}
}

// TestCheckOrder guards the order messages list reasons in: each group
// sorted by ID, as Kubernetes sorts them.
func TestCheckOrder(t *testing.T) {
	for _, group := range [][]check{baselineChecks, restrictedOnlyChecks} {
		for i := 1; i < len(group); i++ {
			if group[i-1].id >= group[i].id {
				t.Errorf("%s listed before %s", group[i-1].id, group[i].id)
			}
		}
	}
	for _, c := range restrictedChecks {
		if c.id == "hostPathVolumes" || c.id == "procMount" || c.id == "capabilities_baseline" || c.id == "seccompProfile_baseline" {
			t.Errorf("overridden check %s runs at restricted", c.id)
		}
	}
}

func TestCheckIDs(t *testing.T) {
	spec := &corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "c"}}}
	var ids []string
	for _, v := range Check(Restricted, nil, spec) {
		ids = append(ids, v.Check)
	}
	want := "hostNamespaces allowPrivilegeEscalation capabilities_restricted runAsNonRoot seccompProfile_restricted"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("ids %q, want %q", got, want)
	}
}

func TestParseLevel(t *testing.T) {
	cases := []struct {
		in   string
		want Level
		ok   bool
	}{
		{"privileged", Privileged, true},
		{"baseline", Baseline, true},
		{"restricted", Restricted, true},
		{"Restricted", Restricted, false},
		{"", Restricted, false},
	}
	for _, tc := range cases {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseLevel(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestPolicyFor(t *testing.T) {
	cases := []struct {
		name    string
		labels  map[string]string
		want    string
		wantErr string
	}{
		{name: "none", want: "privileged:latest privileged:latest privileged:latest"},
		{
			name: "all set",
			labels: map[string]string{
				EnforceLevelLabel: "baseline", EnforceVersionLabel: "v1.30",
				AuditLevelLabel: "restricted", WarnLevelLabel: "restricted", WarnVersionLabel: "latest",
			},
			want: "baseline:v1.30 restricted:latest restricted:latest",
		},
		{
			name:    "bad enforce fails closed",
			labels:  map[string]string{EnforceLevelLabel: "strict"},
			want:    "restricted:latest privileged:latest privileged:latest",
			wantErr: EnforceLevelLabel,
		},
		{
			name:    "bad warn fails open",
			labels:  map[string]string{WarnLevelLabel: "strict", AuditLevelLabel: "baseline"},
			want:    "privileged:latest baseline:latest privileged:latest",
			wantErr: WarnLevelLabel,
		},
		{
			name:   "warn follows enforce",
			labels: map[string]string{EnforceLevelLabel: "restricted", EnforceVersionLabel: "v1.33", AuditLevelLabel: "baseline"},
			want:   "restricted:v1.33 baseline:latest restricted:v1.33",
		},
		{
			name:   "warn follows enforce, keeping its own version",
			labels: map[string]string{EnforceLevelLabel: "baseline", WarnVersionLabel: "v1.30"},
			want:   "baseline:latest privileged:latest baseline:v1.30",
		},
		{
			name:   "explicit warn is kept",
			labels: map[string]string{EnforceLevelLabel: "restricted", WarnLevelLabel: "privileged"},
			want:   "restricted:latest privileged:latest privileged:latest",
		},
		{
			name:    "bad version is latest",
			labels:  map[string]string{EnforceLevelLabel: "baseline", EnforceVersionLabel: "1.30", AuditVersionLabel: "v2.0"},
			want:    "baseline:latest privileged:latest baseline:latest",
			wantErr: AuditVersionLabel,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PolicyFor(tc.labels)
			got := p.Enforce.String() + " " + p.Audit.String() + " " + p.Warn.String()
			if got != tc.want {
				t.Errorf("policy %q, want %q", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestPodTemplate(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{HostNetwork: true},
	}
	cases := []struct {
		name string
		obj  runtime.Object
		ok   bool
	}{
		{"pod", &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}, true},
		{"podtemplate", &corev1.PodTemplate{Template: tmpl}, true},
		{"replicationcontroller", &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}, true},
		{"replicationcontroller without template", &corev1.ReplicationController{}, false},
		{"deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}}, true},
		{"replicaset", &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl}}, true},
		{"statefulset", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl}}, true},
		{"daemonset", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl}}, true},
		{"job", &batchv1.Job{Spec: batchv1.JobSpec{Template: tmpl}}, true},
		{"cronjob", &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}, true},
		{"typed nil deployment", (*appsv1.Deployment)(nil), false},
		{"service", &corev1.Service{}, false},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta, spec, ok := PodTemplate(tc.obj)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if meta.Labels["app"] != "a" || !spec.HostNetwork {
				t.Errorf("wrong template: %v %v", meta, spec)
			}
			if got := Reasons(Check(Baseline, meta, spec)); got != "host namespaces (hostNetwork=true)" {
				t.Errorf("check on template: %s", got)
			}
		})
	}
}
