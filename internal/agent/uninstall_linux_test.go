package agent

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSandboxNetns(t *testing.T) {
	cases := []struct {
		name, info, want string
		err              bool
	}{
		{"pod network", `{"pid":1,"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1234"}]}}}`, "/var/run/netns/cni-1234", false},
		{"run netns", `{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/run/netns/cni-1"}]}}}`, "/run/netns/cni-1", false},
		{"host network", `{"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"}]}}}`, "", false},
		{"no spec", `{}`, "", false},
		{"elsewhere", `{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/etc/passwd"}]}}}`, "", true},
		{"escapes", `{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/var/run/netns/../../../etc/passwd"}]}}}`, "", true},
		{"relative", `{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"cni-1"}]}}}`, "", true},
		{"not JSON", `runtimeSpec`, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sandboxNetns(tc.info)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("sandboxNetns = %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzSandboxNetns(f *testing.F) {
	f.Add(`{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/var/run/netns/cni-1234"}]}}}`)
	f.Add(`{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/run/netns/../x"}]}}}`)
	f.Fuzz(func(t *testing.T, info string) {
		p, err := sandboxNetns(info)
		if err != nil || p == "" {
			return
		}
		// Whatever the record says, only a file in a netns directory is
		// ever named for removal.
		if d := filepath.Dir(p); d != "/var/run/netns" && d != "/run/netns" || strings.Contains(p, "..") {
			t.Fatalf("sandboxNetns(%q) = %q, outside the netns directories", info, p)
		}
	})
}
