package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestMounts(t *testing.T) {
	hostDir := t.TempDir()
	bidi := corev1.MountPropagationBidirectional
	h2c := corev1.MountPropagationHostToContainer
	rro := corev1.RecursiveReadOnlyEnabled
	cases := []struct {
		name       string
		mounts     []corev1.VolumeMount
		privileged bool
		env        []*runtimeapi.KeyValue
		hosts      bool
		// want lists container path -> host path relative to the volume dir ("" = the
		// dir itself), or absolute for hostPath.
		want     map[string]string
		readOnly map[string]bool
		prop     map[string]runtimeapi.MountPropagation
		err      string
	}{
		{
			name:     "api volumes are read-only, others as asked",
			mounts:   []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/app"}, {Name: "scratch", MountPath: "/tmp"}, {Name: "host", MountPath: "/host", ReadOnly: true}},
			want:     map[string]string{"/etc/app": "cfg", "/tmp": "scratch", "/host": hostDir},
			readOnly: map[string]bool{"/etc/app": true, "/tmp": false, "/host": true},
		},
		{
			name:   "subPath is created and resolved",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/data", SubPath: "a/b"}, {Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"}},
			want:   map[string]string{"/data": "scratch/a/b", "/etc/app.conf": "cfg/..data/app.conf"},
		},
		{
			name:   "subPathExpr",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"}},
			env:    []*runtimeapi.KeyValue{{Key: "POD_NAME", Value: []byte("web-0")}},
			want:   map[string]string{"/logs": "scratch/logs/web-0"},
		},
		{
			name:   "subPathExpr with unset variable",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/logs", SubPathExpr: "$(NOPE)"}},
			err:    "missing value for NOPE",
		},
		{
			name:   "subPath escaping",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: "../other"}},
			err:    "must not contain '..'",
		},
		{
			name:   "subPath through a symlink out of the volume",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: "evil"}},
			err:    "outside the volume",
		},
		{
			name:   "subPath created below a symlink out of the volume",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: "evil/new-dir"}},
			err:    "outside the volume",
		},
		{
			name:   "absolute subPath",
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: "/etc"}},
			err:    "must not be an absolute path",
		},
		{
			name:   "unknown volume",
			mounts: []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}},
			err:    `cannot find volume "nope"`,
		},
		{
			name:       "propagation",
			mounts:     []corev1.VolumeMount{{Name: "host", MountPath: "/a", MountPropagation: &h2c}, {Name: "scratch", MountPath: "/b", MountPropagation: &bidi}},
			privileged: true,
			want:       map[string]string{"/a": hostDir, "/b": "scratch"},
			prop: map[string]runtimeapi.MountPropagation{
				"/a": runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER,
				"/b": runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL,
			},
		},
		{
			name:   "bidirectional needs privileged",
			mounts: []corev1.VolumeMount{{Name: "host", MountPath: "/a", MountPropagation: &bidi}},
			err:    "available only to privileged containers",
		},
		{
			name:   "recursive read-only",
			mounts: []corev1.VolumeMount{{Name: "host", MountPath: "/a", ReadOnly: true, RecursiveReadOnly: &rro}},
			want:   map[string]string{"/a": hostDir},
		},
		{
			name:   "etc hosts added",
			hosts:  true,
			mounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/tmp"}},
			want:   map[string]string{"/tmp": "scratch", "/etc/hosts": "HOSTS"},
		},
		{
			name:   "own etc hosts wins",
			hosts:  true,
			mounts: []corev1.VolumeMount{{Name: "host", MountPath: "/etc/hosts"}},
			want:   map[string]string{"/etc/hosts": hostDir},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t, volumeSources())
			pod := testPod()
			pod.Spec.Volumes = []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
			}
			c := &pod.Spec.Containers[0]
			c.VolumeMounts = tc.mounts
			if tc.privileged {
				c.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
			}
			if err := m.Setup(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			volumes := filepath.Join(m.root, string(pod.UID), "volumes")
			outside := t.TempDir()
			if err := os.Symlink(outside, filepath.Join(volumes, pluginEmptyDir, "scratch", "evil")); err != nil {
				t.Fatal(err)
			}
			if tc.hosts {
				if err := m.Hosts(pod, []string{"10.1.0.9"}, "cluster.local"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := m.Mounts(pod, c, tc.env)
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				t.Errorf("Mounts created %v outside the volume", entries)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d mounts %v, want %v", len(got), got, tc.want)
			}
			dataDir, _ := os.Readlink(filepath.Join(volumes, pluginConfigMap, "cfg", dataDirName))
			for _, mnt := range got {
				rel, ok := tc.want[mnt.ContainerPath]
				if !ok {
					t.Errorf("unexpected mount %s", mnt.ContainerPath)
					continue
				}
				var want string
				switch {
				case rel == "HOSTS":
					want = filepath.Join(m.root, string(pod.UID), etcHostsFile)
				case filepath.IsAbs(rel):
					want = rel
				case strings.HasPrefix(rel, "cfg"):
					want = filepath.Join(volumes, pluginConfigMap, strings.Replace(rel, dataDirName, dataDir, 1))
				default:
					want = filepath.Join(volumes, pluginEmptyDir, rel)
				}
				if mnt.HostPath != want {
					t.Errorf("%s host path = %s, want %s", mnt.ContainerPath, mnt.HostPath, want)
				}
				if ro, ok := tc.readOnly[mnt.ContainerPath]; ok && mnt.Readonly != ro {
					t.Errorf("%s readonly = %v, want %v", mnt.ContainerPath, mnt.Readonly, ro)
				}
				if p, ok := tc.prop[mnt.ContainerPath]; ok && mnt.Propagation != p {
					t.Errorf("%s propagation = %v, want %v", mnt.ContainerPath, mnt.Propagation, p)
				}
				if tc.name == "recursive read-only" && !mnt.RecursiveReadOnly {
					t.Errorf("%s not recursive read-only", mnt.ContainerPath)
				}
			}
		})
	}
}
