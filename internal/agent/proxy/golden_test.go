package proxy

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestRulesets runs the scenarios in testdata/*.txt. Each file holds YAML
// documents separated by "---" lines: Services, EndpointSlices and one
// "kind: Node" document whose "addresses" list the node's IPs; then a
// "----" line and the ruleset Ruleset makes of them.
func TestRulesets(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			input, want, _ := strings.Cut(string(data), "----\n")
			svcs, slices, nodeIPs, err := parseScenario(input)
			if err != nil {
				t.Fatal(err)
			}
			got := Ruleset(svcs, slices, nodeIPs)
			if *rewrite {
				if err := os.WriteFile(f, []byte(input+"----\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("got:\n%s\nwant:\n%s\n(run with -rewrite to accept)", got, want)
			}
		})
	}
}

func parseScenario(input string) ([]*corev1.Service, []*discoveryv1.EndpointSlice, []netip.Addr, error) {
	var (
		svcs    []*corev1.Service
		slices  []*discoveryv1.EndpointSlice
		nodeIPs []netip.Addr
	)
	for i, doc := range strings.Split(input, "\n---\n") {
		var head struct {
			Kind      string   `json:"kind"`
			Addresses []string `json:"addresses"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
		switch head.Kind {
		case "Service":
			s := &corev1.Service{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
			}
			svcs = append(svcs, s)
		case "EndpointSlice":
			s := &discoveryv1.EndpointSlice{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
			}
			slices = append(slices, s)
		case "Node":
			for _, a := range head.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
				}
				nodeIPs = append(nodeIPs, ip)
			}
		case "":
			// an empty document, e.g. before a leading "---"
		default:
			return nil, nil, nil, fmt.Errorf("document %d: unknown kind %q", i, head.Kind)
		}
	}
	return svcs, slices, nodeIPs, nil
}
