package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

// Plugin directory names, as the kubelet spells them, so tools that inspect a node's
// pod directories find volumes where they expect them.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"

	etcHostsFile = "etc-hosts"
)

// mounter is the part of the kernel the manager needs; tests without root replace it.
type mounter interface {
	// mountTmpfs mounts a tmpfs on dir; sizeBytes 0 leaves the kernel default.
	mountTmpfs(dir string, sizeBytes int64, mode fs.FileMode) error
	unmount(dir string) error
	// mountPoints lists the mount points at or below dir, in mount order.
	mountPoints(dir string) ([]string, error)
}

// Manager lays out pod volumes under one root directory. It is safe for concurrent use
// for different pods; calls for one pod must not overlap, which the per-pod worker that
// syncs it guarantees.
type Manager struct {
	root  string
	src   Sources
	log   *slog.Logger
	mount mounter
	// nodeHosts is the file host-network pods see a copy of.
	nodeHosts string

	mu          sync.Mutex
	allocatable corev1.ResourceList
}

// NewManager returns a Manager keeping pod directories under root (created on demand).
func NewManager(root string, src Sources, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The kernel's mount table shows real paths; pod directories must be named the same
	// way for Setup and Teardown to recognise their own mounts.
	if real, missing, err := resolveExisting(root); err == nil {
		root = filepath.Join(real, missing)
	}
	return &Manager{root: root, src: src, log: log, mount: kernelMounter{}, nodeHosts: "/etc/hosts"}
}

// SetAllocatable records the node's allocatable resources. They stand in for limits a
// container leaves unset in downwardAPI resource files and size memory-backed emptyDirs
// of pods without memory limits.
func (m *Manager) SetAllocatable(rl corev1.ResourceList) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allocatable = rl.DeepCopy()
}

func (m *Manager) nodeAllocatable() corev1.ResourceList {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allocatable
}

// podDir returns ROOT/<uid>, refusing UIDs that are not a single plain path element so a
// bad UID can never point Teardown's removal elsewhere.
func (m *Manager) podDir(uid types.UID) (string, error) {
	s := string(uid)
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("invalid pod UID %q", s)
	}
	return filepath.Join(m.root, s), nil
}

// PodDir returns the directory holding everything the manager keeps for the pod.
func (m *Manager) PodDir(uid types.UID) (string, error) { return m.podDir(uid) }

func (m *Manager) volumeDir(uid types.UID, plugin, name string) (string, error) {
	pd, err := m.podDir(uid)
	if err != nil {
		return "", err
	}
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("invalid volume name %q", name)
	}
	return filepath.Join(pd, "volumes", plugin, name), nil
}

// HostPath returns where volume vol of pod lives on the host: the hostPath itself or the
// volume's directory under the root.
func (m *Manager) HostPath(pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	switch {
	case vol.HostPath != nil:
		return vol.HostPath.Path, nil
	case vol.EmptyDir != nil:
		return m.volumeDir(pod.UID, pluginEmptyDir, vol.Name)
	case vol.ConfigMap != nil:
		return m.volumeDir(pod.UID, pluginConfigMap, vol.Name)
	case vol.Secret != nil:
		return m.volumeDir(pod.UID, pluginSecret, vol.Name)
	case vol.DownwardAPI != nil:
		return m.volumeDir(pod.UID, pluginDownwardAPI, vol.Name)
	case vol.Projected != nil:
		return m.volumeDir(pod.UID, pluginProjected, vol.Name)
	}
	return "", fmt.Errorf("volume %q: %w", vol.Name, ErrUnsupportedVolume)
}

// ErrUnsupportedVolume is returned for volume sources this node cannot provide
// (persistentVolumeClaim, network filesystems, image volumes, …).
var ErrUnsupportedVolume = errors.New("volume type is not supported on this node")

