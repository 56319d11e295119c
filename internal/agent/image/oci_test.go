package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// readLayout reads an OCI layout tarball into a map of entry name to
// content, checking every blob's name is its digest.
func readLayout(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading layout tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[hdr.Name]; dup {
			t.Fatalf("entry %s written twice", hdr.Name)
		}
		out[hdr.Name] = body
		if hex, ok := strings.CutPrefix(hdr.Name, "blobs/sha256/"); ok && hex != "" {
			if got := sha256Hex(body); got != hex {
				t.Errorf("blob %s has digest %s", hdr.Name, got)
			}
		}
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func blob(t *testing.T, layout map[string][]byte, d descriptor) []byte {
	t.Helper()
	b, ok := layout["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s: size %d, descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

type layerEntry struct {
	typ      byte
	mode     int64
	size     int64
	linkname string
	body     string
	uid      int
}

func TestWriteOCI(t *testing.T) {
	host := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(host, []byte("from the host"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []File{
		RegularFile("/etc/hello", 0, []byte("hello\n")),
		HostFile("/usr/bin/tool", 0o755, host),
		Symlink("/bin/sh", "busybox"),
		Dir("/tmp", 0o777|fs.ModeSticky),
		{Path: "/home/nobody/.profile", Type: TypeFile, Mode: 0o600, Data: []byte("x"), UID: 65534, GID: 65534},
	}
	cfg := Config{Entrypoint: []string{"/usr/bin/tool"}, Cmd: []string{"--flag"}, WorkingDir: "/tmp", Env: []string{"A=b"}}
	var buf bytes.Buffer
	if err := WriteOCI(&buf, "example.test/tools:v2", cfg, files); err != nil {
		t.Fatal(err)
	}
	layout := readLayout(t, buf.Bytes())

	if got := string(layout["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var index ociIndex
	if err := json.Unmarshal(layout["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index lists %d manifests, want 1", len(index.Manifests))
	}
	md := index.Manifests[0]
	if md.MediaType != mediaTypeManifest || md.Annotations[annotationRefName] != "v2" || md.Annotations[annotationImageName] != "example.test/tools:v2" {
		t.Errorf("manifest descriptor = %+v", md)
	}
	var manifest ociManifest
	if err := json.Unmarshal(blob(t, layout, md), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Config.MediaType != mediaTypeConfig || len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != mediaTypeLayerGzip {
		t.Fatalf("manifest = %+v", manifest)
	}
	var config ociConfig
	if err := json.Unmarshal(blob(t, layout, manifest.Config), &config); err != nil {
		t.Fatal(err)
	}
	if config.Architecture != runtime.GOARCH || config.OS != runtime.GOOS {
		t.Errorf("platform = %s/%s", config.OS, config.Architecture)
	}
	wantEnv := []string{"PATH=" + DefaultPath, "A=b"}
	if strings.Join(config.Config.Env, "|") != strings.Join(wantEnv, "|") {
		t.Errorf("Env = %q, want %q", config.Config.Env, wantEnv)
	}
	if config.Config.Entrypoint[0] != "/usr/bin/tool" || config.Config.Cmd[0] != "--flag" || config.Config.WorkingDir != "/tmp" {
		t.Errorf("config = %+v", config.Config)
	}

	zr, err := gzip.NewReader(bytes.NewReader(blob(t, layout, manifest.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != "sha256:"+sha256Hex(raw) {
		t.Errorf("diff_ids = %v, uncompressed layer is sha256:%s", config.RootFS.DiffIDs, sha256Hex(raw))
	}

	var order []string
	got := map[string]layerEntry{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v", hdr.Name, hdr.ModTime)
		}
		order = append(order, hdr.Name)
		got[hdr.Name] = layerEntry{typ: hdr.Typeflag, mode: hdr.Mode, size: hdr.Size, linkname: hdr.Linkname, body: string(body), uid: hdr.Uid}
	}
	want := map[string]layerEntry{
		"bin/":                 {typ: tar.TypeDir, mode: 0o755},
		"bin/sh":               {typ: tar.TypeSymlink, mode: 0o777, linkname: "busybox"},
		"etc/":                 {typ: tar.TypeDir, mode: 0o755},
		"etc/hello":            {typ: tar.TypeReg, mode: 0o644, size: 6, body: "hello\n"},
		"home/":                {typ: tar.TypeDir, mode: 0o755},
		"home/nobody/":         {typ: tar.TypeDir, mode: 0o755},
		"home/nobody/.profile": {typ: tar.TypeReg, mode: 0o600, size: 1, body: "x", uid: 65534},
		"tmp/":                 {typ: tar.TypeDir, mode: 0o1777},
		"usr/":                 {typ: tar.TypeDir, mode: 0o755},
		"usr/bin/":             {typ: tar.TypeDir, mode: 0o755},
		"usr/bin/tool":         {typ: tar.TypeReg, mode: 0o755, size: 13, body: "from the host"},
	}
	if len(got) != len(want) {
		t.Errorf("layer has %v, want %d entries", order, len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("layer entry %s = %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("layer entries out of order: %s before %s", order[i-1], order[i])
		}
	}

	var again bytes.Buffer
	reversed := []File{files[4], files[3], files[2], files[1], files[0]}
	if err := WriteOCI(&again, "example.test/tools:v2", cfg, reversed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("the same files in another order gave a different archive")
	}
}

func TestWriteImagesSharesBlobs(t *testing.T) {
	files := []File{RegularFile("/a", 0o644, []byte("a"))}
	var buf bytes.Buffer
	err := WriteImages(&buf, []Image{
		{Ref: "one.test/a:1", Files: files, Uncompressed: true},
		{Ref: "two.test/a:2", Files: files, Uncompressed: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	layout := readLayout(t, buf.Bytes()) // fails on a blob written twice
	var index ociIndex
	if err := json.Unmarshal(layout["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 || index.Manifests[0].Annotations[annotationImageName] != "one.test/a:1" || index.Manifests[1].Annotations[annotationImageName] != "two.test/a:2" {
		t.Errorf("index = %+v", index)
	}
	var manifest ociManifest
	if err := json.Unmarshal(blob(t, layout, index.Manifests[0]), &manifest); err != nil {
		t.Fatal(err)
	}
	raw := blob(t, layout, manifest.Layers[0])
	var config ociConfig
	if err := json.Unmarshal(blob(t, layout, manifest.Config), &config); err != nil {
		t.Fatal(err)
	}
	if manifest.Layers[0].MediaType != mediaTypeLayer || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest || "sha256:"+sha256Hex(raw) != manifest.Layers[0].Digest {
		t.Errorf("an uncompressed layer's diff ID must be its digest: %+v %v", manifest.Layers[0], config.RootFS.DiffIDs)
	}
}

func TestWriteOCIRejects(t *testing.T) {
	cases := []struct {
		name  string
		ref   string
		files []File
		want  string
	}{
		{name: "no tag", ref: "example.test/a", want: "no tag"},
		{name: "port but no tag", ref: "example.test:5000/a", want: "no tag"},
		{name: "empty tag", ref: "a:", want: "no tag"},
		{name: "digest", ref: "a@sha256:00", want: "NAME:TAG"},
		{name: "relative path", ref: "a:1", files: []File{Dir("tmp", 0)}, want: "absolute"},
		{name: "root", ref: "a:1", files: []File{Dir("/", 0)}, want: "root directory"},
		{name: "twice", ref: "a:1", files: []File{Dir("/tmp", 0), Dir("/tmp/", 0)}, want: "twice"},
		{name: "parent is a file", ref: "a:1", files: []File{RegularFile("/x", 0, nil), RegularFile("/x/y", 0, nil)}, want: "not a directory"},
		{name: "symlink without target", ref: "a:1", files: []File{Symlink("/x", "")}, want: "without a target"},
		{name: "missing host file", ref: "a:1", files: []File{HostFile("/x", 0, "/nonexistent/file")}, want: "no such file"},
		{name: "host directory", ref: "a:1", files: []File{HostFile("/x", 0, "/")}, want: "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteOCI(io.Discard, tc.ref, Config{}, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
