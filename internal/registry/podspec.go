package registry

import (
	"fmt"
	"net"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod spec defaulting and validation, shared by pods and by every kind that
// embeds a pod template (deployments, jobs, ...). What only a Pod gets
// (requests copied from limits, enableServiceLinks, preemptionPolicy,
// hostNetwork host ports) lives in pod.go, because Kubernetes does not store
// those in templates either.

// defaultPodTemplateSpec fills in what Kubernetes stores for a pod template.
func defaultPodTemplateSpec(t *corev1.PodTemplateSpec) {
	defaultPodSpec(&t.Spec)
}

// defaultPodSpec fills in what Kubernetes stores for a pod spec, wherever
// the spec is embedded.
func defaultPodSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = new(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	// serviceAccount is the deprecated spelling of serviceAccountName; the
	// API returns both, the new one winning.
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = s.DeprecatedServiceAccount
	}
	s.DeprecatedServiceAccount = s.ServiceAccountName

	for i := range s.Volumes {
		defaultVolumeSource(&s.Volumes[i].VolumeSource)
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.EphemeralContainers {
		defaultContainer((*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResources(s.Overhead)
	if s.Resources != nil {
		roundResources(s.Resources.Limits)
		roundResources(s.Resources.Requests)
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		defaultHTTPGet(p.HTTPGet)
		if p.GRPC != nil && p.GRPC.Service == nil {
			p.GRPC.Service = new("")
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
			if h != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
	roundResources(c.Resources.Limits)
	roundResources(c.Resources.Requests)
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// defaultPullPolicy pulls always for a moving tag (explicit or implied
// "latest") and only when missing otherwise, a digest pinning the image.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of an image reference: "latest" when it has
// neither tag nor digest, "" when it has only a digest or cannot be parsed.
func imageTag(image string) string {
	if image == "" || strings.TrimSpace(image) != image {
		return ""
	}
	ref, _, hasDigest := strings.Cut(image, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	if hasDigest {
		return ""
	}
	return "latest"
}

// roundResources rounds quantities finer than a milli-unit up, as the API
// has always stored them. Exact values are left alone, so that their
// original spelling survives.
func roundResources(l corev1.ResourceList) {
	for k, q := range l {
		c := q.DeepCopy()
		if !c.RoundUp(resource.Milli) {
			l[k] = c
		}
	}
}

const defaultFileMode int32 = 0o644

func defaultVolumeSource(v *corev1.VolumeSource) {
	if reflect.ValueOf(*v).IsZero() {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		return
	}
	if s := v.ConfigMap; s != nil && s.DefaultMode == nil {
		s.DefaultMode = new(defaultFileMode)
	}
	if s := v.Secret; s != nil && s.DefaultMode == nil {
		s.DefaultMode = new(defaultFileMode)
	}
	if s := v.DownwardAPI; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = new(defaultFileMode)
		}
		defaultDownwardAPIFiles(s.Items)
	}
	if s := v.Projected; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = new(defaultFileMode)
		}
		for i := range s.Sources {
			src := &s.Sources[i]
			if src.DownwardAPI != nil {
				defaultDownwardAPIFiles(src.DownwardAPI.Items)
			}
			if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = new(int64(3600))
			}
		}
	}
	defaultHostPath(v.HostPath)
	if s := v.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := v.RBD; s != nil {
		defaultRBD(&s.RBDPool, &s.RadosUser, &s.Keyring)
	}
	defaultAzureDisk(v.AzureDisk)
	if s := v.ScaleIO; s != nil {
		defaultScaleIO(&s.StorageMode, &s.FSType)
	}
	if s := v.Ephemeral; s != nil && s.VolumeClaimTemplate != nil {
		defaultPVCSpec(&s.VolumeClaimTemplate.Spec)
	}
	if s := v.Image; s != nil && s.PullPolicy == "" {
		s.PullPolicy = defaultPullPolicy(s.Reference)
	}
}

func defaultDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if f := items[i].FieldRef; f != nil && f.APIVersion == "" {
			f.APIVersion = "v1"
		}
	}
}

// The helpers below are shared with the PersistentVolume sources.

func defaultHostPath(s *corev1.HostPathVolumeSource) {
	if s != nil && s.Type == nil {
		s.Type = new(corev1.HostPathUnset)
	}
}

func defaultRBD(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func defaultAzureDisk(s *corev1.AzureDiskVolumeSource) {
	if s == nil {
		return
	}
	if s.CachingMode == nil {
		s.CachingMode = new(corev1.AzureDataDiskCachingReadWrite)
	}
	if s.Kind == nil {
		s.Kind = new(corev1.AzureSharedBlobDisk)
	}
	if s.FSType == nil {
		s.FSType = new("ext4")
	}
	if s.ReadOnly == nil {
		s.ReadOnly = new(false)
	}
}

func defaultScaleIO(mode, fsType *string) {
	if *mode == "" {
		*mode = "ThinProvisioned"
	}
	if *fsType == "" {
		*fsType = "xfs"
	}
}

// validatePodTemplateSpec checks a pod template at p (".../template").
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, p.Child("metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, p.Child("metadata", "annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, p.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(p.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validatePodSpec checks a defaulted pod spec at p.
func validatePodSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(s.Volumes, p.Child("volumes"))

	names := map[string]bool{}
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		errs = append(errs, validateContainer(c, p.Child("initContainers").Index(i), containerInit, volumes, names)...)
	}
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	for i := range s.Containers {
		errs = append(errs, validateContainer(&s.Containers[i], p.Child("containers").Index(i), containerRegular, volumes, names)...)
	}
	for i := range s.EphemeralContainers {
		c := (*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon)
		errs = append(errs, validateContainer(c, p.Child("ephemeralContainers").Index(i), containerEphemeral, volumes, names)...)
	}
	if s.HostNetwork {
		errs = append(errs, validateHostNetworkPorts(s, p)...)
	}

	errs = append(errs, oneOf(p.Child("restartPolicy"), s.RestartPolicy,
		corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	errs = append(errs, oneOf(p.Child("dnsPolicy"), s.DNSPolicy,
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	errs = append(errs, validateDNSConfig(s.DNSPolicy, s.DNSConfig, p.Child("dnsConfig"))...)

	if v := s.TerminationGracePeriodSeconds; v != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*v, p.Child("terminationGracePeriodSeconds"))...)
	}
	if v := s.ActiveDeadlineSeconds; v != nil && (*v < 1 || *v > 1<<32-1) {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *v, validation.InclusiveRangeError(1, 1<<32-1)))
	}
	errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, p.Child("nodeSelector"))...)
	errs = append(errs, validateTolerations(s.Tolerations, p.Child("tolerations"))...)

	errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, s.ServiceAccountName, p.Child("serviceAccountName"))...)
	errs = append(errs, dnsCheck(validation.IsDNS1123Label, s.Hostname, p.Child("hostname"))...)
	errs = append(errs, dnsCheck(validation.IsDNS1123Label, s.Subdomain, p.Child("subdomain"))...)
	errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, s.PriorityClassName, p.Child("priorityClassName"))...)
	if s.NodeName != "" {
		errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, s.NodeName, p.Child("nodeName"))...)
	}
	// imagePullSecrets are not checked: charts often render empty names,
	// which Kubernetes accepts (with a warning) and the kubelet skips.
	for i, g := range s.ReadinessGates {
		errs = append(errs, metav1validation.ValidateLabelName(string(g.ConditionType), p.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	gates := map[string]bool{}
	for i, g := range s.SchedulingGates {
		gp := p.Child("schedulingGates").Index(i).Child("name")
		errs = append(errs, metav1validation.ValidateLabelName(g.Name, gp)...)
		if gates[g.Name] {
			errs = append(errs, field.Duplicate(gp, g.Name))
		}
		gates[g.Name] = true
	}
	for i, c := range s.TopologySpreadConstraints {
		cp := p.Child("topologySpreadConstraints").Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(c.TopologyKey, cp.Child("topologyKey"))...)
		}
		errs = append(errs, oneOf(cp.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, corev1.DoNotSchedule, corev1.ScheduleAnyway)...)
	}
	for i, a := range s.HostAliases {
		if net.ParseIP(a.IP) == nil {
			errs = append(errs, field.Invalid(p.Child("hostAliases").Index(i).Child("ip"), a.IP, "must be a valid IP address"))
		}
	}
	errs = append(errs, validateResourceList(s.Overhead, p.Child("overhead"))...)
	if s.Resources != nil {
		errs = append(errs, validateResources(s.Resources, p.Child("resources"))...)
	}
	return errs
}

