package node

import (
	corev1 "k8s.io/api/core/v1"
)

// kind is the type of an object a node may reach through its pods.
type kind uint8

const (
	kindSecret kind = iota
	kindConfigMap
	kindPVC
	kindServiceAccount
)

// ref names one namespaced object.
type ref struct {
	kind      kind
	namespace string
	name      string
}

// String is the API resource of objects of kind k.
func (k kind) String() string {
	switch k {
	case kindSecret:
		return "secrets"
	case kindConfigMap:
		return "configmaps"
	case kindPVC:
		return "persistentvolumeclaims"
	case kindServiceAccount:
		return "serviceaccounts"
	}
	return ""
}

// Reference names an object in a pod's namespace that the pod's spec
// refers to.
type Reference struct {
	// Resource is secrets, configmaps, persistentvolumeclaims or
	// serviceaccounts.
	Resource string
	Name     string
}

// PodReferences returns, each once, the objects pod's spec names that its
// node must read to run it: the service account, Secrets and ConfigMaps in
// volumes (projected ones included), environment variables of every
// container (init and ephemeral too) and image pull secrets, the Secrets
// volume plugins authenticate with, and the claims of its persistent and
// generic ephemeral volumes. Unlike the authorizer's index it lists a
// mirror pod's too, which is what NodeRestriction refuses them for.
func PodReferences(pod *corev1.Pod) []Reference {
	refs := collect(pod)
	out := make([]Reference, len(refs))
	for i, r := range refs {
		out[i] = Reference{Resource: r.kind.String(), Name: r.name}
	}
	return out
}

// podRefs returns what PodReferences does, as the index keys it. A mirror
// pod names nothing: a node creates those itself, and must not grant
// itself access by doing so.
func podRefs(pod *corev1.Pod) []ref {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	return collect(pod)
}

func collect(pod *corev1.Pod) []ref {
	c := refCollector{namespace: pod.Namespace}
	spec := &pod.Spec
	c.add(kindServiceAccount, spec.ServiceAccountName)
	for _, s := range spec.ImagePullSecrets {
		c.add(kindSecret, s.Name)
	}
	for i := range spec.InitContainers {
		c.env(spec.InitContainers[i].Env, spec.InitContainers[i].EnvFrom)
	}
	for i := range spec.Containers {
		c.env(spec.Containers[i].Env, spec.Containers[i].EnvFrom)
	}
	for i := range spec.EphemeralContainers {
		c.env(spec.EphemeralContainers[i].Env, spec.EphemeralContainers[i].EnvFrom)
	}
	for i := range spec.Volumes {
		c.volume(pod.Name, &spec.Volumes[i])
	}
	return c.refs
}

type refCollector struct {
	namespace string
	refs      []ref
}

// add records a reference once; pods name a handful of objects, so a
// linear search beats a set.
func (c *refCollector) add(k kind, name string) {
	if name == "" {
		return
	}
	r := ref{k, c.namespace, name}
	for _, have := range c.refs {
		if have == r {
			return
		}
	}
	c.refs = append(c.refs, r)
}

func (c *refCollector) local(k kind, r *corev1.LocalObjectReference) {
	if r != nil {
		c.add(k, r.Name)
	}
}

func (c *refCollector) env(env []corev1.EnvVar, from []corev1.EnvFromSource) {
	for i := range env {
		if v := env[i].ValueFrom; v != nil {
			if v.SecretKeyRef != nil {
				c.add(kindSecret, v.SecretKeyRef.Name)
			}
			if v.ConfigMapKeyRef != nil {
				c.add(kindConfigMap, v.ConfigMapKeyRef.Name)
			}
		}
	}
	for i := range from {
		if from[i].SecretRef != nil {
			c.add(kindSecret, from[i].SecretRef.Name)
		}
		if from[i].ConfigMapRef != nil {
			c.add(kindConfigMap, from[i].ConfigMapRef.Name)
		}
	}
}

func (c *refCollector) volume(podName string, v *corev1.Volume) {
	switch {
	case v.Secret != nil:
		c.add(kindSecret, v.Secret.SecretName)
	case v.ConfigMap != nil:
		c.add(kindConfigMap, v.ConfigMap.Name)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.Secret != nil {
				c.add(kindSecret, s.Secret.Name)
			}
			if s.ConfigMap != nil {
				c.add(kindConfigMap, s.ConfigMap.Name)
			}
		}
	case v.PersistentVolumeClaim != nil:
		c.add(kindPVC, v.PersistentVolumeClaim.ClaimName)
	case v.Ephemeral != nil:
		// The ephemeral volume controller names the claim after the
		// pod and the volume.
		c.add(kindPVC, podName+"-"+v.Name)
	case v.AzureFile != nil:
		c.add(kindSecret, v.AzureFile.SecretName)
	case v.CephFS != nil:
		c.local(kindSecret, v.CephFS.SecretRef)
	case v.Cinder != nil:
		c.local(kindSecret, v.Cinder.SecretRef)
	case v.FlexVolume != nil:
		c.local(kindSecret, v.FlexVolume.SecretRef)
	case v.ISCSI != nil:
		c.local(kindSecret, v.ISCSI.SecretRef)
	case v.RBD != nil:
		c.local(kindSecret, v.RBD.SecretRef)
	case v.ScaleIO != nil:
		c.local(kindSecret, v.ScaleIO.SecretRef)
	case v.StorageOS != nil:
		c.local(kindSecret, v.StorageOS.SecretRef)
	case v.CSI != nil:
		c.local(kindSecret, v.CSI.NodePublishSecretRef)
	}
}

// pvSecrets returns the Secrets a node uses to mount pv: those of its
// volume plugin that the kubelet reads (a CSI driver's controller secrets
// are the controller's business, not the node's). A reference without a
// namespace means the bound claim's, as volumes written before
// references carried one do. An unbound volume reaches nothing, so it
// names nothing.
func pvSecrets(pv *corev1.PersistentVolume) []ref {
	if pv.Spec.ClaimRef == nil {
		return nil
	}
	claimNS := pv.Spec.ClaimRef.Namespace
	var out []ref
	add := func(namespace, name string) {
		if name == "" {
			return
		}
		if namespace == "" {
			namespace = claimNS
		}
		r := ref{kindSecret, namespace, name}
		for _, have := range out {
			if have == r {
				return
			}
		}
		out = append(out, r)
	}
	secretRef := func(r *corev1.SecretReference) {
		if r != nil {
			add(r.Namespace, r.Name)
		}
	}
	s := &pv.Spec.PersistentVolumeSource
	switch {
	case s.AzureFile != nil:
		ns := ""
		if s.AzureFile.SecretNamespace != nil {
			ns = *s.AzureFile.SecretNamespace
		}
		add(ns, s.AzureFile.SecretName)
	case s.CephFS != nil:
		secretRef(s.CephFS.SecretRef)
	case s.Cinder != nil:
		secretRef(s.Cinder.SecretRef)
	case s.FlexVolume != nil:
		secretRef(s.FlexVolume.SecretRef)
	case s.ISCSI != nil:
		secretRef(s.ISCSI.SecretRef)
	case s.RBD != nil:
		secretRef(s.RBD.SecretRef)
	case s.ScaleIO != nil:
		secretRef(s.ScaleIO.SecretRef)
	case s.StorageOS != nil:
		if r := s.StorageOS.SecretRef; r != nil {
			add(r.Namespace, r.Name)
		}
	case s.CSI != nil:
		secretRef(s.CSI.NodeStageSecretRef)
		secretRef(s.CSI.NodePublishSecretRef)
		secretRef(s.CSI.NodeExpandSecretRef)
	}
	return out
}
