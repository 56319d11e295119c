package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath applies a hostPath volume's type: the *OrCreate types create what is
// missing (a directory 0755, or an empty file 0644 whose parent must already exist),
// the others only check, and "" checks nothing.
func checkHostPath(path string, t *corev1.HostPathType) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("hostPath %q must be an absolute path", path)
	}
	typ := corev1.HostPathUnset
	if t != nil {
		typ = *t
	}
	if typ == corev1.HostPathUnset {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath type check failed: %s: %w", path, err)
	}
	missing := err != nil
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if missing {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: create directory %s: %w", path, err)
			}
			return nil
		}
		if !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathDirectory:
		if missing || !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathFileOrCreate:
		if missing {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath type check failed: create file %s: %w", path, err)
			}
			return f.Close()
		}
		if st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is a directory", path)
		}
	case corev1.HostPathFile:
		if missing || st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case corev1.HostPathSocket:
		if missing || st.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", path)
		}
	case corev1.HostPathCharDev:
		if missing || st.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", path)
		}
	case corev1.HostPathBlockDev:
		if missing || st.Mode().Type() != fs.ModeDevice {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", path)
		}
	default:
		return fmt.Errorf("hostPath type check failed: %s: unknown type %q", path, typ)
	}
	return nil
}
