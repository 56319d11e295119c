package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
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
//	    [affinity=TOPOLOGYKEY:K=V] [prefer=TOPOLOGYKEY:WEIGHT:K=V]
//	    [preferanti=TOPOLOGYKEY:WEIGHT:K=V] [spreadsoft=TOPOLOGYKEY:MAXSKEW:K=V]
//	    [ns=NAMESPACE] [nssel=K=V] [prio=N] [never]
//	namespace NAME [label=K=V]
//	pdb K=V allowed=N
//	retry NAME
//
// bound takes the pod attributes too. anti is a required anti-affinity
// term against pods labelled K=V, affinity a required affinity term;
// prefer and preferanti weighted preferred terms; spread a DoNotSchedule
// constraint counting pods labelled K=V, spreadsoft a ScheduleAnyway one.
// nssel gives all the pod's affinity terms a namespace selector. prio is
// spec.priority, never sets preemptionPolicy Never. pdb adds a
// PodDisruptionBudget over pods labelled K=V. retry schedules an earlier
// pod that did not fit again.
//
// Scheduled pods stay assumed on their node for the next lines. A pod
// that preempts prints its nominated node and victims; the victims are
// then gone, and the room stays reserved for the pod until it is
// scheduled (retry).
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
	s := &Scheduler{cache: newCache(), pdbs: cache.NewStore(cache.MetaNamespaceKeyFunc)}
	var out strings.Builder
	bound := 0
	pending := map[string]*corev1.Pod{}
	schedule := func(name string, p *corev1.Pod) {
		pi := newPodInfo(p)
		node, nodes, reasons := s.findNode(pi)
		if node != "" {
			s.cache.assume(pi, node)
			fmt.Fprintf(&out, "%s: %s\n", name, node)
			return
		}
		pending[name] = p
		var pre *preemption
		verdict := ""
		if nodes > 0 {
			pre, verdict = s.preempt(pi, nodes)
		}
		if pre == nil {
			fmt.Fprintf(&out, "%s: %s\n", name, failureMessage(nodes, reasons, verdict))
			return
		}
		s.cache.nominate(pi, pre.node)
		var victims []string
		for _, v := range pre.victims {
			victims = append(victims, v.Name)
			s.cache.removePod(v)
		}
		fmt.Fprintf(&out, "%s: nominated %s, preempting %s\n", name, pre.node, strings.Join(victims, " "))
	}
	for ln, line := range strings.Split(input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 {
			return "", fmt.Errorf("line %d: %q: want a kind and a name", ln+1, line)
		}
		switch f[0] {
		case "namespace":
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f[1], Labels: map[string]string{}}}
			for _, a := range f[2:] {
				k, v, _ := strings.Cut(a, "=")
				if k != "label" {
					return "", fmt.Errorf("line %d: unknown namespace attribute %q", ln+1, a)
				}
				lk, lv, _ := strings.Cut(v, "=")
				ns.Labels[lk] = lv
			}
			s.cache.setNamespace(ns)
		case "pdb":
			lk, lv, _ := strings.Cut(f[1], "=")
			b := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("pdb-%d", ln)},
				Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}}},
			}
			for _, a := range f[2:] {
				if n, ok := strings.CutPrefix(a, "allowed="); ok {
					fmt.Sscan(n, &b.Status.DisruptionsAllowed)
				}
			}
			_ = s.pdbs.Add(b)
		case "retry":
			p := pending[f[1]]
			if p == nil {
				return "", fmt.Errorf("line %d: no pending pod %q", ln+1, f[1])
			}
			delete(pending, f[1])
			schedule(f[1], p)
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
			nsSel := ""
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
				case "anti", "affinity":
					key, sel, _ := strings.Cut(v, ":")
					t := scenarioTerm(key, sel)
					aff, anti := scenarioAffinity(p)
					if k == "anti" {
						anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution, t)
					} else {
						aff.RequiredDuringSchedulingIgnoredDuringExecution = append(aff.RequiredDuringSchedulingIgnoredDuringExecution, t)
					}
				case "prefer", "preferanti":
					parts := strings.SplitN(v, ":", 3)
					if len(parts) != 3 {
						return "", fmt.Errorf("line %d: %s=KEY:WEIGHT:K=V", ln+1, k)
					}
					var w int32
					fmt.Sscan(parts[1], &w)
					t := corev1.WeightedPodAffinityTerm{Weight: w, PodAffinityTerm: scenarioTerm(parts[0], parts[2])}
					aff, anti := scenarioAffinity(p)
					if k == "preferanti" {
						anti.PreferredDuringSchedulingIgnoredDuringExecution = append(anti.PreferredDuringSchedulingIgnoredDuringExecution, t)
					} else {
						aff.PreferredDuringSchedulingIgnoredDuringExecution = append(aff.PreferredDuringSchedulingIgnoredDuringExecution, t)
					}
				case "ns":
					p.Namespace = v
				case "nssel":
					nsSel = v
				case "prio":
					var prio int32
					fmt.Sscan(v, &prio)
					p.Spec.Priority = &prio
				case "never":
					never := corev1.PreemptNever
					p.Spec.PreemptionPolicy = &never
				case "spread", "spreadsoft":
					parts := strings.SplitN(v, ":", 3)
					if len(parts) != 3 {
						return "", fmt.Errorf("line %d: spread=KEY:SKEW:K=V", ln+1)
					}
					var skew int32
					fmt.Sscan(parts[1], &skew)
					lk, lv, _ := strings.Cut(parts[2], "=")
					when := corev1.DoNotSchedule
					if k == "spreadsoft" {
						when = corev1.ScheduleAnyway
					}
					p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
						MaxSkew: skew, TopologyKey: parts[0], WhenUnsatisfiable: when,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}},
					})
				default:
					return "", fmt.Errorf("line %d: unknown pod attribute %q", ln+1, a)
				}
			}
			if nsSel != "" {
				setNamespaceSelector(p, nsSel)
			}
			if f[0] == "bound" {
				p.Spec.NodeName = f[1]
				s.cache.setPod(p)
				continue
			}
			schedule(name, p)
		default:
			return "", fmt.Errorf("line %d: unknown kind %q", ln+1, f[0])
		}
	}
	return out.String(), nil
}

