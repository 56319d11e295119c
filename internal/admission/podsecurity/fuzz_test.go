package podsecurity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzCheck builds pods whose security fields come from fuzzed strings and
// numbers, half of them left nil, and requires Check and the message text
// never to panic at any level.
func FuzzCheck(f *testing.F) {
	f.Add("c", "Unconfined", "NET_ADMIN", "kernel.msgmax", int64(0), int32(80), uint8(0xff))
	f.Add("", "", "", "", int64(-1), int32(0), uint8(0))
	f.Fuzz(func(t *testing.T, name, typ, capability, sysctl string, uid int64, port int32, bits uint8) {
		on := func(i uint) bool { return bits&(1<<i) != 0 }
		sc := &corev1.SecurityContext{}
		if on(0) {
			sc.Privileged = ptr(on(1))
			sc.AllowPrivilegeEscalation = ptr(on(2))
			sc.RunAsNonRoot = ptr(on(3))
			sc.RunAsUser = &uid
			sc.ProcMount = ptr(corev1.ProcMountType(typ))
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(typ)}
			sc.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(typ)}
			sc.SELinuxOptions = &corev1.SELinuxOptions{Type: typ, User: name}
			sc.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{corev1.Capability(capability)}, Drop: []corev1.Capability{corev1.Capability(typ)}}
			sc.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(on(4))}
		}
		c := corev1.Container{Name: name, SecurityContext: sc, Ports: []corev1.ContainerPort{{HostPort: port}}}
		if on(5) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: typ}}}
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{}}
		}
		spec := &corev1.PodSpec{
			HostNetwork: on(6), HostPID: on(7),
			InitContainers: []corev1.Container{c},
			Containers:     []corev1.Container{c},
			EphemeralContainers: []corev1.EphemeralContainer{{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, SecurityContext: sc}}},
			Volumes: []corev1.Volume{{Name: name}},
		}
		if on(1) {
			spec.SecurityContext = &corev1.PodSecurityContext{
				RunAsUser:      &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileType(typ)},
				Sysctls:        []corev1.Sysctl{{Name: sysctl}},
			}
		}
		meta := &metav1.ObjectMeta{Annotations: map[string]string{appArmorAnnotationPrefix + name: typ}}
		for _, l := range []Level{Privileged, Baseline, Restricted, Level(typ)} {
			vs := Check(l, meta, spec)
			for _, v := range vs {
				if v.Reason == "" || v.Check == "" {
					t.Fatalf("violation without reason or id: %+v", v)
				}
			}
			_ = Message(name, l, vs)
		}
	})
}

func FuzzPolicyFor(f *testing.F) {
	f.Add("restricted", "v1.30", "baseline")
	f.Add("", "v1.", "latest")
	f.Fuzz(func(t *testing.T, level, version, other string) {
		p, err := PolicyFor(map[string]string{
			EnforceLevelLabel: level, EnforceVersionLabel: version,
			WarnLevelLabel: other, AuditVersionLabel: other,
		})
		for _, lv := range []LevelVersion{p.Enforce, p.Audit, p.Warn} {
			if _, perr := ParseLevel(string(lv.Level)); perr != nil {
				t.Fatalf("PolicyFor returned an invalid level %q (err %v)", lv.Level, err)
			}
			if _, perr := ParseVersion(lv.Version); perr != nil {
				t.Fatalf("PolicyFor returned an invalid version %q", lv.Version)
			}
		}
		if _, perr := ParseLevel(level); perr != nil && err == nil {
			t.Fatalf("bad level %q not reported", level)
		}
	})
}
