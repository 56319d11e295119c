//go:build !linux

package volume

import (
	"errors"
	"io/fs"
)

var errNoMounts = errors.New("mounting volumes is only supported on Linux")

type kernelMounter struct{}

func (kernelMounter) mountTmpfs(string, int64, fs.FileMode) error { return errNoMounts }
func (kernelMounter) unmount(string) error                        { return errNoMounts }
func (kernelMounter) mountPoints(string) ([]string, error)        { return nil, nil }
