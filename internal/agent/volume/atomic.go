package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The layout of an API-backed volume directory, as the kubelet makes it:
//
//	<dir>/..2024_05_01_10_00_00.123456789   the current file set (hidden, timestamped)
//	<dir>/..data -> ..2024_05_01_10_00_00.123456789
//	<dir>/<key>  -> ..data/<key>             one per top-level name
//
// An update writes a complete new timestamped directory and then renames a fresh symlink
// over ..data, which is atomic, so a reader going through ..data sees either the old
// set or the new one and never a half-written file.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	// Go's MkdirTemp appends a random suffix after the trailing dot.
	tsDirPattern = "..2006_01_02_15_04_05."

	maxPathLength = 4096
	maxNameLength = 255
)

// file is one entry of a volume payload.
type file struct {
	data []byte
	mode fs.FileMode
}

// validatePayloadPath rejects paths that could escape the volume or collide with the
// writer's own hidden entries.
func validatePayloadPath(p string) error {
	if p == "" {
		return errors.New("invalid path: must not be empty")
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path %q: must be less than or equal to %d characters", p, maxPathLength)
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative path", p)
	}
	parts := strings.Split(p, "/")
	for _, part := range parts {
		if part == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
		if len(part) > maxNameLength {
			return fmt.Errorf("invalid path %q: must not contain path segments longer than %d characters", p, maxNameLength)
		}
	}
	if strings.HasPrefix(parts[0], "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// writeAtomic makes dir present exactly payload (paths relative to dir). It writes only
// when the content or mode of some file differs from what ..data holds, and reports
// whether it did. With fsGroup, the new set is given to that group before it becomes
// visible (files group-readable, directories setgid), as the pod's securityContext asks.
func writeAtomic(dir string, payload map[string]file, fsGroup *int64) (bool, error) {
	clean := make(map[string]file, len(payload))
	for p, f := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		cp := filepath.Clean(p)
		if cp == "." {
			return false, fmt.Errorf("invalid path %q: must name a file", p)
		}
		f.mode &= fs.ModePerm
		if fsGroup != nil {
			f.mode |= 0o440
		}
		clean[cp] = f
	}

	oldTs, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s link: %w", dataDirName, err)
	}
	var oldFiles map[string]struct{}
	if oldTs != "" {
		oldFiles, err = listFiles(filepath.Join(dir, oldTs))
		if errors.Is(err, fs.ErrNotExist) {
			// ..data dangles (its set was removed by hand): write a fresh one.
			oldTs, oldFiles = "", nil
		} else if err != nil {
			return false, err
		}
	}
	if oldTs != "" {
		same, err := sameContent(filepath.Join(dir, oldTs), oldFiles, clean)
		if err != nil {
			return false, err
		}
		if same {
			// Links and leftovers may be off after a crash in the middle of an update.
			if err := linkTopLevel(dir, clean); err != nil {
				return false, err
			}
			return false, removeStale(dir, oldTs)
		}
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format(tsDirPattern))
	if err != nil {
		return false, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, fmt.Errorf("chmod data dir: %w", err)
	}
	for p, f := range clean {
		target := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return false, fmt.Errorf("create dir for %s: %w", p, err)
		}
		if err := os.WriteFile(target, f.data, f.mode); err != nil {
			return false, fmt.Errorf("write %s: %w", p, err)
		}
		// WriteFile's mode passes through the umask.
		if err := os.Chmod(target, f.mode); err != nil {
			return false, fmt.Errorf("chmod %s: %w", p, err)
		}
	}

	if fsGroup != nil {
		if err := chownTree(tsDir, int(*fsGroup)); err != nil {
			return false, err
		}
	}

	tmpLink := filepath.Join(dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", newDataDirName, err)
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, fmt.Errorf("link new data dir: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return false, fmt.Errorf("swap %s: %w", dataDirName, err)
	}
	if err := linkTopLevel(dir, clean); err != nil {
		return true, err
	}
	if err := removeStale(dir, filepath.Base(tsDir)); err != nil {
		return true, err
	}
	return true, nil
}

// removeStale deletes hidden entries other than ..data and the current set: earlier
// sets, and leftovers of an update that crashed halfway.
func removeStale(dir, current string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") && name != dataDirName && name != current {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove old data dir %s: %w", name, err)
			}
		}
	}
	return nil
}

// linkTopLevel makes one <name> -> ..data/<name> symlink per top-level name of payload
// and removes links into ..data for names the payload lacks.
func linkTopLevel(dir string, payload map[string]file) error {
	want := topLevel(payload)
	for name := range want {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataDirName, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		// A hidden name cannot collide with a key: keys never start with "..".
		tmp := filepath.Join(dir, "..link_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	// Scanning the directory rather than the previous set also catches links left
	// behind when that set was lost.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := want[name]; ok || strings.HasPrefix(name, "..") || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || !strings.HasPrefix(target, dataDirName+"/") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove link %s: %w", name, err)
		}
	}
	return nil
}

func topLevel(payload map[string]file) map[string]struct{} {
	names := make(map[string]struct{}, len(payload))
	for p := range payload {
		names[strings.SplitN(p, "/", 2)[0]] = struct{}{}
	}
	return names
}

// listFiles returns the regular files under root, as slash-separated relative paths.
func listFiles(root string) (map[string]struct{}, error) {
	files := map[string]struct{}{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return files, nil
}

func sameContent(root string, onDisk map[string]struct{}, payload map[string]file) (bool, error) {
	if len(onDisk) != len(payload) {
		return false, nil
	}
	for p, f := range payload {
		if _, ok := onDisk[p]; !ok {
			return false, nil
		}
		path := filepath.Join(root, p)
		st, err := os.Stat(path)
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm() != f.mode.Perm() || st.Size() != int64(len(f.data)) {
			return false, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", p, err)
		}
		if !bytes.Equal(data, f.data) {
			return false, nil
		}
	}
	return true, nil
}

// chownTree gives every file and directory under root to group gid; directories also get
// setgid so files created later inherit the group.
func chownTree(root string, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return fmt.Errorf("set group of %s: %w", p, err)
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Chmod(p, info.Mode().Perm()|fs.ModeSetgid|0o110); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		return nil
	})
}
