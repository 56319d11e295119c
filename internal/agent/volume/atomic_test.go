package volume

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestWriteAtomicLayout(t *testing.T) {
	dir := t.TempDir()
	changed, err := writeAtomic(dir, map[string]file{
		"a":        {data: []byte("A"), mode: 0o644},
		"sub/b":    {data: []byte("B"), mode: 0o400},
		"sub/deep": {data: []byte("D"), mode: 0o600},
	}, nil)
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	data, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil || !strings.HasPrefix(data, "..") {
		t.Fatalf("..data link = %q, %v", data, err)
	}
	for name, target := range map[string]string{"a": "..data/a", "sub": "..data/sub"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != target {
			t.Errorf("link %s = %q, %v, want %q", name, got, err, target)
		}
	}
	if got := readFile(t, filepath.Join(dir, "sub/b")); got != "B" {
		t.Errorf("sub/b = %q", got)
	}
	for p, mode := range map[string]fs.FileMode{"a": 0o644, "sub/b": 0o400, "sub/deep": 0o600} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s mode = %v, %v, want %v", p, st.Mode().Perm(), err, mode)
		}
	}
	st, _ := os.Stat(filepath.Join(dir, data))
	if st.Mode().Perm() != 0o755 {
		t.Errorf("data dir mode = %v, want 0755", st.Mode().Perm())
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestWriteAtomicUpdateInPlace(t *testing.T) {
	dir := t.TempDir()
	v1 := map[string]file{"keep": {data: []byte("1"), mode: 0o644}, "gone": {data: []byte("x"), mode: 0o644}}
	if _, err := writeAtomic(dir, v1, nil); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, dir)
	old, _ := os.Readlink(filepath.Join(dir, dataDirName))

	// Unchanged content: nothing is rewritten.
	if changed, err := writeAtomic(dir, v1, nil); err != nil || changed {
		t.Fatalf("rewrite of same payload: changed=%v err=%v", changed, err)
	}
	if cur, _ := os.Readlink(filepath.Join(dir, dataDirName)); cur != old {
		t.Fatalf("..data moved from %s to %s without a change", old, cur)
	}

	// A mode change alone is a change.
	v1["keep"] = file{data: []byte("1"), mode: 0o600}
	if changed, err := writeAtomic(dir, v1, nil); err != nil || !changed {
		t.Fatalf("mode change: changed=%v err=%v", changed, err)
	}

	v2 := map[string]file{"keep": {data: []byte("2"), mode: 0o644}, "new": {data: []byte("n"), mode: 0o644}}
	if changed, err := writeAtomic(dir, v2, nil); err != nil || !changed {
		t.Fatalf("update: changed=%v err=%v", changed, err)
	}
	if inode(t, dir) != ino {
		t.Error("volume directory was replaced; containers bind-mounting it would miss the update")
	}
	cur, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if cur == old {
		t.Error("..data did not move to a new directory")
	}
	if got := readFile(t, filepath.Join(dir, "keep")); got != "2" {
		t.Errorf("keep = %q, want 2", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link of removed key still there: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 { // ..<ts>, ..data, keep, new
		t.Errorf("volume dir holds %v, want only the current set and its links", names)
	}
}

func TestWriteAtomicRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "/abs", "../up", "a/../../b", "..hidden", "..data", ".", strings.Repeat("x", 256)} {
		t.Run(p, func(t *testing.T) {
			if _, err := writeAtomic(t.TempDir(), map[string]file{p: {data: []byte("x"), mode: 0o644}}, nil); err == nil {
				t.Errorf("path %q accepted", p)
			}
		})
	}
}

func TestWriteAtomicEmptyPayload(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, map[string]file{"a": {data: []byte("A"), mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, map[string]file{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a still present after emptying: %v", err)
	}
}

// TestWriteAtomicReadersSeeWholeSets updates a volume continuously while readers read
// every file of the current set through ..data: each read must see one version only.
func TestWriteAtomicReadersSeeWholeSets(t *testing.T) {
	dir := t.TempDir()
	version := func(v string) map[string]file {
		p := map[string]file{}
		for _, k := range []string{"a", "b", "c/d"} {
			p[k] = file{data: []byte(strings.Repeat(v, 4096)), mode: 0o644}
		}
		return p
	}
	if _, err := writeAtomic(dir, version("0"), nil); err != nil {
		t.Fatal(err)
	}
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		reads atomic.Int64
	)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				set, err := filepath.EvalSymlinks(filepath.Join(dir, dataDirName))
				if err != nil {
					continue
				}
				seen := map[string]bool{}
				ok := true
				for _, k := range []string{"a", "b", "c/d"} {
					b, err := os.ReadFile(filepath.Join(set, k))
					if err != nil {
						ok = false // the set was retired while reading: try again
						break
					}
					if len(b) != 4096 || strings.Count(string(b), string(b[0])) != 4096 {
						t.Errorf("file %s half-written: %d bytes", k, len(b))
						return
					}
					seen[string(b[:1])] = true
				}
				if ok && len(seen) != 1 {
					t.Errorf("one read saw versions %v", seen)
					return
				}
				// The user-visible link never dangles or shows a partial file either.
				if b, err := os.ReadFile(filepath.Join(dir, "a")); err == nil && len(b) != 4096 {
					t.Errorf("a via its link: %d bytes", len(b))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i < 200; i++ {
		if _, err := writeAtomic(dir, version(string(rune('0'+i%10))), nil); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Error("readers never completed a read")
	}
}

func TestWriteAtomicRecoversFromCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	p := map[string]file{"a": {data: []byte("A"), mode: 0o644}}
	if _, err := writeAtomic(dir, p, nil); err != nil {
		t.Fatal(err)
	}
	// An update that died after writing its set, a stale temporary link, a lost link.
	if err := os.Mkdir(filepath.Join(dir, "..2020_01_01_00_00_00.123"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2020_01_01_00_00_00.123", filepath.Join(dir, newDataDirName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if changed, err := writeAtomic(dir, p, nil); err != nil || changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "A" {
		t.Errorf("a = %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("leftovers not removed: %d entries", len(entries))
	}

	// ..data pointing nowhere: the set is rewritten and stale links go.
	cur, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if err := os.RemoveAll(filepath.Join(dir, cur)); err != nil {
		t.Fatal(err)
	}
	if changed, err := writeAtomic(dir, map[string]file{"b": {data: []byte("B"), mode: 0o644}}, nil); err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale link a kept: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "b")); got != "B" {
		t.Errorf("b = %q", got)
	}
}
