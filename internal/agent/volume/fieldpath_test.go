package volume

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseFieldRef(t *testing.T) {
	cases := []struct {
		version, path string
		want          fieldRef
		err           string
	}{
		{"v1", "metadata.name", fieldRef{field: "metadata.name"}, ""},
		{"", "status.podIPs", fieldRef{field: "status.podIPs"}, ""},
		{"v1", "metadata.labels['app.kubernetes.io/name']", fieldRef{field: "metadata.labels", key: "app.kubernetes.io/name", keyed: true}, ""},
		{"v1", "metadata.annotations['a']", fieldRef{field: "metadata.annotations", key: "a", keyed: true}, ""},
		{"v2", "metadata.name", fieldRef{}, "unsupported pod version: v2"},
		{"v1", "metadata.name['x']", fieldRef{}, "field label does not support subscript: metadata.name"},
		{"v1", "metadata.labels['bad key']", fieldRef{}, "invalid key subscript in metadata.labels"},
		{"v1", "spec.containers", fieldRef{}, "field label not supported: spec.containers"},
		{"v1", "['x']", fieldRef{}, "field label not supported: ['x']"},
		{"v1", "metadata.labels['x'", fieldRef{}, "field label not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			got, err := parseFieldRef(tc.version, tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseFieldRef = %+v, %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestFormatMap(t *testing.T) {
	got := formatMap(map[string]string{"b": "2", "a": `say "hi"`})
	if want := "a=\"say \\\"hi\\\"\"\nb=\"2\""; got != want {
		t.Errorf("formatMap = %q, want %q", got, want)
	}
	if formatMap(nil) != "" {
		t.Error("formatMap(nil) not empty")
	}
}

func TestResourceValueNamedContainer(t *testing.T) {
	pod := testPod()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
	}})
	cases := []struct {
		sel  corev1.ResourceFieldSelector
		want string
		err  string
	}{
		{corev1.ResourceFieldSelector{ContainerName: "side", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, "250", ""},
		{corev1.ResourceFieldSelector{ContainerName: "side", Resource: "requests.cpu"}, "1", ""}, // rounds up
		{corev1.ResourceFieldSelector{ContainerName: "side", Resource: "limits.cpu"}, "2", ""},
		{corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory"}, "1024", ""}, // allocatable
		{corev1.ResourceFieldSelector{ContainerName: "gone", Resource: "limits.cpu"}, "", "container gone not found"},
		{corev1.ResourceFieldSelector{Resource: "limits.cpu"}, "", "containerName is required"},
	}
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Ki")}
	for _, tc := range cases {
		t.Run(tc.sel.ContainerName+"/"+tc.sel.Resource, func(t *testing.T) {
			got, err := resourceValue(pod, nil, &tc.sel, alloc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzParseFieldRef(f *testing.F) {
	for _, s := range []string{"metadata.name", "metadata.labels['a']", "metadata.annotations['x/y']", "['']", "a['b']c']", "status.podIP"} {
		f.Add(s)
	}
	pod := testPod()
	f.Fuzz(func(t *testing.T, path string) {
		field, key, ok := splitSubscript(path)
		if ok && field+"['"+key+"']" != path {
			t.Fatalf("splitSubscript(%q) = %q, %q does not rebuild the path", path, field, key)
		}
		ref, err := parseFieldRef("v1", path)
		if err != nil {
			return
		}
		if ref.keyed != ok {
			t.Fatalf("parseFieldRef(%q) keyed = %v, splitSubscript ok = %v", path, ref.keyed, ok)
		}
		// Every accepted path resolves for an env var without error.
		if _, err := podFieldValue(pod, &corev1.ObjectFieldSelector{FieldPath: path}, NodeInfo{}); err != nil &&
			!strings.HasPrefix(err.Error(), "unsupported fieldPath") {
			t.Fatalf("podFieldValue(%q): %v", path, err)
		}
	})
}
