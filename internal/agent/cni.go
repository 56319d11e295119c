package agent

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// BridgeName is the host bridge the pods of a node with pod range
// podCIDR are attached to: "bosun" and a hash of the range, within the
// kernel's 15 characters. The bridge plugin keeps one range per bridge,
// so nodes sharing a machine (tests run several) each get their own, and
// the kernel routes between them; nodes of separate clusters that were
// given the same range share one, with the shared leases keeping their
// addresses apart.
func BridgeName(podCIDR netip.Prefix) string {
	h := fnv.New32a()
	h.Write([]byte(podCIDR.Masked().String()))
	return fmt.Sprintf("bosun%08x", h.Sum32())
}

// NetworkName names the pod network; host-local keeps its leases in
// /var/lib/cni/networks/NetworkName, shared by every bosun node on the
// machine so that two of them (tests do this) never hand out one address
// twice on the shared bridge.
const NetworkName = "bosun"

// ipamDir is where host-local keeps the network's leases.
var ipamDir = filepath.Join("/var/lib/cni/networks", NetworkName)

// cniConfig is the node's pod network: a bridge with the node's pod range
// (host-local IPAM, the bridge as gateway), hostPort mappings through
// portmap. containerd's CRI plugin
// runs these plugins (through libcni) for every sandbox; it adds the
// loopback interface itself.
func cniConfig(podCIDR netip.Prefix) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       NetworkName,
		"plugins": []any{
			map[string]any{
				"type":      "bridge",
				"bridge":    BridgeName(podCIDR),
				"isGateway": true,
				// One masquerade rule for the whole range (masquerade.go)
				// instead of the plugin's chain per pod, which doubled the
				// CPU each pod's network setup and teardown cost.
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR.Masked().String()}}},
					"routes": []map[string]string{{"dst": defaultRoute(podCIDR)}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	// Parse it back as libcni will: a configuration containerd would
	// refuse is an error here, where it can be reported.
	if _, err := libcni.ConfListFromBytes(b); err != nil {
		return nil, fmt.Errorf("CNI configuration: %w", err)
	}
	return b, nil
}

func defaultRoute(p netip.Prefix) string {
	if p.Addr().Is6() {
		return "::/0"
	}
	return "0.0.0.0/0"
}

const cniConfFile = "10-bosun.conflist"

// writeCNIConfig writes the node's network configuration where containerd
// looks for it, replacing it atomically.
func writeCNIConfig(confDir string, podCIDR netip.Prefix) error {
	b, err := cniConfig(podCIDR)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(confDir, cniConfFile)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return nil
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
