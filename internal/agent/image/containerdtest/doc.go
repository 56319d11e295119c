// Package containerdtest starts a private containerd for tests: its own
// root, state and socket in a temporary directory, stopped and cleaned up
// (processes, shims, mounts) when the test ends. It never touches a
// system-wide containerd.
package containerdtest

// Binary is the containerd the tests run.
const Binary = "/usr/bin/containerd"
