package volume

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func volumeSources() *fakeSources {
	return &fakeSources{
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg": {ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"},
				Data:       map[string]string{"app.conf": "port=80", "other": "o"},
				BinaryData: map[string][]byte{"blob": {0, 1, 2}}},
		},
		secrets: map[string]*corev1.Secret{
			"ns/tls": {ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "ns"},
				Data: map[string][]byte{"tls.crt": []byte("CERT"), "tls.key": []byte("KEY")}},
		},
	}
}

func TestSetupVolumes(t *testing.T) {
	type check struct {
		path, content string
		mode          os.FileMode
	}
	cases := []struct {
		name   string
		vol    corev1.VolumeSource
		plugin string
		files  []check
		absent []string
		tmpfs  bool
		err    string
	}{
		{
			name:   "configmap all keys default mode",
			vol:    corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			plugin: pluginConfigMap,
			files:  []check{{"app.conf", "port=80", 0o644}, {"other", "o", 0o644}, {"blob", "\x00\x01\x02", 0o644}},
		},
		{
			name: "configmap items with modes",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				DefaultMode: ptr(int32(0o440)),
				Items:       []corev1.KeyToPath{{Key: "app.conf", Path: "etc/app.conf", Mode: ptr(int32(0o400))}, {Key: "other", Path: "o.txt"}}}},
			plugin: pluginConfigMap,
			files:  []check{{"etc/app.conf", "port=80", 0o400}, {"o.txt", "o", 0o440}},
			absent: []string{"app.conf", "blob"},
		},
		{
			name: "configmap item with missing key",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}},
			err: "configmap references non-existent config key: nope",
		},
		{
			name: "optional configmap item with missing key is left out",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Optional: ptr(true), Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}, {Key: "other", Path: "y"}}}},
			plugin: pluginConfigMap,
			files:  []check{{"y", "o", 0o644}},
			absent: []string{"x"},
		},
		{
			name: "missing configmap",
			vol:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}},
			err:  `MountVolume.SetUp failed for volume "v" : configmap "x" not found`,
		},
		{
			name:   "optional missing configmap gives an empty volume",
			vol:    corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Optional: ptr(true)}},
			plugin: pluginConfigMap,
		},
		{
			name:   "secret on tmpfs",
			vol:    corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: ptr(int32(0o400))}},
			plugin: pluginSecret,
			files:  []check{{"tls.crt", "CERT", 0o400}, {"tls.key", "KEY", 0o400}},
			tmpfs:  true,
		},
		{
			name: "missing secret",
			vol:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}},
			err:  `secret "x" not found`,
		},
		{
			name: "secret item with missing key",
			vol:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca"}}}},
			err:  "references non-existent secret key: ca.crt",
		},
		{
			name: "downwardAPI",
			vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr(int32(0o600))},
				{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			plugin: pluginDownwardAPI,
			files:  []check{{"labels", "app=\"web\"\ntier=\"front\"", 0o644}, {"name", "web-0", 0o600}, {"mem", "2048", 0o644}},
			tmpfs:  true,
		},
		{
			name: "downwardAPI refuses status fields",
			vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}},
			err: "unsupported fieldPath: status.podIP",
		},
		{
			name: "projected",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o444)), Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "other", Path: "cfg/other"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}, Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls/crt", Mode: ptr(int32(0o400))}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			}}},
			plugin: pluginProjected,
			files:  []check{{"cfg/other", "o", 0o444}, {"tls/crt", "CERT", 0o400}, {"ns", "ns", 0o444}},
			tmpfs:  true,
		},
		{
			name: "projected token without a token source",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}},
			err: "serviceAccountToken projection is not supported yet",
		},
		{
			name:   "emptyDir",
			vol:    corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			plugin: pluginEmptyDir,
		},
		{
			name:   "emptyDir memory",
			vol:    corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}},
			plugin: pluginEmptyDir,
			tmpfs:  true,
		},
		{
			name: "emptyDir hugepages",
			vol:  corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}},
			err:  "not supported",
		},
		{
			name: "persistentVolumeClaim",
			vol:  corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}},
			err:  "volume type is not supported",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, fm := newTestManager(t, volumeSources())
			m.SetAllocatable(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")})
			pod := testPod()
			pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: tc.vol}}
			err := m.Setup(context.Background(), pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(m.root, string(pod.UID), "volumes", tc.plugin, "v")
			for _, f := range tc.files {
				if got := readFile(t, filepath.Join(dir, f.path)); got != f.content {
					t.Errorf("%s = %q, want %q", f.path, got, f.content)
				}
				st, _ := os.Stat(filepath.Join(dir, f.path))
				if st.Mode().Perm() != f.mode {
					t.Errorf("%s mode = %v, want %v", f.path, st.Mode().Perm(), f.mode)
				}
			}
			for _, p := range tc.absent {
				if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
					t.Errorf("%s present", p)
				}
			}
			if _, mounted := fm.mounted[dir]; mounted != tc.tmpfs {
				t.Errorf("tmpfs mounted = %v, want %v", mounted, tc.tmpfs)
			}
			// A second sync changes nothing and mounts nothing twice.
			before, _ := os.Readlink(filepath.Join(dir, dataDirName))
			if err := m.Setup(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Readlink(filepath.Join(dir, dataDirName)); after != before {
				t.Errorf("second Setup rewrote the volume: %s -> %s", before, after)
			}
		})
	}
}