type containerType int

const (
	containerRegular containerType = iota
	containerInit
	containerEphemeral
)

// validateContainer checks one container. names collects the container
// names seen so far in the pod, volumes the pod's volumes by name.
func validateContainer(c *corev1.Container, p *field.Path, typ containerType, volumes map[string]*corev1.Volume, names map[string]bool) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.Name == "":
		errs = append(errs, field.Required(p.Child("name"), ""))
	case names[c.Name]:
		errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
	default:
		errs = append(errs, dnsCheck(validation.IsDNS1123Label, c.Name, p.Child("name"))...)
	}
	names[c.Name] = true

	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, oneOf(p.Child("imagePullPolicy"), c.ImagePullPolicy, corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	errs = append(errs, oneOf(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)

	errs = append(errs, validateContainerPorts(c.Ports, p.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	errs = append(errs, validateVolumeMounts(c, p, volumes)...)

	sidecar := typ == containerInit && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	if rp := c.RestartPolicy; rp != nil {
		if typ == containerInit {
			errs = append(errs, oneOf(p.Child("restartPolicy"), *rp, corev1.ContainerRestartPolicyAlways)...)
		} else {
			errs = append(errs, oneOf(p.Child("restartPolicy"), *rp, corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicyOnFailure, corev1.ContainerRestartPolicyNever)...)
		}
	}

	probes := []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.probe == nil {
			continue
		}
		pp := p.Child(pr.name)
		switch {
		case typ == containerEphemeral:
			errs = append(errs, field.Forbidden(pp, "cannot be set for an Ephemeral Container"))
		case typ == containerInit && !sidecar:
			errs = append(errs, field.Forbidden(pp, "may not be set for init containers without restartPolicy=Always"))
		default:
			errs = append(errs, validateProbe(pr.probe, pp, pr.name != "readinessProbe")...)
		}
	}
	if c.Lifecycle != nil {
		switch {
		case typ == containerEphemeral:
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), "cannot be set for an Ephemeral Container"))
		case typ == containerInit && !sidecar:
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
		default:
			errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
		}
	}
	if typ == containerEphemeral {
		if len(c.Ports) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ports"), "cannot be set for an Ephemeral Container"))
		}
		if len(c.Resources.Limits)+len(c.Resources.Requests) > 0 {
			errs = append(errs, field.Forbidden(p.Child("resources"), "cannot be set for an Ephemeral Container"))
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNumber(port.ContainerPort, pp.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNumber(port.HostPort, pp.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
	}
	return errs
}

// validateHostNetworkPorts: with the host's network the container port is
// the host port, so a differing hostPort cannot be honoured.
func validateHostNetworkPorts(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(cs []corev1.Container, cp *field.Path) {
		for i, c := range cs {
			for j, port := range c.Ports {
				if port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(cp.Index(i).Child("ports").Index(j).Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	check(s.InitContainers, p.Child("initContainers"))
	check(s.Containers, p.Child("containers"))
	return errs
}

func portNumber(port int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p, port, msg))
	}
	return errs
}

// portNumberOrName checks a port given by number or by IANA service name.
func portNumberOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		return portNumber(port.IntVal, p)
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(p, port.StrVal, msg))
	}
	return errs
}

func validateProtocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	if proto == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return oneOf(p, proto, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
}

// downwardFieldPaths are the pod fields an env var or downward API file
// may expose (labels and annotations are matched by prefix).
var downwardFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
	"spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

func validateFieldRef(f *corev1.ObjectFieldSelector, p *field.Path) field.ErrorList {
	if f.FieldPath == "" {
		return field.ErrorList{field.Required(p.Child("fieldPath"), "")}
	}
	if f.APIVersion != "v1" {
		return field.ErrorList{field.NotSupported(p.Child("apiVersion"), f.APIVersion, []string{"v1"})}
	}
	fp := f.FieldPath
	if key, ok := strings.CutPrefix(fp, "metadata.labels['"); ok {
		return metav1validation.ValidateLabelName(strings.TrimSuffix(key, "']"), p.Child("fieldPath"))
	}
	if key, ok := strings.CutPrefix(fp, "metadata.annotations['"); ok {
		return metav1validation.ValidateLabelName(strings.ToLower(strings.TrimSuffix(key, "']")), p.Child("fieldPath"))
	}
	if !slices.Contains(downwardFieldPaths, fp) {
		return field.ErrorList{field.NotSupported(p.Child("fieldPath"), fp, downwardFieldPaths)}
	}
	return nil
}

