package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Hosts writes the pod's /etc/hosts to ROOT/<uid>/etc-hosts, which Mounts then mounts
// into every container. Like the kubelet's: localhost and IPv6 boilerplate, each pod IP
// with the pod's hostname (fully qualified first when a subdomain is set), then the
// hostAliases; a host-network pod gets the node's own hosts file plus its aliases. The
// file is rewritten in place, and only when its content changes, so containers that
// already bind-mounted it see updates.
func (m *Manager) Hosts(pod *corev1.Pod, podIPs []string, clusterDomain string) error {
	pd, err := m.podDir(pod.UID)
	if err != nil {
		return err
	}
	var content []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(m.nodeHosts)
		if err != nil {
			return fmt.Errorf("read node hosts file: %w", err)
		}
		content = hostNetworkHosts(node, pod.Spec.HostAliases)
	} else {
		hostname, domain := podHostname(pod, clusterDomain)
		content = managedHosts(podIPs, hostname, domain, pod.Spec.HostAliases)
	}
	path := filepath.Join(pd, etcHostsFile)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, content) {
		return nil
	}
	if err := os.MkdirAll(pd, 0o750); err != nil {
		return fmt.Errorf("create pod dir: %w", err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("write hosts file: %w", err)
	}
	return nil
}

// podHostname returns the hostname a pod sees and, with a subdomain, its domain
// (<subdomain>.<namespace>.svc.<clusterDomain>).
func podHostname(pod *corev1.Pod, clusterDomain string) (hostname, domain string) {
	hostname = pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
		// A hostname is one DNS label; long pod names (StatefulSets, generated names) are
		// cut, never ending in a separator.
		if len(hostname) > 63 {
			hostname = strings.TrimRight(hostname[:63], "-.")
		}
	}
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

func managedHosts(podIPs []string, hostname, domain string, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	b.Write(aliasEntries(aliases))
	return b.Bytes()
}

func hostNetworkHosts(node []byte, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file (host network).\n")
	b.Write(node)
	if len(node) > 0 && node[len(node)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.Write(aliasEntries(aliases))
	return b.Bytes()
}

func aliasEntries(aliases []corev1.HostAlias) []byte {
	if len(aliases) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return b.Bytes()
}
