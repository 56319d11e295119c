package podsecurity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// appArmorAnnotationPrefix is the per-container AppArmor annotation that
// predates the appArmorProfile field; pods may still carry it.
const appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"

func allowedAppArmorType(p *corev1.AppArmorProfile) bool {
	return p == nil || p.Type == corev1.AppArmorProfileTypeRuntimeDefault || p.Type == corev1.AppArmorProfileTypeLocalhost
}

// checkAppArmor forbids turning the default AppArmor profile off, through
// the fields or the annotations.
func checkAppArmor(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var setters []string
	types := map[string]bool{}
	if sc := spec.SecurityContext; sc != nil && !allowedAppArmorType(sc.AppArmorProfile) {
		setters = append(setters, "pod")
		types[string(sc.AppArmorProfile.Type)] = true
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && !allowedAppArmorType(c.SecurityContext.AppArmorProfile) {
			names = append(names, c.Name)
			types[string(c.SecurityContext.AppArmorProfile.Type)] = true
		}
	})
	if len(names) > 0 {
		setters = append(setters, containersPhrase(names))
	}
	values := sortedKeys(types)
	var annotations []string
	for k, v := range meta.Annotations {
		if !strings.HasPrefix(k, appArmorAnnotationPrefix) {
			continue
		}
		if v == "" || v == "runtime/default" || strings.HasPrefix(v, "localhost/") {
			continue
		}
		annotations = append(annotations, fmt.Sprintf("%s=%q", k, v))
	}
	if len(annotations) > 0 {
		sort.Strings(annotations)
		values = append(values, annotations...)
		setters = append(setters, plural(len(annotations), "annotation", "annotations"))
	}
	if len(setters) == 0 {
		return "", "", true
	}
	return plural(len(values), "forbidden AppArmor profile", "forbidden AppArmor profiles"),
		strings.Join(setters, " and ") + " must not set AppArmor profile type to " + quoteList(values), false
}

func checkHostNamespaces(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var set []string
	if spec.HostNetwork {
		set = append(set, "hostNetwork=true")
	}
	if spec.HostPID {
		set = append(set, "hostPID=true")
	}
	if spec.HostIPC {
		set = append(set, "hostIPC=true")
	}
	if len(set) == 0 {
		return "", "", true
	}
	return "host namespaces", strings.Join(set, ", "), false
}

func checkHostPathVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return "", "", true
	}
	return "hostPath volumes", plural(len(names), "volume", "volumes") + " " + quoteList(names), false
}

func checkHostPorts(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names, ports []string
	visitContainers(spec, func(c *corev1.Container) {
		bad := false
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				bad = true
				ports = append(ports, strconv.Itoa(int(p.HostPort)))
			}
		}
		if bad {
			names = append(names, c.Name)
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	// Kubernetes lists each port once, sorted as text.
	ports = sortedUnique(ports)
	return "hostPort", fmt.Sprintf("%s %s %s %s", containersPhrase(names), plural(len(names), "uses", "use"),
		plural(len(ports), "hostPort", "hostPorts"), strings.Join(ports, ", ")), false
}

// checkProbeHosts forbids probes and lifecycle hooks aimed at a host other
// than the pod's own: the agent would make those requests from the node.
func checkProbeHosts(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	hosts := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		var found []string
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil {
				found = append(found, handlerHosts(p.HTTPGet, p.TCPSocket)...)
			}
		}
		if c.Lifecycle != nil {
			for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
				if h != nil {
					found = append(found, handlerHosts(h.HTTPGet, h.TCPSocket)...)
				}
			}
		}
		if len(found) > 0 {
			names = append(names, c.Name)
			for _, h := range found {
				hosts[h] = true
			}
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	names = sortedUnique(names)
	return "probe or lifecycle host", fmt.Sprintf("%s %s %s %s", containersPhrase(names), plural(len(names), "uses", "use"),
		plural(len(hosts), "probe or lifecycle host", "probe or lifecycle hosts"), quoteList(sortedKeys(hosts))), false
}

func handlerHosts(h *corev1.HTTPGetAction, t *corev1.TCPSocketAction) []string {
	var hosts []string
	if h != nil && h.Host != "" {
		hosts = append(hosts, h.Host)
	}
	if t != nil && t.Host != "" {
		hosts = append(hosts, t.Host)
	}
	return hosts
}

func checkPrivileged(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			names = append(names, c.Name)
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	return "privileged", containersPhrase(names) + " must not set securityContext.privileged=true", false
}

// checkProcMountBaseline keeps /proc masked, except in a pod with its own
// user namespace, where an unmasked /proc exposes nothing of the node's.
func checkProcMountBaseline(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if inUserNamespace(spec) {
		return "", "", true
	}
	return checkProcMount(meta, spec)
}

