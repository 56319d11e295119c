package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bosun-sh/bosun/internal/agent/image"
	"github.com/bosun-sh/bosun/internal/agent/image/containerdtest"
	"github.com/bosun-sh/bosun/test/images"
)

func build(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(images.BusyboxPath); err != nil {
		t.Skipf("busybox-static is not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tarball, err := images.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tarball
}

// layers maps each image name in an OCI tarball to the entries of its
// single layer (name to header).
func layers(t *testing.T, tarball string) map[string]map[string]*tar.Header {
	t.Helper()
	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[hdr.Name] = b
	}
	type desc struct {
		Digest      string
		Annotations map[string]string
	}
	var index struct{ Manifests []desc }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	blob := func(d desc) []byte { return blobs["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")] }
	out := map[string]map[string]*tar.Header{}
	for _, m := range index.Manifests {
		var manifest struct{ Layers []desc }
		if err := json.Unmarshal(blob(m), &manifest); err != nil || len(manifest.Layers) != 1 {
			t.Fatalf("manifest of %v: %v", m.Annotations, err)
		}
		entries := map[string]*tar.Header{}
		lr := tar.NewReader(bytes.NewReader(blob(manifest.Layers[0])))
		for {
			hdr, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			entries["/"+strings.TrimSuffix(hdr.Name, "/")] = hdr
		}
		out[m.Annotations["io.containerd.image.name"]] = entries
	}
	return out
}

func TestBuild(t *testing.T) {
	tarball := build(t)
	a, err := image.InspectFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != image.FormatOCI || !slices.Equal(a.Names, []string{images.TestServer, images.Busybox}) {
		t.Fatalf("Inspect = %+v", a)
	}
	imgs := layers(t, tarball)
	for _, name := range []string{images.TestServer, images.Busybox} {
		entries := imgs[name]
		if h := entries["/bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
			t.Errorf("%s: /bin/busybox = %+v", name, h)
		}
		for _, applet := range []string{"/bin/sh", "/bin/wget", "/bin/cat"} {
			if h := entries[applet]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
				t.Errorf("%s: %s = %+v", name, applet, h)
			}
		}
		if h := entries["/tmp"]; h == nil || h.Mode != 0o1777 {
			t.Errorf("%s: /tmp = %+v", name, h)
		}
		for _, f := range []string{"/etc/passwd", "/etc/group"} {
			if entries[f] == nil {
				t.Errorf("%s: no %s", name, f)
			}
		}
		for p := range entries {
			if dir := path.Dir(p); dir != "/" && entries[dir] == nil {
				t.Errorf("%s: %s has no parent entry", name, p)
			}
		}
	}
	if h := imgs[images.TestServer]["/testserver"]; h == nil || h.Mode != 0o755 || h.Size < 1<<20 {
		t.Errorf("/testserver = %+v", h)
	}
	if h := imgs[images.TestServer]["/incluster"]; h == nil || h.Mode != 0o755 || h.Size < 1<<20 {
		t.Errorf("/incluster = %+v", h)
	}
	if h := imgs[images.Busybox]["/testserver"]; h != nil {
		t.Error("the busybox image holds the test server")
	}
}

// TestImagesRun imports the test images into a real containerd and runs
// them: the one tarball's two images must both arrive, and the test server
// must answer inside its container.
func TestImagesRun(t *testing.T) {
	tarball := build(t)
	address := containerdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := image.Import(ctx, address, tarball); err != nil {
		t.Fatal(err)
	}
	names, err := image.List(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{images.TestServer, images.Busybox} {
		if !slices.Contains(names, want) {
			t.Errorf("containerd lists %q, want %s among them", names, want)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc is not installed")
	}
	ctr := func(args ...string) (string, error) {
		full := append([]string{"--address", address, "--namespace", image.Namespace}, args...)
		out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
		return string(out), err
	}
	out, err := ctr("run", "--rm", images.Busybox, "bosun-images-busybox", "sh", "-c", "id -un; ls -ld /tmp")
	if err != nil || !strings.Contains(out, "root") || !strings.Contains(out, "drwxrwxrwt") {
		t.Errorf("busybox: %v\n%s", err, out)
	}
	// The container has its own network namespace: the request stays inside it.
	out, err = ctr("run", "--rm", images.TestServer, "bosun-images-testserver", "sh", "-c",
		"/testserver --port 18080 & for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:18080/echo && break; sleep 0.2; done; kill %1; wait")
	if err != nil || !strings.Contains(out, "method: GET") || !strings.Contains(out, "terminating") {
		t.Errorf("test server: %v\n%s", err, out)
	}
}
