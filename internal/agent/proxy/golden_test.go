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
// "kind: Node" document whose "name", "addresses" and "podCIDRs" are the
// node's; then a "----" line and the ruleset Ruleset makes of them.
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
			sc, err := parseScenario(input)
			if err != nil {
				t.Fatal(err)
			}
			got := Ruleset(sc.services, sc.slices, sc.node)
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

// TestIncremental runs the scenarios in testdata/incremental/*.txt: the
// objects before (as in testdata/*.txt), a "----" line, the objects
// after, a "----" line, and the script that updates the table in place,
// with the conntrack deletions it calls for as "# conntrack" lines.
func TestIncremental(t *testing.T) {
	files, err := filepath.Glob("testdata/incremental/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), "----\n", 3)
			if len(parts) < 2 {
				t.Fatal("want before, after and script separated by ---- lines")
			}
			before, after, err := parseTransition(parts[0], parts[1])
			if err != nil {
				t.Fatal(err)
			}
			got := incrementalScript(before, after)
			if *rewrite {
				if err := os.WriteFile(f, []byte(parts[0]+"----\n"+parts[1]+"----\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if len(parts) < 3 || got != parts[2] {
				t.Errorf("got:\n%s\nwant:\n%s\n(run with -rewrite to accept)", got, parts[len(parts)-1])
			}
		})
	}
}

func parseTransition(before, after string) (*model, *model, error) {
	b, err := parseScenario(before)
	if err != nil {
		return nil, nil, fmt.Errorf("before: %w", err)
	}
	a, err := parseScenario(after)
	if err != nil {
		return nil, nil, fmt.Errorf("after: %w", err)
	}
	return b.model(), a.model(), nil
}

// incrementalScript is the in-place update from before to after, or a
// note that a full write is needed, followed by the conntrack deletions.
func incrementalScript(before, after *model) string {
	script, ok := after.diff(before)
	if !ok {
		script = "# full rewrite\n"
	}
	for _, d := range after.staleUDP(before) {
		script += "# conntrack " + strings.Join(d, " ") + "\n"
	}
	return script
}

type scenario struct {
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
	node     Node
}

func (s scenario) model() *model { return build(s.services, s.slices, s.node) }

func parseScenario(input string) (scenario, error) {
	var sc scenario
	for i, doc := range strings.Split(input, "\n---\n") {
		var head struct {
			Kind      string   `json:"kind"`
			Name      string   `json:"name"`
			Addresses []string `json:"addresses"`
			PodCIDRs  []string `json:"podCIDRs"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return sc, fmt.Errorf("document %d: %w", i, err)
		}
		switch head.Kind {
		case "Service":
			s := &corev1.Service{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				return sc, fmt.Errorf("document %d: %w", i, err)
			}
			sc.services = append(sc.services, s)
		case "EndpointSlice":
			s := &discoveryv1.EndpointSlice{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				return sc, fmt.Errorf("document %d: %w", i, err)
			}
			sc.slices = append(sc.slices, s)
		case "Node":
			sc.node.Name = head.Name
			for _, a := range head.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return sc, fmt.Errorf("document %d: %w", i, err)
				}
				sc.node.IPs = append(sc.node.IPs, ip)
			}
			for _, c := range head.PodCIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return sc, fmt.Errorf("document %d: %w", i, err)
				}
				sc.node.PodCIDRs = append(sc.node.PodCIDRs, p)
			}
		case "":
			// an empty document, e.g. before a leading "---"
		default:
			return sc, fmt.Errorf("document %d: unknown kind %q", i, head.Kind)
		}
	}
	return sc, nil
}
