// Package integration runs the real API server in-process over a
// temporary embedded etcd and drives it with client-go and kubectl.
package integration

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration: skipped in -short mode (unit tests only)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
