package volume

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func requiresRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
}

// newRootManager returns a Manager using the real kernel mounter whose pod directories
// are torn down (and so unmounted) when the test ends, even if it fails.
func newRootManager(t *testing.T, pod *corev1.Pod) *Manager {
	t.Helper()
	requiresRoot(t)
	m := NewManager(t.TempDir(), volumeSources(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		if err := m.Teardown(pod.UID); err != nil {
			t.Errorf("cleanup teardown: %v", err)
		}
	})
	return m
}

func statfs(t *testing.T, dir string) unix.Statfs_t {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTmpfsVolumesAndTeardown(t *testing.T) {
	pod := testPod()
	limit := resource.MustParse("8Mi")
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
		{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	m := newRootManager(t, pod)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	vols := filepath.Join(m.root, string(pod.UID), "volumes")
	mem := filepath.Join(vols, pluginEmptyDir, "mem")
	sec := filepath.Join(vols, pluginSecret, "tls")
	disk := filepath.Join(vols, pluginEmptyDir, "disk")

	for _, dir := range []string{mem, sec} {
		if st := statfs(t, dir); st.Type != unix.TMPFS_MAGIC {
			t.Errorf("%s is not on tmpfs (type %#x)", dir, st.Type)
		}
	}
	if st := statfs(t, mem); int64(st.Blocks)*st.Bsize != limit.Value() {
		t.Errorf("memory emptyDir size = %d, want %d", int64(st.Blocks)*st.Bsize, limit.Value())
	}
	if st, _ := os.Stat(mem); st.Mode().Perm() != 0o777 {
		t.Errorf("memory emptyDir mode = %v, want 0777", st.Mode().Perm())
	}
	if got := readFile(t, filepath.Join(sec, "tls.key")); got != "KEY" {
		t.Errorf("secret tls.key = %q", got)
	}

	// A second sync must not stack another tmpfs on the first.
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	mps, err := kernelMounter{}.mountPoints(m.root)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(mps)
	if want := []string{mem, sec}; !slices.Equal(mps, want) {
		t.Errorf("mounts = %v, want %v", mps, want)
	}
	if st := statfs(t, disk); st.Type == unix.TMPFS_MAGIC && statfs(t, m.root).Type != unix.TMPFS_MAGIC {
		t.Error("disk emptyDir is on tmpfs")
	}

	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := (kernelMounter{}).mountPoints(m.root); len(mps) != 0 {
		t.Errorf("mounts left after Teardown: %v", mps)
	}
	if _, err := os.Stat(filepath.Join(m.root, string(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("pod dir left after Teardown: %v", err)
	}
}

// TestTeardownAfterCrash stands for an agent restarted with a pod's tmpfs still mounted:
// a fresh Manager knows nothing but the disk and must still clean up.
func TestTeardownAfterCrash(t *testing.T) {
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
	m := newRootManager(t, pod)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	fresh := NewManager(m.root, nil, nil)
	if err := fresh.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := (kernelMounter{}).mountPoints(m.root); len(mps) != 0 {
		t.Errorf("mounts left: %v", mps)
	}
}

func TestParseMountInfo(t *testing.T) {
	in := "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		`90 22 0:50 / /var/lib/with\040space rw - tmpfs tmpfs rw` + "\n" +
		`91 22 0:51 / /odd\134back\011tab\777 rw - tmpfs tmpfs rw` + "\n\n"
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/var/lib/with space", "/odd\\back\ttab\\777"}
	if !slices.Equal(got, want) {
		t.Errorf("parseMountInfo = %q, want %q", got, want)
	}
	if _, err := parseMountInfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("short line accepted")
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
	f.Add(`90 22 0:50 / /a\040b rw - tmpfs tmpfs rw`)
	f.Add(`1 2 3 4 \\\1\12\123\`)
	f.Fuzz(func(t *testing.T, in string) {
		mps, err := parseMountInfo(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, mp := range mps {
			// Unescaping only ever shortens a field.
			if len(mp) > len(in) {
				t.Fatalf("mount point %q longer than input", mp)
			}
		}
		for _, field := range strings.Fields(in) {
			if !strings.Contains(field, `\`) && unescapeOctal(field) != field {
				t.Fatalf("unescapeOctal changed %q", field)
			}
		}
	})
}

func TestFSGroup(t *testing.T) {
	pod := testPod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: ptr(int32(0o400))}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	m := newRootManager(t, pod)
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	vols := filepath.Join(m.root, string(pod.UID), "volumes")
	check := func(path string, wantMode os.FileMode) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 2000 {
			t.Errorf("%s gid = %d, want 2000", path, gid)
		}
		if st.Mode()&(os.ModePerm|os.ModeSetgid) != wantMode {
			t.Errorf("%s mode = %v, want %v", path, st.Mode(), wantMode)
		}
	}
	check(filepath.Join(vols, pluginSecret, "tls", "tls.key"), 0o440)
	check(filepath.Join(vols, pluginSecret, "tls", dataDirName), 0o755|os.ModeSetgid)
	check(filepath.Join(vols, pluginEmptyDir, "data"), 0o777|os.ModeSetgid)

	before, _ := os.Readlink(filepath.Join(vols, pluginSecret, "tls", dataDirName))
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(vols, pluginSecret, "tls", dataDirName)); after != before {
		t.Error("fsGroup modes made every sync rewrite the secret")
	}
	check(filepath.Join(vols, pluginEmptyDir, "data"), 0o777|os.ModeSetgid)
}

// TestSymlinkedRoot covers a data directory reached through a symlink: the mount table
// names the real path, and Setup and Teardown must still recognise their mounts.
func TestSymlinkedRoot(t *testing.T) {
	requiresRoot(t)
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "pods")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
	m := NewManager(link, volumeSources(), nil)
	t.Cleanup(func() { _ = m.Teardown(pod.UID) })
	for range 2 {
		if err := m.Setup(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	if mps, _ := (kernelMounter{}).mountPoints(real); len(mps) != 1 {
		t.Errorf("mounts after two syncs: %v, want one", mps)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := (kernelMounter{}).mountPoints(real); len(mps) != 0 {
		t.Errorf("mounts left: %v", mps)
	}
}
