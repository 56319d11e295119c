package image_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bosun-sh/bosun/internal/agent/image"
	"github.com/bosun-sh/bosun/internal/agent/image/containerdtest"
)

const busyboxRef = "bosun.local/test-busybox:1"

// TestImportIntoContainerd imports the pause image and a busybox image
// into a real containerd, lists them, and runs both as containers.
func TestImportIntoContainerd(t *testing.T) {
	address := containerdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	imagesDir := t.TempDir()
	if err := image.EnsurePause(ctx, address, imagesDir); err != nil {
		t.Fatal(err)
	}
	if err := image.EnsurePause(ctx, address, imagesDir); err != nil {
		t.Fatalf("second EnsurePause: %v", err)
	}

	f, err := os.Create(filepath.Join(imagesDir, "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	err = image.WriteOCI(f, busyboxRef, image.Config{Cmd: []string{"sh"}}, []image.File{
		image.HostFile("/bin/busybox", 0o755, "/bin/busybox"),
		image.Symlink("/bin/sh", "busybox"),
		image.Symlink("/bin/echo", "busybox"),
		image.Symlink("/bin/cat", "busybox"),
		image.RegularFile("/etc/motd", 0o644, []byte("from a bosun layer\n")),
	})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := image.ImportDir(ctx, address, imagesDir); err != nil {
		t.Fatal(err)
	}

	names, err := image.List(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{image.PauseImage, busyboxRef} {
		if !slices.Contains(names, want) {
			t.Errorf("containerd lists %q, want %s among them", names, want)
		}
	}

	ctr := func(args ...string) (string, error) {
		full := append([]string{"--address", address, "--namespace", image.Namespace}, args...)
		out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
		return string(out), err
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc is not installed: the images are imported but not run")
	}

	out, err := ctr("run", "--rm", busyboxRef, "bosun-image-test-busybox", "cat", "/etc/motd")
	if err != nil || !strings.Contains(out, "from a bosun layer") {
		t.Fatalf("running busybox: %v\n%s", err, out)
	}

	const pauseID = "bosun-image-test-pause"
	if out, err := ctr("run", "-d", image.PauseImage, pauseID); err != nil {
		t.Fatalf("starting pause: %v\n%s", err, out)
	}
	defer func() {
		ctr("task", "kill", "-s", "SIGKILL", pauseID)
		for i := 0; i < 50; i++ {
			if _, err := ctr("task", "rm", pauseID); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		ctr("container", "rm", pauseID)
	}()
	time.Sleep(500 * time.Millisecond)
	out, err = ctr("task", "ls")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, pauseID) || !strings.Contains(out, "RUNNING") {
		t.Errorf("pause is not running half a second after start:\n%s", out)
	}
}