func TestSetupJoinsErrorsAndKeepsNotFound(t *testing.T) {
	m, _ := newTestManager(t, volumeSources())
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}}}},
		{Name: "b", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	err := m.Setup(context.Background(), pod)
	if !apierrors.IsNotFound(err) {
		t.Errorf("NotFound lost in %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.root, string(pod.UID), "volumes", pluginEmptyDir, "b")); err != nil {
		t.Errorf("a failing volume stopped the others: %v", err)
	}
}

func TestSetupUpdatesConfigMapInPlace(t *testing.T) {
	src := volumeSources()
	m, _ := newTestManager(t, src)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(m.root, string(pod.UID), "volumes", pluginConfigMap, "v")
	ino := inode(t, dir)
	src.configMaps["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"app.conf": "port=81"}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "app.conf")); got != "port=81" {
		t.Errorf("app.conf = %q after update", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "other")); err == nil {
		t.Error("key removed from the ConfigMap still visible")
	}
	if inode(t, dir) != ino {
		t.Error("volume dir replaced by update")
	}
}

func TestMemoryVolumeSize(t *testing.T) {
	mi := func(n int64) int64 { return n << 20 }
	withLimits := func(limits ...string) *corev1.Pod {
		p := testPod()
		p.Spec.Containers = nil
		for _, l := range limits {
			c := corev1.Container{}
			if l != "" {
				c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(l)}
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	cases := []struct {
		name  string
		pod   *corev1.Pod
		limit string
		alloc corev1.ResourceList
		want  int64
	}{
		{"size limit below pod limit", withLimits("100Mi", "100Mi"), "64Mi", alloc, mi(64)},
		{"pod limit below size limit", withLimits("100Mi", "100Mi"), "1Gi", alloc, mi(200)},
		{"no limits uses allocatable", withLimits(""), "", alloc, mi(1024)},
		{"size limit without pod limit", withLimits(""), "32Mi", alloc, mi(32)},
		{"nothing known", withLimits(""), "", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sl *resource.Quantity
			if tc.limit != "" {
				q := resource.MustParse(tc.limit)
				sl = &q
			}
			if got := memoryVolumeSize(tc.pod, sl, tc.alloc); got != tc.want {
				t.Errorf("size = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name string
		path string
		typ  corev1.HostPathType
		err  string
	}{
		{"unset anything", missing, corev1.HostPathUnset, ""},
		{"directory", dir, corev1.HostPathDirectory, ""},
		{"directory missing", missing, corev1.HostPathDirectory, "is not a directory"},
		{"directory is file", file, corev1.HostPathDirectory, "is not a directory"},
		{"directory or create", filepath.Join(dir, "new/dir"), corev1.HostPathDirectoryOrCreate, ""},
		{"directory or create on file", file, corev1.HostPathDirectoryOrCreate, "is not a directory"},
		{"file", file, corev1.HostPathFile, ""},
		{"file is dir", dir, corev1.HostPathFile, "is not a file"},
		{"file or create", filepath.Join(dir, "newfile"), corev1.HostPathFileOrCreate, ""},
		{"file or create needs parent", filepath.Join(dir, "no/parent"), corev1.HostPathFileOrCreate, "create file"},
		{"file or create on dir", dir, corev1.HostPathFileOrCreate, "is a directory"},
		{"socket", sock, corev1.HostPathSocket, ""},
		{"socket is file", file, corev1.HostPathSocket, "is not a socket file"},
		{"char device", "/dev/null", corev1.HostPathCharDev, ""},
		{"char device is file", file, corev1.HostPathCharDev, "is not a character device"},
		{"block device is char", "/dev/null", corev1.HostPathBlockDev, "is not a block device"},
		{"relative", "rel", corev1.HostPathUnset, "absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(tc.path, &tc.typ)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	if st, err := os.Stat(filepath.Join(dir, "new/dir")); err != nil || !st.IsDir() {
		t.Error("DirectoryOrCreate did not create the directory")
	}
	if st, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644&^umask() {
		t.Errorf("FileOrCreate: %v %v", st, err)
	}
}

func umask() os.FileMode {
	f := filepath.Join(os.TempDir(), "umask-probe")
	defer os.Remove(f)
	_ = os.WriteFile(f, nil, 0o777)
	st, err := os.Stat(f)
	if err != nil {
		return 0
	}
	return 0o777 &^ st.Mode().Perm()
}

func TestTeardown(t *testing.T) {
	m, fm := newTestManager(t, volumeSources())
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
		{Name: "m", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := m.Hosts(pod, []string{"10.0.0.1"}, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	// A mount nested in a volume must go before the volume's own.
	nested := filepath.Join(m.root, string(pod.UID), "volumes", pluginEmptyDir, "m", "inner")
	fm.mounted[nested] = 0
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if len(fm.mounted) != 0 {
		t.Errorf("still mounted: %v", fm.mounted)
	}
	if fm.unmounted[0] != nested {
		t.Errorf("unmount order %v, want the nested mount first", fm.unmounted)
	}
	if _, err := os.Stat(filepath.Join(m.root, string(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("pod dir remains: %v", err)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
	for _, bad := range []string{"", "..", "a/b", "."} {
		if err := m.Teardown(uid(bad)); err == nil {
			t.Errorf("Teardown(%q) accepted", bad)
		}
	}
}

type tokenSources struct {
	*fakeSources
	audience string
	exp      int64
}

func (s *tokenSources) ServiceAccountToken(_ context.Context, pod *corev1.Pod, audience string, exp int64) (string, error) {
	s.audience, s.exp = audience, exp
	return "token-for-" + pod.Spec.ServiceAccountName, nil
}

func TestProjectedServiceAccountToken(t *testing.T) {
	src := &tokenSources{fakeSources: volumeSources()}
	m, _ := newTestManager(t, src)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api", ExpirationSeconds: ptr(int64(3607))}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}}}
	if err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(m.root, string(pod.UID), "volumes", pluginProjected, "kube-api-access")
	if got := readFile(t, filepath.Join(dir, "token")); got != "token-for-default" {
		t.Errorf("token = %q", got)
	}
	if src.audience != "api" || src.exp != 3607 {
		t.Errorf("token requested for %q/%d", src.audience, src.exp)
	}
	if st, _ := os.Stat(filepath.Join(dir, "token")); st.Mode().Perm() != 0o644 {
		t.Errorf("token mode %v, want defaultMode", st.Mode().Perm())
	}
}
