package image

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// Namespace is the containerd namespace the CRI plugin keeps its images
// in: an image imported anywhere else is invisible to pods.
const Namespace = "k8s.io"

// StateFile is the file in the images directory that remembers which
// tarballs ImportDir has imported.
const StateFile = ".imported"

// ctrPath is the ctr client bosun drives. containerd's Go client would do
// the same in-process, but it is a large module tree for one import call;
// ctr ships in the same Debian package as containerd itself.
var ctrPath = "ctr"

// ErrUnreachable is returned when nothing answers on containerd's socket.
var ErrUnreachable = errors.New("containerd is not answering")

// Reachable reports whether something accepts connections on the
// containerd socket at address.
func Reachable(ctx context.Context, address string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", address)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// ctr runs ctr against the containerd at address in the CRI namespace and
// returns its standard output. Its standard error, where ctr says what
// went wrong, becomes the error.
func ctr(ctx context.Context, address string, args ...string) ([]byte, error) {
	if !Reachable(ctx, address) {
		return nil, fmt.Errorf("%w at %s", ErrUnreachable, address)
	}
	full := append([]string{"--address", address, "--namespace", Namespace, "--connect-timeout", "5s"}, args...)
	cmd := exec.CommandContext(ctx, ctrPath, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		msg = strings.TrimPrefix(msg, "ctr: ")
		if msg == "" {
			return nil, fmt.Errorf("ctr %s: %w", strings.Join(args, " "), err)
		}
		return nil, fmt.Errorf("ctr %s: %s: %w", strings.Join(args, " "), msg, err)
	}
	return stdout.Bytes(), nil
}

// Import imports image tarballs (OCI layout or docker-archive) into the
// containerd at address, in the CRI namespace, unpacked into the default
// snapshotter so pods can start from them at once. Only this machine's
// platform is imported. It stops at the first file that fails.
func Import(ctx context.Context, address string, files ...string) error {
	for _, f := range files {
		if _, err := ctr(ctx, address, "images", "import", f); err != nil {
			return fmt.Errorf("importing %s: %w", f, err)
		}
	}
	return nil
}

// List returns the names of the images in containerd's CRI namespace.
func List(ctx context.Context, address string) ([]string, error) {
	out, err := ctr(ctx, address, "images", "ls", "-q")
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// EnsurePause makes PauseImage available in the containerd at address,
// writing and importing it only when containerd does not list it yet. The
// tarball is written to a temporary file in dir and removed afterwards.
func EnsurePause(ctx context.Context, address, dir string) error {
	names, err := List(ctx, address)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == PauseImage {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	// A dot name that does not end in .tar, so ImportDir never sees it.
	f, err := os.CreateTemp(dir, ".pause-*.tmp")
	if err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	defer os.Remove(f.Name())
	if err := WritePause(f); err != nil {
		f.Close()
		return fmt.Errorf("sandbox image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	if err := Import(ctx, address, f.Name()); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	return nil
}

// ImportDir imports every *.tar file in dir (the air-gap images
// directory) that it has not already imported as it is now: a file is
// remembered in dir/.imported by name, size and modification time, so a
// replaced tarball is imported again. Every file is tried; the errors of
// those that failed are returned together, and they are tried again next
// time. A missing dir holds nothing to import.
func ImportDir(ctx context.Context, address, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("images directory: %w", err)
	}
	statePath := filepath.Join(dir, StateFile)
	state := map[string]fileStamp{}
	if data, err := os.ReadFile(statePath); err == nil {
		// A damaged state file only costs re-importing, never a failure.
		state, _ = parseState(data)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("images directory: %w", err)
	}

	var errs []error
	seen := map[string]fileStamp{}
	changed := false
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".tar") || strings.HasPrefix(name, ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.Mode().IsRegular() {
			continue
		}
		stamp := fileStamp{Size: info.Size(), ModTime: info.ModTime().UnixNano()}
		if state[name] == stamp {
			seen[name] = stamp
			continue
		}
		if err := Import(ctx, address, filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		seen[name] = stamp
		changed = true
	}
	// Forget files that were removed, so the state file stays small.
	if changed || len(seen) != len(state) {
		if err := atomicfile.WriteFile(statePath, formatState(seen), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("recording imported images: %w", err))
		}
	}
	return errors.Join(errs...)
}

// fileStamp identifies one version of a file well enough to tell that a
// tarball was replaced.
type fileStamp struct {
	Size    int64
	ModTime int64 // Unix nanoseconds
}

// The state file has one line per imported tarball:
//
//	SIZE MTIME-UNIX-NANOSECONDS NAME
//
// with the name last, so it may hold spaces.
func formatState(state map[string]fileStamp) []byte {
	names := make([]string, 0, len(state))
	for n := range state {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%d %d %s\n", state[n].Size, state[n].ModTime, n)
	}
	return b.Bytes()
}

func parseState(data []byte) (map[string]fileStamp, error) {
	state := map[string]fileStamp{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		size, rest, ok1 := strings.Cut(text, " ")
		mtime, name, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 || name == "" || strings.ContainsRune(name, '/') || strings.ContainsFunc(name, unicode.IsControl) {
			return state, fmt.Errorf("line %d: want SIZE MTIME NAME", line)
		}
		s, err := strconv.ParseInt(size, 10, 64)
		if err != nil || s < 0 {
			return state, fmt.Errorf("line %d: bad size %q", line, size)
		}
		m, err := strconv.ParseInt(mtime, 10, 64)
		if err != nil {
			return state, fmt.Errorf("line %d: bad time %q", line, mtime)
		}
		state[name] = fileStamp{Size: s, ModTime: m}
	}
	if err := sc.Err(); err != nil {
		return state, err
	}
	return state, nil
}
