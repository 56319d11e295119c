package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const etcHostsPath = "/etc/hosts"

// Mounts returns the CRI mounts for container c of pod, after Setup (and Hosts) ran.
// env is the container's resolved environment (from Env), which subPathExpr expands
// against. configMap, secret, downwardAPI and projected volumes are always read-only, as
// in Kubernetes; /etc/hosts is added unless the container mounts its own.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, env []*runtimeapi.KeyValue) ([]*runtimeapi.Mount, error) {
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var (
		out      []*runtimeapi.Mount
		ownHosts bool
	)
	for _, vm := range c.VolumeMounts {
		vol, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		hostPath, err := m.HostPath(pod, vol)
		if err != nil {
			return nil, err
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if sub, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, fmt.Errorf("unable to expand subPath %q for volume %q: %w", vm.SubPathExpr, vm.Name, err)
			}
		}
		if sub != "" {
			if hostPath, err = subPathHostPath(hostPath, sub); err != nil {
				return nil, fmt.Errorf("volume %q subPath %q: %w", vm.Name, sub, err)
			}
		}
		prop, err := propagation(vm.MountPropagation, c)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vm.Name, err)
		}
		containerPath := vm.MountPath
		if !strings.HasPrefix(containerPath, "/") {
			// The kubelet makes relative mount paths absolute rather than failing.
			containerPath = "/" + containerPath
		}
		readOnly := vm.ReadOnly || vol.ConfigMap != nil || vol.Secret != nil || vol.DownwardAPI != nil || vol.Projected != nil
		out = append(out, &runtimeapi.Mount{
			ContainerPath:     containerPath,
			HostPath:          hostPath,
			Readonly:          readOnly,
			Propagation:       prop,
			RecursiveReadOnly: readOnly && vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled,
		})
		if containerPath == etcHostsPath {
			ownHosts = true
		}
	}
	if !ownHosts {
		pd, err := m.podDir(pod.UID)
		if err != nil {
			return nil, err
		}
		hosts := filepath.Join(pd, etcHostsFile)
		if _, err := os.Stat(hosts); err == nil {
			out = append(out, &runtimeapi.Mount{ContainerPath: etcHostsPath, HostPath: hosts})
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("hosts file: %w", err)
		}
	}
	return out, nil
}

// expandSubPath expands a subPathExpr; unlike env values, a reference to a variable that
// is unset or empty is an error, since it would silently mount the whole volume.
func expandSubPath(expr string, env []*runtimeapi.KeyValue) (string, error) {
	vals := make(map[string]string, len(env))
	for _, kv := range env {
		vals[kv.Key] = string(kv.Value)
	}
	var missing []string
	out := Expand(expr, func(name string) (string, bool) {
		v := vals[name]
		if v == "" {
			missing = append(missing, name)
		}
		return v, true
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// subPathHostPath returns volPath/sub, creating it as a directory when missing, and
// refuses a sub that leaves the volume, directly or through a symlink a container
// could have planted.
func subPathHostPath(volPath, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", errors.New("must not be an absolute path")
	}
	for _, part := range strings.Split(sub, "/") {
		if part == ".." {
			return "", errors.New("must not contain '..'")
		}
	}
	realVol, err := filepath.EvalSymlinks(volPath)
	if err != nil {
		return "", fmt.Errorf("resolve volume: %w", err)
	}
	inside := func(p string) bool {
		return p == realVol || strings.HasPrefix(p, realVol+string(filepath.Separator))
	}
	// Resolve the part that exists before creating the rest, so a symlink planted in
	// the volume cannot make us create directories elsewhere on the host.
	real, missing, err := resolveExisting(filepath.Join(volPath, sub))
	if err != nil {
		return "", err
	}
	if !inside(real) {
		return "", fmt.Errorf("resolves to %s, outside the volume", real)
	}
	if missing != "" {
		real = filepath.Join(real, missing)
		if err := os.MkdirAll(real, 0o755); err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		if err := os.Chmod(real, 0o755); err != nil {
			return "", fmt.Errorf("chmod: %w", err)
		}
	}
	// The resolved path is what gets bind-mounted, so a later symlink swap inside the
	// volume cannot redirect it.
	return real, nil
}

func propagation(mode *corev1.MountPropagationMode, c *corev1.Container) (runtimeapi.MountPropagation, error) {
	if mode == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	}
	switch *mode {
	case corev1.MountPropagationNone:
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	case corev1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, nil
	case corev1.MountPropagationBidirectional:
		if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
			return 0, errors.New("Bidirectional mount propagation is available only to privileged containers")
		}
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, nil
	}
	return 0, fmt.Errorf("invalid mount propagation mode %q", *mode)
}

// resolveExisting resolves the symlinks of the longest existing prefix of p and returns
// that real path joined with the rest, plus the part that does not exist yet.
func resolveExisting(p string) (path, missing string, err error) {
	existing := filepath.Clean(p)
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		missing = filepath.Join(filepath.Base(existing), missing)
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", existing, err)
	}
	return real, missing, nil
}
