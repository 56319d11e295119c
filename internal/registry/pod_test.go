package registry

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func corePod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corePodSpec()}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestPodWrites(t *testing.T) {
	stored := corePod(nil)
	runCoreCases(t, pods(), []coreCase{
		{name: "valid", obj: corePod(nil)},
		{name: "no containers", obj: corePod(func(p *corev1.Pod) { p.Spec.Containers = nil }), paths: []string{"spec.containers"}},
		{name: "bad port", obj: corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }),
			paths: []string{"spec.containers[0].ports[0].containerPort"}},
		{name: "ephemeral containers on create", obj: corePod(func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}), paths: []string{"spec.ephemeralContainers"}},
		{name: "update image", old: stored, obj: corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" })},
		{name: "update adds toleration and deadline", old: stored, obj: corePod(func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "spot", Operator: corev1.TolerationOpExists})
			p.Spec.ActiveDeadlineSeconds = new(int64(60))
		})},
		{name: "update removes toleration", old: stored, obj: corePod(func(p *corev1.Pod) { p.Spec.Tolerations = nil }),
			paths: []string{"spec"}},
		{name: "update changes env", old: stored, obj: corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Value = "dev" }),
			paths: []string{"spec"}},
		{name: "update raises deadline", old: corePod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = new(int64(60)) }),
			obj:   corePod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = new(int64(120)) }),
			paths: []string{"spec.activeDeadlineSeconds"}},
		{name: "update removes a scheduling gate", old: corePod(func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}), obj: corePod(nil)},
		{name: "update adds a scheduling gate", old: stored, obj: corePod(func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}), paths: []string{"spec.schedulingGates[0]"}},
	})
}

func TestPodCreate(t *testing.T) {
	k := pods()
	p := corePod(func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Spec.HostNetwork = true
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	})
	k.PrepareForCreate(p)
	k.Defaults(p)
	c := p.Spec.Containers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"phase", p.Status.Phase, corev1.PodPending},
		{"qos", p.Status.QOSClass, corev1.PodQOSBurstable},
		{"gated condition", p.Status.Conditions[0].Reason, corev1.PodReasonSchedulingGated},
		{"enableServiceLinks", *p.Spec.EnableServiceLinks, true},
		{"preemptionPolicy", *p.Spec.PreemptionPolicy, corev1.PreemptLowerPriority},
		{"request kept", c.Resources.Requests.Cpu().String(), "100m"},
		{"request from limit", c.Resources.Requests.Memory().String(), "128Mi"},
		{"host port from container port", c.Ports[0].HostPort, int32(80)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestPodQOS(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	container := func(req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	cases := []struct {
		name       string
		containers []corev1.Container
		want       corev1.PodQOSClass
	}{
		{"nothing", []corev1.Container{container(nil, nil)}, corev1.PodQOSBestEffort},
		{"limits only, both", []corev1.Container{container(nil, rl("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
		{"equal requests and limits", []corev1.Container{container(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSGuaranteed},
		{"limit on cpu only", []corev1.Container{container(nil, rl("cpu", "1"))}, corev1.PodQOSBurstable},
		{"request below limit", []corev1.Container{container(rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}, corev1.PodQOSBurstable},
		{"one guaranteed, one best effort", []corev1.Container{container(nil, rl("cpu", "1", "memory", "1Gi")), container(nil, nil)}, corev1.PodQOSBurstable},
		{"only extended resources", []corev1.Container{container(nil, rl("example.com/gpu", "1"))}, corev1.PodQOSBestEffort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := podQOS(&corev1.PodSpec{Containers: tc.containers}); got != tc.want {
				t.Errorf("podQOS = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodRow(t *testing.T) {
	running := func(ready bool, restarts int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", Ready: ready, RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	finished := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	cases := []struct {
		name                     string
		mutate                   func(*corev1.Pod)
		ready, status, restarts  string
		ip, node, nominated, rgs string
	}{
		{name: "pending", ready: "0/1", status: "Pending", restarts: "0", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "creating", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("ContainerCreating")}
		}, ready: "0/1", status: "ContainerCreating", restarts: "0", ip: "<none>", node: "n1", nominated: "<none>", rgs: "<none>"},
		{name: "running", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "10.0.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running(true, 0)}
		}, ready: "1/1", status: "Running", restarts: "0", ip: "10.0.0.5", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "crash loop", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			c := waiting("CrashLoopBackOff")
			c.RestartCount = 4
			c.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: finished}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{c}
		}, ready: "0/1", status: "CrashLoopBackOff", restarts: "4 (5m ago)", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "init", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{waiting("PodInitializing")}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("PodInitializing")}
		}, ready: "0/1", status: "Init:0/1", restarts: "0", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "init failed", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "i",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}, ready: "0/1", status: "Init:ExitCode:2", restarts: "0", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "completed", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, ready: "0/1", status: "Completed", restarts: "0", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
		{name: "terminating", mutate: func(p *corev1.Pod) {
			p.DeletionTimestamp = &finished
			p.Status.Phase = corev1.PodRunning
			p.Status.NominatedNodeName = "n2"
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running(true, 0)}
		}, ready: "1/1", status: "Terminating", restarts: "0", ip: "<none>", node: "<none>", nominated: "n2", rgs: "1/1"},
		{name: "sidecar counts", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)}}
			s := running(true, 0)
			s.Name, s.Started = "proxy", new(true)
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{s}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running(true, 0)}
		}, ready: "2/2", status: "Running", restarts: "0", ip: "<none>", node: "<none>", nominated: "<none>", rgs: "<none>"},
	}
	k := pods()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := corePod(tc.mutate)
			p.Status.Phase = corev1.PodPhase(firstNonEmpty(string(p.Status.Phase), string(corev1.PodPending)))
			row := k.Row(p)
			if len(row) != len(k.Columns) {
				t.Fatalf("row has %d cells for %d columns", len(row), len(k.Columns))
			}
			want := []any{"web", tc.ready, tc.status, tc.restarts, row[4], tc.ip, tc.node, tc.nominated, tc.rgs}
			for i := range want {
				if row[i] != want[i] {
					t.Errorf("%s = %v, want %v", k.Columns[i].Name, row[i], want[i])
				}
			}
		})
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestPodFields(t *testing.T) {
	p := corePod(func(p *corev1.Pod) {
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}}
	})
	pods().Defaults(p)
	f := pods().Fields(p)
	for k, want := range map[string]string{"spec.nodeName": "n1", "status.phase": "Running", "status.podIP": "10.0.0.5",
		"spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "", "status.nominatedNodeName": ""} {
		if got, ok := f[k]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
}
