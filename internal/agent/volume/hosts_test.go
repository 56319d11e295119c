package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const hostsHeader = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func TestHosts(t *testing.T) {
	long := strings.Repeat("a", 61) + "-.bcd"
	cases := []struct {
		name string
		edit func(*corev1.Pod)
		ips  []string
		want string
	}{
		{
			name: "plain",
			ips:  []string{"10.1.0.9"},
			want: hostsHeader + "10.1.0.9\tweb-0\n",
		},
		{
			name: "hostname subdomain and dual stack",
			edit: func(p *corev1.Pod) { p.Spec.Hostname = "db"; p.Spec.Subdomain = "svc" },
			ips:  []string{"10.1.0.9", "fd00::9"},
			want: hostsHeader + "10.1.0.9\tdb.svc.ns.svc.cluster.local\tdb\nfd00::9\tdb.svc.ns.svc.cluster.local\tdb\n",
		},
		{
			name: "long pod name is cut to a label",
			edit: func(p *corev1.Pod) { p.Name = long },
			ips:  []string{"10.1.0.9"},
			want: hostsHeader + "10.1.0.9\t" + strings.Repeat("a", 61) + "\n",
		},
		{
			name: "host aliases",
			edit: func(p *corev1.Pod) {
				p.Spec.HostAliases = []corev1.HostAlias{{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}}, {IP: "10.1.2.3", Hostnames: []string{"foo.remote"}}}
			},
			ips: []string{"10.1.0.9"},
			want: hostsHeader + "10.1.0.9\tweb-0\n\n# Entries added by HostAliases.\n" +
				"127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n",
		},
		{
			name: "host network copies the node's file",
			edit: func(p *corev1.Pod) {
				p.Spec.HostNetwork = true
				p.Spec.HostAliases = []corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"x"}}}
			},
			ips:  []string{"192.168.1.5"},
			want: "# Kubernetes-managed hosts file (host network).\n127.0.0.1 node\n\n# Entries added by HostAliases.\n1.2.3.4\tx\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t, nil)
			m.nodeHosts = filepath.Join(t.TempDir(), "hosts")
			if err := os.WriteFile(m.nodeHosts, []byte("127.0.0.1 node"), 0o644); err != nil {
				t.Fatal(err)
			}
			pod := testPod()
			if tc.edit != nil {
				tc.edit(pod)
			}
			if err := m.Hosts(pod, tc.ips, "cluster.local"); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(m.root, string(pod.UID), etcHostsFile)
			if got := readFile(t, path); got != tc.want {
				t.Errorf("hosts file:\n%s\nwant:\n%s", got, tc.want)
			}
			// Rewrites keep the inode: containers bind-mount this very file.
			ino := inode(t, path)
			pod.Spec.HostAliases = append(pod.Spec.HostAliases, corev1.HostAlias{IP: "9.9.9.9", Hostnames: []string{"late"}})
			if err := m.Hosts(pod, tc.ips, "cluster.local"); err != nil {
				t.Fatal(err)
			}
			if inode(t, path) != ino || !strings.Contains(readFile(t, path), "9.9.9.9\tlate") {
				t.Error("update did not happen in place")
			}
		})
	}
}