func validateResourceFieldRef(r *corev1.ResourceFieldSelector, p *field.Path) field.ErrorList {
	switch {
	case r.Resource == "":
		return field.ErrorList{field.Required(p.Child("resource"), "")}
	case strings.HasPrefix(r.Resource, "limits.hugepages-"), strings.HasPrefix(r.Resource, "requests.hugepages-"):
		return nil
	}
	return oneOf(p.Child("resource"), r.Resource,
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage")
}

func validateEnv(env []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		ep := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(ep.Child("name"), ev.Name, msg))
			}
		}
		vf := ev.ValueFrom
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		switch countSet(*vf) {
		case 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
		case 1:
		default:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
		}
		if ev.Value != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		if vf.FieldRef != nil {
			errs = append(errs, validateFieldRef(vf.FieldRef, vp.Child("fieldRef"))...)
		}
		if vf.ResourceFieldRef != nil {
			errs = append(errs, validateResourceFieldRef(vf.ResourceFieldRef, vp.Child("resourceFieldRef"))...)
		}
		if r := vf.ConfigMapKeyRef; r != nil {
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("configMapKeyRef"))...)
		}
		if r := vf.SecretKeyRef; r != nil {
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("secretKeyRef"))...)
		}
	}
	return errs
}

func validateKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		errs = append(errs, validateConfigKey(key, p.Child("key"))...)
	}
	return errs
}

func validateEnvFrom(from []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range from {
		ep := p.Index(i)
		if ef.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(ef.Prefix) {
				errs = append(errs, field.Invalid(ep.Child("prefix"), ef.Prefix, msg))
			}
		}
		switch {
		case ef.ConfigMapRef == nil && ef.SecretRef == nil:
			errs = append(errs, field.Invalid(ep, "", "must specify one of: `configMapRef` or `secretRef`"))
		case ef.ConfigMapRef != nil && ef.SecretRef != nil:
			errs = append(errs, field.Invalid(ep, "", "may not have more than one field specified at a time"))
		case ef.ConfigMapRef != nil:
			errs = append(errs, requiredSubdomain(ef.ConfigMapRef.Name, ep.Child("configMapRef", "name"))...)
		default:
			errs = append(errs, requiredSubdomain(ef.SecretRef.Name, ep.Child("secretRef", "name"))...)
		}
	}
	return errs
}

// validateResources checks quantities, resource names and requests <= limits.
func validateResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	lp, rp := p.Child("limits"), p.Child("requests")
	errs := validateResourceList(r.Limits, lp)
	errs = append(errs, validateResourceList(r.Requests, rp)...)
	for _, name := range sortedResourceNames(r.Requests) {
		req := r.Requests[name]
		lim, hasLimit := r.Limits[name]
		switch {
		case isExtendedResource(name) || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			if !hasLimit && isExtendedResource(name) {
				errs = append(errs, field.Required(lp.Key(string(name)), "Limit must be set for non overcommitable resources"))
			} else if hasLimit && req.Cmp(lim) != 0 {
				errs = append(errs, field.Invalid(rp.Key(string(name)), req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
			}
		case hasLimit && req.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(rp.Key(string(name)), req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

// validateResourceList checks names and that no quantity is negative.
func validateResourceList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedResourceNames(l) {
		kp := p.Key(string(name))
		errs = append(errs, validateResourceName(name, kp)...)
		errs = append(errs, nonNegative(l[name], kp)...)
	}
	return errs
}

func nonNegative(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be greater than or equal to 0")}
	}
	return nil
}

// validateResourceName accepts the standard compute resources and
// domain-qualified extended resources.
func validateResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	s := string(name)
	if msgs := validation.IsQualifiedName(s); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, s, strings.Join(msgs, "; "))}
	}
	if strings.Contains(s, "/") || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return nil
	}
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return nil
	}
	return field.ErrorList{field.Invalid(p, s, "must be a standard resource for containers")}
}

