package podsecurity

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func checkAllowPrivilegeEscalation(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if isWindows(spec) {
		return "", "", true
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			names = append(names, c.Name)
		}
	})
	if len(names) == 0 {
		return "", "", true
	}
	return "allowPrivilegeEscalation != false", containersPhrase(names) + " must set securityContext.allowPrivilegeEscalation=false", false
}

func checkCapabilitiesRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if isWindows(spec) {
		return "", "", true
	}
	var noDrop, adding []string
	caps := map[string]bool{}
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			noDrop = append(noDrop, c.Name)
			return
		}
		dropsAll := false
		for _, d := range c.SecurityContext.Capabilities.Drop {
			if d == "ALL" {
				dropsAll = true
			}
		}
		if !dropsAll {
			noDrop = append(noDrop, c.Name)
		}
		bad := false
		for _, a := range c.SecurityContext.Capabilities.Add {
			if a != "NET_BIND_SERVICE" {
				bad = true
				caps[string(a)] = true
			}
		}
		if bad {
			adding = append(adding, c.Name)
		}
	})
	var parts []string
	if len(noDrop) > 0 {
		parts = append(parts, containersPhrase(noDrop)+` must set securityContext.capabilities.drop=["ALL"]`)
	}
	if len(adding) > 0 {
		parts = append(parts, fmt.Sprintf("%s must not include %s in securityContext.capabilities.add", containersPhrase(adding), quoteList(sortedKeys(caps))))
	}
	if len(parts) == 0 {
		return "", "", true
	}
	return "unrestricted capabilities", strings.Join(parts, "; "), false
}

// volumeType names the source a volume uses, as the field is spelled, or
// "unknown" when none is set; ok is true for the sources a restricted pod may
// use, which only expose data the cluster already controls.
func volumeType(v *corev1.Volume) (name string, ok bool) {
	s := &v.VolumeSource
	switch {
	case s.ConfigMap != nil:
		return "configMap", true
	case s.CSI != nil:
		return "csi", true
	case s.DownwardAPI != nil:
		return "downwardAPI", true
	case s.EmptyDir != nil:
		return "emptyDir", true
	case s.Ephemeral != nil:
		return "ephemeral", true
	case s.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim", true
	case s.Projected != nil:
		return "projected", true
	case s.Secret != nil:
		return "secret", true
	case s.Image != nil:
		return "image", true
	case s.HostPath != nil:
		return "hostPath", false
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk", false
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore", false
	case s.GitRepo != nil:
		return "gitRepo", false
	case s.NFS != nil:
		return "nfs", false
	case s.ISCSI != nil:
		return "iscsi", false
	case s.Glusterfs != nil:
		return "glusterfs", false
	case s.RBD != nil:
		return "rbd", false
	case s.FlexVolume != nil:
		return "flexVolume", false
	case s.Cinder != nil:
		return "cinder", false
	case s.CephFS != nil:
		return "cephfs", false
	case s.Flocker != nil:
		return "flocker", false
	case s.FC != nil:
		return "fc", false
	case s.AzureFile != nil:
		return "azureFile", false
	case s.VsphereVolume != nil:
		return "vsphereVolume", false
	case s.Quobyte != nil:
		return "quobyte", false
	case s.AzureDisk != nil:
		return "azureDisk", false
	case s.PhotonPersistentDisk != nil:
		return "photonPersistentDisk", false
	case s.PortworxVolume != nil:
		return "portworxVolume", false
	case s.ScaleIO != nil:
		return "scaleIO", false
	case s.StorageOS != nil:
		return "storageos", false
	}
	return "unknown", false
}

func checkRestrictedVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	var names []string
	types := map[string]bool{}
	for i := range spec.Volumes {
		if t, ok := volumeType(&spec.Volumes[i]); !ok {
			names = append(names, spec.Volumes[i].Name)
			types[t] = true
		}
	}
	if len(names) == 0 {
		return "", "", true
	}
	return "restricted volume types", fmt.Sprintf("%s %s %s %s %s",
		plural(len(names), "volume", "volumes"), quoteList(names), plural(len(names), "uses", "use"),
		plural(len(types), "restricted volume type", "restricted volume types"), quoteList(sortedKeys(types))), false
}

// checkRunAsNonRoot requires every container to run as non-root, set on the
// container or inherited from the pod. An explicit false anywhere is
// reported before a missing true, as Kubernetes does. A pod with its own
// user namespace is exempt: its root is not the node's.
func checkRunAsNonRoot(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if inUserNamespace(spec) {
		return "", "", true
	}
	var setters []string
	podTrue := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podTrue = true
		} else {
			setters = append(setters, "pod")
		}
	}
	var explicit, implicit []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
			if !*c.SecurityContext.RunAsNonRoot {
				explicit = append(explicit, c.Name)
			}
		} else if !podTrue {
			implicit = append(implicit, c.Name)
		}
	})
	if len(explicit) > 0 {
		setters = append(setters, containersPhrase(explicit))
	}
	const reason = "runAsNonRoot != true"
	if len(setters) > 0 {
		return reason, strings.Join(setters, " and ") + " must not set securityContext.runAsNonRoot=false", false
	}
	if len(implicit) > 0 {
		return reason, "pod or " + containersPhrase(implicit) + " must set securityContext.runAsNonRoot=true", false
	}
	return "", "", true
}

// checkRunAsUser forbids uid 0, except in a pod with its own user namespace.
func checkRunAsUser(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if inUserNamespace(spec) {
		return "", "", true
	}
	var setters []string
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		setters = append(setters, "pod")
	}
	var names []string
	visitContainers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			names = append(names, c.Name)
		}
	})
	if len(names) > 0 {
		setters = append(setters, containersPhrase(names))
	}
	if len(setters) == 0 {
		return "", "", true
	}
	return "runAsUser=0", strings.Join(setters, " and ") + " must not set runAsUser=0", false
}

// checkSeccompRestricted requires a seccomp profile on every container, set
// on the container or inherited from the pod.
func checkSeccompRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (string, string, bool) {
	if isWindows(spec) {
		return "", "", true
	}
	valid := func(p *corev1.SeccompProfile) bool {
		return p.Type == corev1.SeccompProfileTypeRuntimeDefault || p.Type == corev1.SeccompProfileTypeLocalhost
	}
	var setters []string
	badTypes := map[string]bool{}
	podSet := false
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		if valid(sc.SeccompProfile) {
			podSet = true
		} else {
			setters = append(setters, "pod")
			badTypes[string(sc.SeccompProfile.Type)] = true
		}
	}
	var explicit, implicit []string
	visitContainers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
			if !valid(c.SecurityContext.SeccompProfile) {
				explicit = append(explicit, c.Name)
				badTypes[string(c.SecurityContext.SeccompProfile.Type)] = true
			}
		} else if !podSet {
			implicit = append(implicit, c.Name)
		}
	})
	if len(explicit) > 0 {
		setters = append(setters, containersPhrase(explicit))
	}
	if len(setters) > 0 {
		return "seccompProfile", fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s",
			strings.Join(setters, " and "), quoteList(sortedKeys(badTypes))), false
	}
	if len(implicit) > 0 {
		return "seccompProfile", "pod or " + containersPhrase(implicit) + ` must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`, false
	}
	return "", "", true
}
