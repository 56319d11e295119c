package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestScenarios runs the scheduling scenarios in testdata/*.txt. Each
// file describes nodes, pods already bound and pods to schedule, one per
// line, then a "----" line and what the scheduler decided for each pod
// in turn: the node chosen, or the FailedScheduling message.
//
//	node NAME [cpu=Q] [mem=Q] [pods=N] [label=K=V] [taint=K=V:EFFECT] [unschedulable] [notready]
//	bound NODE [cpu=Q] [mem=Q] [port=N]
//	pod NAME [cpu=Q] [mem=Q] [port=N] [select=K=V] [tolerate=K] [label=K=V]
//	    [anti=TOPOLOGYKEY:K=V] [spread=TOPOLOGYKEY:MAXSKEW:K=V]
//
// bound takes the pod attributes too. anti is a required anti-affinity
// term against pods labelled K=V; spread a DoNotSchedule constraint
// counting pods labelled K=V.
//
// Scheduled pods stay assumed on their node for the next lines.
func TestScenarios(t *testing.T) {
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
			got, err := runScenario(input)
			if err != nil {
				t.Fatal(err)
			}
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

func runScenario(input string) (string, error) {
	s := &Scheduler{cache: newCache()}
	var out strings.Builder
	bound := 0
	for ln, line := range strings.Split(input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 {
			return "", fmt.Errorf("line %d: %q: want a kind and a name", ln+1, line)
		}
		switch f[0] {
		case "node":
			n := testNode(f[1], "0", "0")
			for _, a := range f[2:] {
				k, v, _ := strings.Cut(a, "=")
				switch k {
				case "cpu":
					n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse(v)
				case "mem":
					n.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse(v)
				case "pods":
					n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse(v)
				case "label":
					lk, lv, _ := strings.Cut(v, "=")
					n.Labels[lk] = lv
				case "taint":
					kv, eff, _ := strings.Cut(v, ":")
					tk, tv, _ := strings.Cut(kv, "=")
					withTaint(tk, tv, corev1.TaintEffect(eff))(n)
				case "unschedulable":
					cordoned(n)
				case "notready":
					notReady(n)
				default:
					return "", fmt.Errorf("line %d: unknown node attribute %q", ln+1, a)
				}
			}
			s.cache.setNode(n)
		case "bound", "pod":
			name := f[1]
			if f[0] == "bound" {
				bound++
				name = fmt.Sprintf("bound-%d", bound)
			}
			p := testPod(name, "", "")
			for _, a := range f[2:] {
				k, v, _ := strings.Cut(a, "=")
				switch k {
				case "cpu":
					withRequest(corev1.ResourceCPU, v)(p)
				case "mem":
					withRequest(corev1.ResourceMemory, v)(p)
				case "port":
					var port int32
					fmt.Sscan(v, &port)
					withHostPort(port)(p)
				case "select":
					sk, sv, _ := strings.Cut(v, "=")
					if p.Spec.NodeSelector == nil {
						p.Spec.NodeSelector = map[string]string{}
					}
					p.Spec.NodeSelector[sk] = sv
				case "tolerate":
					withToleration(corev1.Toleration{Key: v, Operator: corev1.TolerationOpExists})(p)
				case "label":
					lk, lv, _ := strings.Cut(v, "=")
					if p.Labels == nil {
						p.Labels = map[string]string{}
					}
					p.Labels[lk] = lv
				case "anti":
					key, sel, _ := strings.Cut(v, ":")
					lk, lv, _ := strings.Cut(sel, "=")
					if p.Spec.Affinity == nil {
						p.Spec.Affinity = &corev1.Affinity{}
					}
					if p.Spec.Affinity.PodAntiAffinity == nil {
						p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
					}
					a := p.Spec.Affinity.PodAntiAffinity
					a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, corev1.PodAffinityTerm{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}}, TopologyKey: key,
					})
				case "spread":
					parts := strings.SplitN(v, ":", 3)
					if len(parts) != 3 {
						return "", fmt.Errorf("line %d: spread=KEY:SKEW:K=V", ln+1)
					}
					var skew int32
					fmt.Sscan(parts[1], &skew)
					lk, lv, _ := strings.Cut(parts[2], "=")
					p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
						MaxSkew: skew, TopologyKey: parts[0], WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}},
					})
				default:
					return "", fmt.Errorf("line %d: unknown pod attribute %q", ln+1, a)
				}
			}
			if f[0] == "bound" {
				p.Spec.NodeName = f[1]
				s.cache.setPod(p)
				continue
			}
			pi := newPodInfo(p)
			node, nodes, reasons := s.findNode(pi)
			if node == "" {
				fmt.Fprintf(&out, "%s: %s\n", name, failureMessage(nodes, reasons))
				continue
			}
			s.cache.assume(pi, node)
			fmt.Fprintf(&out, "%s: %s\n", name, node)
		default:
			return "", fmt.Errorf("line %d: unknown kind %q", ln+1, f[0])
		}
	}
	return out.String(), nil
}