// isExtendedResource: a resource outside the kubernetes.io domain, which
// the scheduler cannot overcommit.
func isExtendedResource(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") {
		return false
	}
	domain, _, _ := strings.Cut(s, "/")
	return domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io")
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func validateVolumeMounts(c *corev1.Container, p *field.Path, volumes map[string]*corev1.Volume) field.ErrorList {
	var errs field.ErrorList
	paths := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if volumes[m.Name] == nil {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else if paths[m.MountPath] {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[m.MountPath] = true
		if m.SubPath != "" {
			errs = append(errs, relativePath(m.SubPath, mp.Child("subPath"))...)
			if m.SubPathExpr != "" {
				errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
		}
		if m.MountPropagation != nil {
			errs = append(errs, oneOf(mp.Child("mountPropagation"), *m.MountPropagation,
				corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional)...)
		}
		if m.RecursiveReadOnly != nil {
			errs = append(errs, oneOf(mp.Child("recursiveReadOnly"), *m.RecursiveReadOnly,
				corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled)...)
		}
	}
	for i, d := range c.VolumeDevices {
		dp := p.Child("volumeDevices").Index(i)
		if v := volumes[d.Name]; v == nil || (v.PersistentVolumeClaim == nil && v.Ephemeral == nil) {
			errs = append(errs, field.Invalid(dp.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(dp.Child("devicePath"), ""))
		}
	}
	return errs
}

// relativePath refuses absolute paths and paths that climb out with "..".
func relativePath(s string, p *field.Path) field.ErrorList {
	if path.IsAbs(s) {
		return field.ErrorList{field.Invalid(p, s, "must be a relative path")}
	}
	if slices.Contains(strings.Split(s, "/"), "..") {
		return field.ErrorList{field.Invalid(p, s, "must not contain '..'")}
	}
	return nil
}

func validateProbe(pr *corev1.Probe, p *field.Path, mustSucceedOnce bool) field.ErrorList {
	errs := validateHandler(pr.ProbeHandler, p)
	for _, n := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds},
		{"periodSeconds", pr.PeriodSeconds}, {"successThreshold", pr.SuccessThreshold},
		{"failureThreshold", pr.FailureThreshold},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(n.v), p.Child(n.name))...)
	}
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if v := pr.TerminationGracePeriodSeconds; v != nil {
		if !mustSucceedOnce {
			errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *v, "must not be set for readinessProbes"))
		} else if *v <= 0 {
			errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *v, "must be greater than 0"))
		}
	}
	return errs
}