// checkProcMount keeps /proc masked in every pod; restricted applies it even
// to pods with their own user namespace.
func checkProcMount(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	types := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.ProcMount != nil && *c.SecurityContext.ProcMount != corev1.DefaultProcMount {
			names = append(names, c.Name)
			types[string(*c.SecurityContext.ProcMount)] = true
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	return "procMount", fmt.Sprintf("%s must not set securityContext.procMount to %s", containersPhrase(names), quoteList(sortedKeys(types))), false
}

// seLinuxTypes are the SELinux types a baseline pod may ask for: the ones
// container policies ship for ordinary containers.
var seLinuxTypes = map[string]bool{
	"": true, "container_t": true, "container_init_t": true, "container_kvm_t": true, "container_engine_t": true,
}

func checkSELinux(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	badTypes := map[string]bool{}
	setUser, setRole := false, false
	valid := func(o *corev1.SELinuxOptions) bool {
		ok := true
		if !seLinuxTypes[o.Type] {
			badTypes[o.Type] = true
			ok = false
		}
		if o.User != "" {
			setUser, ok = true, false
		}
		if o.Role != "" {
			setRole, ok = true, false
		}
		return ok
	}
	var setters []string
	if sc := spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil && !valid(sc.SELinuxOptions) {
		setters = append(setters, "pod")
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.SELinuxOptions != nil && !valid(c.SecurityContext.SELinuxOptions) {
			names = append(names, c.Name)
		}
	})
	if len(names) > 0 {
		setters = append(setters, containersPhrase(names))
	}
	if len(setters) == 0 {
		return "", "", true
	}
	var what []string
	if len(badTypes) > 0 {
		what = append(what, plural(len(badTypes), "type", "types")+" "+quoteList(sortedKeys(badTypes)))
	}
	if setUser {
		what = append(what, "user may not be set")
	}
	if setRole {
		what = append(what, "role may not be set")
	}
	return "seLinuxOptions", fmt.Sprintf("%s set forbidden securityContext.seLinuxOptions: %s",
		strings.Join(setters, " and "), strings.Join(what, "; ")), false
}

// safeSysctls are namespaced per pod and cannot affect other pods or the
// node, so any pod may set them.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
	"net.ipv4.tcp_slow_start_after_idle":  true,
	"net.ipv4.tcp_notsent_lowat":          true,
}

func checkSysctls(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if spec.SecurityContext == nil {
		return "", "", true
	}
	var bad []string
	for _, s := range spec.SecurityContext.Sysctls {
		if !safeSysctls[s.Name] {
			bad = append(bad, s.Name)
		}
	}
	if len(bad) == 0 {
		return "", "", true
	}
	return "forbidden sysctls", strings.Join(bad, ", "), false
}

func hostProcess(o *corev1.WindowsSecurityContextOptions) bool {
	return o != nil && o.HostProcess != nil && *o.HostProcess
}

func checkHostProcess(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var setters []string
	if spec.SecurityContext != nil && hostProcess(spec.SecurityContext.WindowsOptions) {
		setters = append(setters, "pod")
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && hostProcess(c.SecurityContext.WindowsOptions) {
			names = append(names, c.Name)
		}
	})
	if len(names) > 0 {
		setters = append(setters, containersPhrase(names))
	}
	if len(setters) == 0 {
		return "", "", true
	}
	return "hostProcess", strings.Join(setters, " and ") + " must not set securityContext.windowsOptions.hostProcess=true", false
}

// baselineCapabilities are the capabilities a container runtime grants by
// default; adding them back after a drop gives nothing new.
var baselineCapabilities = map[corev1.Capability]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true,
	"SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

func checkCapabilitiesBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	caps := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			return
		}
		bad := false
		for _, cap := range c.SecurityContext.Capabilities.Add {
			if !baselineCapabilities[cap] {
				bad = true
				caps[string(cap)] = true
			}
		}
		if bad {
			names = append(names, c.Name)
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	return "non-default capabilities", fmt.Sprintf("%s must not include %s in securityContext.capabilities.add",
		containersPhrase(names), quoteList(sortedKeys(caps))), false
}

func checkSeccompBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	unconfined := func(p *corev1.SeccompProfile) bool {
		return p != nil && p.Type == corev1.SeccompProfileTypeUnconfined
	}
	var setters []string
	if spec.SecurityContext != nil && unconfined(spec.SecurityContext.SeccompProfile) {
		setters = append(setters, "pod")
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && unconfined(c.SecurityContext.SeccompProfile) {
			names = append(names, c.Name)
		}
	})
	if len(names) > 0 {
		setters = append(setters, containersPhrase(names))
	}
	if len(setters) == 0 {
		return "", "", true
	}
	return "seccompProfile", strings.Join(setters, " and ") + ` must not set securityContext.seccompProfile.type to "Unconfined"`, false
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedUnique(items []string) []string {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return sortedKeys(m)
}