// Setup creates or refreshes every volume of pod. It is idempotent and meant to run on
// every pod sync: configMap, secret, downwardAPI and projected contents are rewritten,
// atomically, only when they changed. Every volume is attempted; the error joins one
// "MountVolume.SetUp failed for volume …" error per failed volume, worded as the
// kubelet's events (a missing ConfigMap reads `configmap "x" not found` and satisfies
// apierrors.IsNotFound).
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) error {
	pd, err := m.podDir(pod.UID)
	if err != nil {
		return err
	}
	// One look at the mount table per sync tells which tmpfs volumes are already up
	// (after an agent restart, too).
	mps, err := m.mount.mountPoints(pd)
	if err != nil {
		return err
	}
	mounted := make(map[string]bool, len(mps))
	for _, mp := range mps {
		mounted[mp] = true
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if err := m.setupVolume(ctx, pod, vol, mounted); err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, mounted map[string]bool) error {
	if vol.HostPath != nil {
		return checkHostPath(vol.HostPath.Path, vol.HostPath.Type)
	}
	dir, err := m.HostPath(pod, vol)
	if err != nil {
		return err
	}
	var payload map[string]file
	switch {
	case vol.EmptyDir != nil:
		return m.setupEmptyDir(pod, dir, vol.EmptyDir, mounted[dir])
	case vol.ConfigMap != nil:
		s := vol.ConfigMap
		if err := m.ensureDir(dir, false, 0, false); err != nil {
			return err
		}
		payload, err = configMapPayload(ctx, m.src, pod.Namespace, s.Name, s.Items, s.DefaultMode, s.Optional != nil && *s.Optional)
	case vol.Secret != nil:
		s := vol.Secret
		// Secrets live on tmpfs so they never reach the node's disk.
		if err := m.ensureDir(dir, true, 0, mounted[dir]); err != nil {
			return err
		}
		payload, err = secretPayload(ctx, m.src, pod.Namespace, s.SecretName, s.Items, s.DefaultMode, s.Optional != nil && *s.Optional)
	case vol.DownwardAPI != nil:
		if err := m.ensureDir(dir, true, 0, mounted[dir]); err != nil {
			return err
		}
		payload, err = downwardAPIPayload(pod, vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode, m.nodeAllocatable())
	case vol.Projected != nil:
		if err := m.ensureDir(dir, true, 0, mounted[dir]); err != nil {
			return err
		}
		payload, err = projectedPayload(ctx, m.src, pod, vol.Projected, m.nodeAllocatable())
	}
	if err != nil {
		return err
	}
	changed, err := writeAtomic(dir, payload, fsGroup(pod))
	if err != nil {
		return fmt.Errorf("write volume contents: %w", err)
	}
	if changed {
		m.log.Debug("volume contents updated", "pod", pod.Namespace+"/"+pod.Name, "volume", vol.Name)
	}
	return nil
}

func (m *Manager) setupEmptyDir(pod *corev1.Pod, dir string, ed *corev1.EmptyDirVolumeSource, mounted bool) error {
	switch ed.Medium {
	case corev1.StorageMediumDefault:
		if _, err := os.Lstat(dir); err == nil {
			return nil
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("create emptyDir: %w", err)
		}
		// Any container user may write an emptyDir; MkdirAll's mode went through the umask.
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		return m.emptyDirGroup(pod, dir)
	case corev1.StorageMediumMemory:
		if mounted {
			return nil
		}
		if err := m.ensureDir(dir, true, memoryVolumeSize(pod, ed.SizeLimit, m.nodeAllocatable()), false); err != nil {
			return err
		}
		return m.emptyDirGroup(pod, dir)
	}
	return fmt.Errorf("emptyDir medium %q: %w", ed.Medium, ErrUnsupportedVolume)
}

// emptyDirGroup hands a new emptyDir to the pod's fsGroup. Only the fresh directory is
// touched: what containers write later inherits the group through setgid.
func (m *Manager) emptyDirGroup(pod *corev1.Pod, dir string) error {
	gid := fsGroup(pod)
	if gid == nil {
		return nil
	}
	return chownTree(dir, int(*gid))
}

func fsGroup(pod *corev1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// ensureDir creates dir and, with tmpfs, mounts a tmpfs on it unless mounted says one
// is there already.
func (m *Manager) ensureDir(dir string, tmpfs bool, sizeBytes int64, mounted bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create volume dir: %w", err)
	}
	if !tmpfs || mounted {
		return nil
	}
	mode := fs.FileMode(0o755)
	if filepath.Base(filepath.Dir(dir)) == pluginEmptyDir {
		mode = 0o777
	}
	if err := m.mount.mountTmpfs(dir, sizeBytes, mode); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	return nil
}

// memoryVolumeSize is the tmpfs size of a medium: Memory emptyDir, as Kubernetes sizes
// it: the pod's memory limit (the node's allocatable memory when the pod sets none),
// lowered to sizeLimit when that is smaller. 0 means the kernel default.
func memoryVolumeSize(pod *corev1.Pod, sizeLimit *resource.Quantity, allocatable corev1.ResourceList) int64 {
	var limit int64
	for _, c := range pod.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limit += q.Value()
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Value() > limit {
			limit = q.Value()
		}
	}
	if limit == 0 {
		if q, ok := allocatable[corev1.ResourceMemory]; ok {
			limit = q.Value()
		}
	}
	if sizeLimit != nil && sizeLimit.Value() > 0 && (limit == 0 || sizeLimit.Value() < limit) {
		return sizeLimit.Value()
	}
	return limit
}

// Teardown unmounts every mount below the pod's directory and removes the directory. It
// is idempotent and relies on nothing but the disk, so it also cleans up after a crash.
// If a mount cannot be removed the directory is left in place, since deleting through a
// mount could reach files that are not the pod's.
func (m *Manager) Teardown(podUID types.UID) error {
	if f, ok := m.src.(interface{ ForgetPod(types.UID) }); ok {
		// Tokens cached for the pod are bound to it and of no use any
		// more.
		f.ForgetPod(podUID)
	}
	dir, err := m.podDir(podUID)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	mps, err := m.mount.mountPoints(dir)
	if err != nil {
		return err
	}
	// Deepest first: a mount below another must go before its parent.
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	var errs []error
	for _, mp := range mps {
		if err := m.mount.unmount(mp); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if left, err := m.mount.mountPoints(dir); err != nil {
		return err
	} else if len(left) > 0 {
		return fmt.Errorf("pod directory %s still has mounts: %s", dir, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	return nil
}

// under keeps the mount points equal to dir or inside it.
func under(mps []string, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, mp := range mps {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}