// validateHandler checks a probe's or lifecycle hook's action: exactly
// one of the fields of h (a ProbeHandler or LifecycleHandler) is set.
func validateHandler(h any, p *field.Path) field.ErrorList {
	set := setFields(h)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(p, "must specify a handler type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(p.Child(set[1]), "may not specify more than 1 handler type")}
	}
	var exec *corev1.ExecAction
	var get *corev1.HTTPGetAction
	var tcp *corev1.TCPSocketAction
	switch h := h.(type) {
	case corev1.ProbeHandler:
		exec, get, tcp = h.Exec, h.HTTPGet, h.TCPSocket
		if h.GRPC != nil {
			return portNumber(h.GRPC.Port, p.Child("grpc", "port"))
		}
	case corev1.LifecycleHandler:
		exec, get, tcp = h.Exec, h.HTTPGet, h.TCPSocket
		if h.Sleep != nil && h.Sleep.Seconds < 0 {
			return field.ErrorList{field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0")}
		}
	}
	switch {
	case exec != nil && len(exec.Command) == 0:
		return field.ErrorList{field.Required(p.Child("exec", "command"), "")}
	case get != nil:
		gp := p.Child("httpGet")
		errs := portNumberOrName(get.Port, gp.Child("port"))
		errs = append(errs, oneOf(gp.Child("scheme"), get.Scheme, corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
		for i, hdr := range get.HTTPHeaders {
			for _, msg := range validation.IsHTTPHeaderName(hdr.Name) {
				errs = append(errs, field.Invalid(gp.Child("httpHeaders").Index(i).Child("name"), hdr.Name, msg))
			}
		}
		return errs
	case tcp != nil:
		return portNumberOrName(tcp.Port, p.Child("tcpSocket", "port"))
	}
	return nil
}

func validateLifecycle(l *corev1.Lifecycle, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if l.PostStart != nil {
		errs = append(errs, validateHandler(*l.PostStart, p.Child("postStart"))...)
	}
	if l.PreStop != nil {
		errs = append(errs, validateHandler(*l.PreStop, p.Child("preStop"))...)
	}
	return errs
}

func validateDNSConfig(policy corev1.DNSPolicy, c *corev1.PodDNSConfig, p *field.Path) field.ErrorList {
	if policy == corev1.DNSNone && (c == nil || len(c.Nameservers) == 0) {
		return field.ErrorList{field.Required(p.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")}
	}
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	if len(c.Nameservers) > 3 {
		errs = append(errs, field.TooMany(p.Child("nameservers"), len(c.Nameservers), 3))
	}
	for i, ns := range c.Nameservers {
		if net.ParseIP(ns) == nil {
			errs = append(errs, field.Invalid(p.Child("nameservers").Index(i), ns, "must be a valid IP address"))
		}
	}
	if len(c.Searches) > 32 {
		errs = append(errs, field.TooMany(p.Child("searches"), len(c.Searches), 32))
	}
	for i, s := range c.Searches {
		errs = append(errs, dnsCheck(validation.IsDNS1123Subdomain, strings.TrimSuffix(s, "."), p.Child("searches").Index(i))...)
	}
	for i, o := range c.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(p.Child("options").Index(i).Child("name"), ""))
		}
	}
	return errs
}

func validateTolerations(tols []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tols {
		tp := p.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		} else if t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(tp.Child("value"), t.Value, msg))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, "value must be empty when `operator` is 'Exists'"))
			}
		case corev1.TolerationOpGt, corev1.TolerationOpLt:
			if _, err := strconv.ParseInt(t.Value, 10, 64); err != nil {
				errs = append(errs, field.Invalid(tp.Child("value"), t.Value, "must be an integer when `operator` is 'Gt' or 'Lt'"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.Operator,
				[]corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists, corev1.TolerationOpGt, corev1.TolerationOpLt}))
		}
		if t.Effect != "" {
			errs = append(errs, oneOf(tp.Child("effect"), t.Effect, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		}
	}
	return errs
}

// validateVolumes checks the pod's volumes and returns them by name.
func validateVolumes(vols []corev1.Volume, p *field.Path) (map[string]*corev1.Volume, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]*corev1.Volume{}
	for i := range vols {
		v := &vols[i]
		vp := p.Index(i)
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(vp.Child("name"), ""))
		case byName[v.Name] != nil:
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		default:
			errs = append(errs, dnsCheck(validation.IsDNS1123Label, v.Name, vp.Child("name"))...)
			byName[v.Name] = v
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
	}
	return byName, errs
}

