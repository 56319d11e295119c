// Package atomicfile replaces files so that a reader, or the next start
// after a crash, sees either the old content or the new one — never a
// half-written file: the content goes to a temporary file in the same
// directory, is flushed to disk, and is renamed over the target.
package atomicfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, with permission bits mode.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return Write(path, bytes.NewReader(data), mode)
}

// Write replaces path with what r yields, with permission bits mode. On
// error the target is left as it was and the temporary file is removed.
func Write(path string, r io.Reader, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename itself is durable only once the directory is.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
