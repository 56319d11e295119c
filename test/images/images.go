// Package images builds the container images bosun's end-to-end tests
// run, from this repository and the host's busybox-static, into an OCI
// tarball that `bosun image import` or the agent's images directory takes.
// No registry is involved.
package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bosun-sh/bosun/internal/agent/image"
)

// The references of the test images.
const (
	// TestServer runs /testserver (see testserver/main.go) on port 8080,
	// with busybox's applets in /bin beside it, and /incluster (see
	// incluster/main.go), a client-go program for in-cluster API calls.
	TestServer = "bosun.test/testserver:1"
	// Busybox runs sh from busybox-static.
	Busybox = "bosun.test/busybox:1"
)

// BusyboxPath is the static busybox the images are built from: Debian's
// busybox-static.
const BusyboxPath = "/bin/busybox"

// TarballName is the file Build writes in its directory.
const TarballName = "test-images.tar"

// Build compiles the test programs and writes both test images into one OCI
// tarball, dir/test-images.tar, whose path it returns. The compile is
// cached by the go command, so a second Build takes well under a second.
func Build(ctx context.Context, dir string) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the test image sources")
	}
	src := filepath.Dir(self)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	server := filepath.Join(dir, ".testserver-build")
	defer os.Remove(server)
	if err := goBuild(ctx, src, "./testserver", server); err != nil {
		return "", err
	}
	incluster := filepath.Join(dir, ".incluster-build")
	defer os.Remove(incluster)
	if err := goBuild(ctx, src, "./incluster", incluster); err != nil {
		return "", err
	}
	applets, err := busyboxApplets(ctx)
	if err != nil {
		return "", err
	}

	base := []image.File{
		image.HostFile("/bin/busybox", 0o755, BusyboxPath),
		image.RegularFile("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")),
		image.RegularFile("/etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")),
		image.Dir("/root", 0o700),
		image.Dir("/tmp", 0o777|os.ModeSticky),
	}
	for _, a := range applets {
		base = append(base, image.Symlink("/bin/"+a, "busybox"))
	}
	withServer := append(append([]image.File{}, base...),
		image.HostFile("/testserver", 0o755, server),
		image.HostFile("/incluster", 0o755, incluster))

	out := filepath.Join(dir, TarballName)
	tmp, err := os.CreateTemp(dir, ".test-images-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	// Uncompressed layers: the tarball never leaves this machine, and
	// skipping gzip makes both writing and unpacking quicker.
	err = image.WriteImages(tmp, []image.Image{
		{Ref: TestServer, Config: image.Config{Cmd: []string{"/testserver"}}, Files: withServer, Uncompressed: true},
		{Ref: Busybox, Config: image.Config{Cmd: []string{"sh"}}, Files: base, Uncompressed: true},
	})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing the test images: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

func goBuild(ctx context.Context, src, pkg, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

// busyboxApplets lists the applets of the host's busybox, each of which
// becomes a /bin symlink, as busybox --install would make them.
func busyboxApplets(ctx context.Context) ([]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, BusyboxPath, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets (is busybox-static installed?): %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		applets = append(applets, a)
	}
	if len(applets) == 0 {
		return nil, errors.New("busybox --list printed no applets")
	}
	return applets, nil
}