func validateVolumeSource(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	set := setFields(*v)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(p.Child(set[1]), "may not specify more than 1 volume type")}
	}
	var errs field.ErrorList
	switch {
	case v.HostPath != nil:
		errs = append(errs, validateHostPath(v.HostPath, p.Child("hostPath"))...)
	case v.EmptyDir != nil:
		if v.EmptyDir.SizeLimit != nil {
			errs = append(errs, nonNegative(*v.EmptyDir.SizeLimit, p.Child("emptyDir", "sizeLimit"))...)
		}
		if m := v.EmptyDir.Medium; !strings.HasPrefix(string(m), string(corev1.StorageMediumHugePagesPrefix)) {
			errs = append(errs, oneOf(p.Child("emptyDir", "medium"), m,
				corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages)...)
		}
	case v.ConfigMap != nil:
		cp := p.Child("configMap")
		errs = append(errs, requiredSubdomain(v.ConfigMap.Name, cp.Child("name"))...)
		errs = append(errs, validateKeyFiles(v.ConfigMap.Items, v.ConfigMap.DefaultMode, cp)...)
	case v.Secret != nil:
		sp := p.Child("secret")
		errs = append(errs, requiredSubdomain(v.Secret.SecretName, sp.Child("secretName"))...)
		errs = append(errs, validateKeyFiles(v.Secret.Items, v.Secret.DefaultMode, sp)...)
	case v.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, fileMode(v.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIFiles(v.DownwardAPI.Items, dp.Child("items"))...)
	case v.Projected != nil:
		errs = append(errs, validateProjected(v.Projected, p.Child("projected"))...)
	case v.PersistentVolumeClaim != nil:
		if v.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case v.NFS != nil:
		errs = append(errs, validateNFS(v.NFS, p.Child("nfs"))...)
	case v.CSI != nil:
		if v.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
		}
	case v.Ephemeral != nil:
		if v.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p.Child("ephemeral", "volumeClaimTemplate"), ""))
		} else {
			errs = append(errs, validatePVCSpec(&v.Ephemeral.VolumeClaimTemplate.Spec, p.Child("ephemeral", "volumeClaimTemplate", "spec"))...)
		}
	case v.Image != nil:
		if v.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("image", "reference"), ""))
		}
		errs = append(errs, oneOf(p.Child("image", "pullPolicy"), v.Image.PullPolicy, corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	}
	return errs
}

func validateHostPath(h *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else if slices.Contains(strings.Split(h.Path, "/"), "..") {
		errs = append(errs, field.Invalid(p.Child("path"), h.Path, "must not contain '..'"))
	}
	if h.Type != nil {
		errs = append(errs, oneOf(p.Child("type"), *h.Type,
			corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
			corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev)...)
	}
	return errs
}

func validateNFS(n *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if n.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else if !path.IsAbs(n.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), n.Path, "must be an absolute path"))
	}
	return errs
}

func validateKeyFiles(items []corev1.KeyToPath, mode *int32, p *field.Path) field.ErrorList {
	errs := fileMode(mode, p.Child("defaultMode"))
	for i, it := range items {
		ip := p.Child("items").Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		errs = append(errs, itemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, fileMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		errs = append(errs, itemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, fileMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, validateFieldRef(it.FieldRef, ip.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldRef(it.ResourceFieldRef, ip.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateProjected(v *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	errs := fileMode(v.DefaultMode, p.Child("defaultMode"))
	for i, src := range v.Sources {
		sp := p.Child("sources").Index(i)
		set := setFields(src)
		switch {
		case len(set) == 0:
			errs = append(errs, field.Required(sp, "must specify exactly 1 projected source"))
			continue
		case len(set) > 1:
			errs = append(errs, field.Forbidden(sp.Child(set[1]), "may not specify more than 1 projected source"))
			continue
		}
		switch {
		case src.ConfigMap != nil:
			errs = append(errs, validateKeyFiles(src.ConfigMap.Items, nil, sp.Child("configMap"))...)
		case src.Secret != nil:
			errs = append(errs, validateKeyFiles(src.Secret.Items, nil, sp.Child("secret"))...)
		case src.DownwardAPI != nil:
			errs = append(errs, validateDownwardAPIFiles(src.DownwardAPI.Items, sp.Child("downwardAPI", "items"))...)
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 600 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			} else {
				errs = append(errs, itemPath(t.Path, tp.Child("path"))...)
			}
		}
	}
	return errs
}

func itemPath(s string, p *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return relativePath(s, p)
}

func fileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// setFields returns the JSON names of the non-nil pointer fields of the
// struct v: the members set in a one-of union such as VolumeSource.
func setFields(v any) []string {
	rv := reflect.ValueOf(v)
	var set []string
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			set = append(set, name)
		}
	}
	return set
}

// countSet counts the members set in a one-of union.
func countSet(v any) int { return len(setFields(v)) }

// oneOf refuses a value outside the allowed set.
func oneOf[T ~string](p *field.Path, v T, allowed ...T) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

// dnsCheck runs a DNS name check on a value that may be empty.
func dnsCheck(check func(string) []string, v string, p *field.Path) field.ErrorList {
	if v == "" {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range check(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func requiredSubdomain(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return dnsCheck(validation.IsDNS1123Subdomain, v, p)
}
