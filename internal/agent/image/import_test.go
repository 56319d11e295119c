package image

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		state map[string]fileStamp
	}{
		{name: "empty", state: map[string]fileStamp{}},
		{name: "several", state: map[string]fileStamp{
			"a.tar":          {Size: 10, ModTime: 1700000000123456789},
			"with space.tar": {Size: 0, ModTime: -5},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseState(formatState(tc.state))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.state) {
				t.Errorf("round trip = %v, want %v", got, tc.state)
			}
		})
	}
}

func TestParseStateRejects(t *testing.T) {
	cases := []string{
		"10 20\n",
		"x 20 a.tar\n",
		"-1 20 a.tar\n",
		"10 y a.tar\n",
		"10 20 ../a.tar\n",
		"10 20 \r\r\n", // the scanner drops one \r, so the name would not survive a rewrite
		"10 20 a\tb.tar\n",
	}
	for _, in := range cases {
		if _, err := parseState([]byte(in)); err == nil {
			t.Errorf("parseState(%q) accepted it", in)
		}
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte("10 20 a.tar\n"))
	f.Add([]byte("10 20 with space.tar\n\n1 2 b\n"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		state, err := parseState(data)
		if err != nil {
			return
		}
		again, err := parseState(formatState(state))
		if err != nil {
			t.Fatalf("formatted state does not parse: %v", err)
		}
		if !reflect.DeepEqual(state, again) {
			t.Fatalf("round trip changed %v to %v", state, again)
		}
	})
}

// fakeContainerd stands in for containerd: a socket that accepts
// connections, and a ctr script that logs its arguments and fails on a
// file whose name contains "bad".
func fakeContainerd(t *testing.T) (address, log string) {
	t.Helper()
	dir := t.TempDir()
	address = filepath.Join(dir, "c.sock")
	l, err := net.Listen("unix", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	log = filepath.Join(dir, "ctr.log")
	script := filepath.Join(dir, "ctr")
	body := `#!/bin/sh
echo "$@" >> ` + log + `
case "$*" in
*bad*) echo "ctr: unrecognized image format" >&2; exit 1;;
*"images ls -q"*) echo docker.io/library/busybox:latest;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	old := ctrPath
	ctrPath = script
	t.Cleanup(func() { ctrPath = old })
	return address, log
}

func ctrCalls(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(log)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestImportDir(t *testing.T) {
	ctx := context.Background()
	address, log := fakeContainerd(t)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.tar", "a")
	write("b.tar", "b")
	write("notes.txt", "not an image")
	write(".hidden.tar", "skipped")

	if err := ImportDir(ctx, address, dir); err != nil {
		t.Fatal(err)
	}
	calls := ctrCalls(t, log)
	if len(calls) != 2 || !strings.HasSuffix(calls[0], "images import "+filepath.Join(dir, "a.tar")) ||
		!strings.Contains(calls[0], "--namespace k8s.io") || !strings.HasSuffix(calls[1], "b.tar") {
		t.Fatalf("first run: ctr calls = %q", calls)
	}

	if err := ImportDir(ctx, address, dir); err != nil {
		t.Fatal(err)
	}
	if calls := ctrCalls(t, log); len(calls) != 0 {
		t.Fatalf("unchanged files imported again: %q", calls)
	}

	// A replaced tarball is imported again; a failing one is reported and retried.
	write("b.tar", "b, a newer version")
	write("bad.tar", "x")
	err := ImportDir(ctx, address, dir)
	if err == nil || !strings.Contains(err.Error(), "bad.tar") || !strings.Contains(err.Error(), "unrecognized image format") {
		t.Fatalf("err = %v, want ctr's complaint about bad.tar", err)
	}
	if calls := ctrCalls(t, log); len(calls) != 2 {
		t.Fatalf("ctr calls = %q, want b.tar and bad.tar", calls)
	}
	if err := ImportDir(ctx, address, dir); err == nil {
		t.Fatal("bad.tar was remembered as imported")
	}
	if calls := ctrCalls(t, log); len(calls) != 1 || !strings.HasSuffix(calls[0], "bad.tar") {
		t.Fatalf("ctr calls = %q, want bad.tar only", calls)
	}

	if err := ImportDir(ctx, address, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestEnsurePauseImportsOnce(t *testing.T) {
	ctx := context.Background()
	address, log := fakeContainerd(t)
	dir := t.TempDir()
	if err := EnsurePause(ctx, address, dir); err != nil {
		t.Fatal(err)
	}
	calls := ctrCalls(t, log)
	if len(calls) != 2 || !strings.HasSuffix(calls[0], "images ls -q") || !strings.Contains(calls[1], "images import "+dir+"/.pause-") {
		t.Fatalf("ctr calls = %q", calls)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	address := filepath.Join(t.TempDir(), "nobody.sock")
	if Reachable(ctx, address) {
		t.Fatal("Reachable on a missing socket")
	}
	err := Import(ctx, address, "x.tar")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), address) {
		t.Errorf("err = %v, want ErrUnreachable naming the socket", err)
	}
}

func TestAdd(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	good := filepath.Join(src, "pause.tar")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePause(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	noSuffix := filepath.Join(src, "pause-image")
	data, _ := os.ReadFile(good)
	os.WriteFile(noSuffix, data, 0o600)
	text := filepath.Join(src, "notes.tar")
	os.WriteFile(text, []byte("just some text, not a tar archive at all"), 0o644)

	t.Run("bad input changes nothing", func(t *testing.T) {
		cases := []struct {
			name  string
			files []string
			want  string
		}{
			{"none", nil, "no image tarball"},
			{"missing", []string{good, filepath.Join(src, "missing.tar")}, "no such file"},
			{"not a tar", []string{good, text}, "not an image archive"},
			{"a directory", []string{src}, "not a regular file"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				dataDir := t.TempDir()
				_, err := Add(ctx, filepath.Join(dataDir, "containerd.sock"), filepath.Join(dataDir, "images"), tc.files)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.want)
				}
				if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
					t.Errorf("the data directory was changed: %v", entries)
				}
			})
		}
	})

	t.Run("agent not running", func(t *testing.T) {
		dataDir := t.TempDir()
		dir := filepath.Join(dataDir, "images")
		added, err := Add(ctx, filepath.Join(dataDir, "containerd.sock"), dir, []string{good, noSuffix})
		if err != nil {
			t.Fatal(err)
		}
		if len(added) != 2 || added[0].QueuedAs != filepath.Join(dir, "pause.tar") || added[1].QueuedAs != filepath.Join(dir, "pause-image.tar") ||
			len(added[0].Names) != 1 || added[0].Names[0] != PauseImage {
			t.Fatalf("Add = %+v", added)
		}
		copied, err := os.ReadFile(added[1].QueuedAs)
		if err != nil || string(copied) != string(data) {
			t.Errorf("copy differs from the original: %v", err)
		}
	})

	t.Run("agent running", func(t *testing.T) {
		address, log := fakeContainerd(t)
		dataDir, err := os.MkdirTemp("", "add-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dataDir)
		added, err := Add(ctx, address, filepath.Join(dataDir, "images"), []string{good})
		if err != nil {
			t.Fatal(err)
		}
		if len(added) != 1 || added[0].QueuedAs != "" {
			t.Errorf("Add = %+v", added)
		}
		if calls := ctrCalls(t, log); len(calls) != 1 || !strings.HasSuffix(calls[0], "images import "+good) {
			t.Errorf("ctr calls = %q", calls)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "images")); err == nil {
			t.Error("the images directory was written although containerd answered")
		}
	})
}