func scenarioTerm(key, sel string) corev1.PodAffinityTerm {
	lk, lv, _ := strings.Cut(sel, "=")
	return corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}}, TopologyKey: key}
}

// scenarioAffinity returns the pod's pod affinity and anti-affinity,
// creating them.
func scenarioAffinity(p *corev1.Pod) (*corev1.PodAffinity, *corev1.PodAntiAffinity) {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	a := p.Spec.Affinity
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	return a.PodAffinity, a.PodAntiAffinity
}

func setNamespaceSelector(p *corev1.Pod, sel string) {
	lk, lv, _ := strings.Cut(sel, "=")
	ls := &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}}
	if p.Spec.Affinity == nil {
		return
	}
	if a := p.Spec.Affinity.PodAffinity; a != nil {
		for i := range a.RequiredDuringSchedulingIgnoredDuringExecution {
			a.RequiredDuringSchedulingIgnoredDuringExecution[i].NamespaceSelector = ls
		}
		for i := range a.PreferredDuringSchedulingIgnoredDuringExecution {
			a.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.NamespaceSelector = ls
		}
	}
	if a := p.Spec.Affinity.PodAntiAffinity; a != nil {
		for i := range a.RequiredDuringSchedulingIgnoredDuringExecution {
			a.RequiredDuringSchedulingIgnoredDuringExecution[i].NamespaceSelector = ls
		}
		for i := range a.PreferredDuringSchedulingIgnoredDuringExecution {
			a.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.NamespaceSelector = ls
		}
	}
}
