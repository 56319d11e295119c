//go:build !linux

package containerdtest

import "testing"

// Start skips the test: containerd and runc run containers on Linux only.
func Start(t testing.TB) string {
	t.Skip("containerd tests run on Linux only")
	return ""
}
