package agent

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// masqueradeComment marks bosun's rule so uninstall can find it.
const masqueradeComment = "bosun: pods of "

// masqueradeArgs is the rule that gives traffic from the node's pods to
// anywhere outside their range (multicast aside) the node's address.
func masqueradeArgs(podCIDR netip.Prefix) []string {
	r := podCIDR.Masked().String()
	return []string{"POSTROUTING", "-t", "nat", "-s", r, "!", "-d", r,
		"-m", "comment", "--comment", masqueradeComment + r, "-j", "MASQUERADE"}
}

// ensureMasquerade installs the node's masquerade rule once.
func ensureMasquerade(podCIDR netip.Prefix) error {
	if podCIDR.Addr().Is6() {
		return nil // not yet: IPv6 pod ranges are not masqueraded
	}
	args := masqueradeArgs(podCIDR)
	check := append([]string{"-w", "-C"}, args...)
	if exec.Command("iptables", check...).Run() == nil {
		return nil
	}
	add := append([]string{"-w", "-A"}, args...)
	if out, err := exec.Command("iptables", add...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(add, " "), err, out)
	}
	return nil
}

// removeMasquerade deletes the node's masquerade rule (every copy; a
// bounded number of tries).
func removeMasquerade(podCIDR netip.Prefix) {
	del := append([]string{"-w", "-D"}, masqueradeArgs(podCIDR)...)
	for range 8 {
		if exec.Command("iptables", del...).Run() != nil {
			return
		}
	}
}
