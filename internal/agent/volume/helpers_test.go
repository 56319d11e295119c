package volume

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

// fakeSources serves objects from maps keyed by "namespace/name", answering NotFound as
// an API client would.
type fakeSources struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	calls      int
}

func (f *fakeSources) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.calls++
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeSources) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.calls++
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

// fakeMounter pretends to mount, so tests without root can follow what Setup and
// Teardown would do to the mount table.
type fakeMounter struct {
	mounted   map[string]int64
	unmounted []string
}

func (f *fakeMounter) mountTmpfs(dir string, size int64, _ fs.FileMode) error {
	if f.mounted == nil {
		f.mounted = map[string]int64{}
	}
	f.mounted[dir] = size
	return nil
}

func (f *fakeMounter) unmount(dir string) error {
	delete(f.mounted, dir)
	f.unmounted = append(f.unmounted, dir)
	return nil
}

func (f *fakeMounter) mountPoints(dir string) ([]string, error) {
	var all []string
	for mp := range f.mounted {
		all = append(all, mp)
	}
	sort.Strings(all)
	return under(all, dir), nil
}

func newTestManager(t *testing.T, src Sources) (*Manager, *fakeMounter) {
	t.Helper()
	m := NewManager(t.TempDir(), src, slog.New(slog.DiscardHandler))
	fm := &fakeMounter{}
	m.mount = fm
	return m, fm
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "ns", UID: "1234-abcd",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "a \"quoted\" value"},
		},
		Spec: corev1.PodSpec{
			NodeName:           "node-1",
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "main"}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func uid(s string) k8stypes.UID { return k8stypes.UID(s) }
