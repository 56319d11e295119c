package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// tarOf builds a tar stream of regular files, name then content.
func tarOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

func TestInspect(t *testing.T) {
	var oci bytes.Buffer
	if err := WriteImages(&oci, []Image{{Ref: "a.test/x:1"}, {Ref: "b.test/y:2"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		data    []byte
		format  Format
		names   []string
		wantErr string
	}{
		{name: "bosun OCI layout", data: oci.Bytes(), format: FormatOCI, names: []string{"a.test/x:1", "b.test/y:2"}},
		{name: "OCI with tags only", format: FormatOCI, names: []string{"latest"},
			data: tarOf(t, "oci-layout", `{}`, "index.json", `{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"latest"}},{}]}`)},
		{name: "docker save", format: FormatDocker, names: []string{"busybox:latest", "busybox:1"},
			data: tarOf(t, "./manifest.json", `[{"Config":"c.json","RepoTags":["busybox:latest","busybox:1"],"Layers":[]}]`, "repositories", `{}`)},
		{name: "docker save with an OCI layout too", format: FormatOCI, names: []string{"x"},
			data: tarOf(t, "manifest.json", `[{"RepoTags":["y"]}]`, "oci-layout", `{}`, "index.json", `{"manifests":[{"annotations":{"io.containerd.image.name":"x"}}]}`)},
		{name: "plain tar", data: tarOf(t, "hello.txt", "hi"), wantErr: "not an image archive"},
		{name: "index without layout", data: tarOf(t, "index.json", `{}`), wantErr: "without oci-layout"},
		{name: "bad index", data: tarOf(t, "oci-layout", `{}`, "index.json", `{`), wantErr: "index.json"},
		{name: "not a tar", data: []byte(strings.Repeat("this is text\n", 100)), wantErr: "not an image archive"},
		{name: "empty", data: nil, wantErr: "not an image archive"},
		{name: "truncated", data: oci.Bytes()[:1000], wantErr: "reading the tar archive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Inspect(bytes.NewReader(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Format != tc.format || strings.Join(a.Names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("Inspect = %+v, want %s %v", a, tc.format, tc.names)
			}
		})
	}
	if _, err := Inspect(bytes.NewReader([]byte("x"))); !errors.Is(err, ErrNotImageArchive) {
		t.Errorf("err = %v, want ErrNotImageArchive", err)
	}
}

func FuzzInspect(f *testing.F) {
	var oci bytes.Buffer
	if err := WritePause(&oci); err != nil {
		f.Fatal(err)
	}
	f.Add(oci.Bytes())
	f.Add(tarOf(f, "manifest.json", `[{"RepoTags":["a:b"]}]`))
	f.Add(tarOf(f, "oci-layout", `{}`, "index.json", `{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"1"}}]}`))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Inspect(bytes.NewReader(data))
		if err == nil && a.Format != FormatOCI && a.Format != FormatDocker {
			t.Fatalf("no error but format %q", a.Format)
		}
	})
}
