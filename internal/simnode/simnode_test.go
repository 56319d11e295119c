package simnode

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestAddresses(t *testing.T) {
	cases := []struct {
		i          int
		cidr, node string
	}{
		{0, "10.244.0.0/24", "172.16.0.1"},
		{1, "10.244.1.0/24", "172.16.0.2"},
		{255, "10.244.255.0/24", "172.16.1.0"},
		{256, "10.245.0.0/24", "172.16.1.1"},
		{4999, "10.7.135.0/24", "172.16.19.136"},
	}
	for _, tc := range cases {
		if got := PodCIDR(tc.i).String(); got != tc.cidr {
			t.Errorf("PodCIDR(%d) = %s, want %s", tc.i, got, tc.cidr)
		}
		if got := NodeIP(tc.i).String(); got != tc.node {
			t.Errorf("NodeIP(%d) = %s, want %s", tc.i, got, tc.node)
		}
	}
}

func TestNodeObject(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := NodeObject(Defaults(), 7, now)
	if n.Name != "sim-7" || n.Labels[corev1.LabelHostname] != "sim-7" || n.Labels["type"] != "sim" || n.Labels[corev1.LabelOSStable] != "linux" || n.Labels[corev1.LabelArchStable] != "amd64" {
		t.Errorf("name/labels: %s %v", n.Name, n.Labels)
	}
	if n.Spec.PodCIDR != "10.244.7.0/24" {
		t.Errorf("podCIDR %s", n.Spec.PodCIDR)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if _, ok := n.Status.Allocatable[r]; !ok {
			t.Errorf("allocatable lacks %s", r)
		}
	}
	if got := n.Status.Capacity.Pods().Value(); got != 110 {
		t.Errorf("pods capacity %d", got)
	}
	if NeedsStatus(n, now, time.Minute) {
		t.Error("a fresh node needs no status")
	}
}

func TestConditionsAndNeedsStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	ready := func(s corev1.ConditionStatus, hb time.Time) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: s, LastHeartbeatTime: metav1.NewTime(hb), LastTransitionTime: metav1.NewTime(t0),
		}}}}
	}
	cases := []struct {
		name       string
		node       *corev1.Node
		now        time.Time
		want       bool
		transition time.Time
	}{
		{"fresh", ready(corev1.ConditionTrue, t0), t0.Add(30 * time.Second), false, t0},
		{"heartbeat due", ready(corev1.ConditionTrue, t0), t0.Add(time.Minute), true, t0},
		{"marked unknown", ready(corev1.ConditionUnknown, t0), t0.Add(time.Second), true, t0.Add(time.Second)},
		{"no conditions", &corev1.Node{}, t0, true, t0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsStatus(tc.node, tc.now, time.Minute); got != tc.want {
				t.Errorf("NeedsStatus = %v, want %v", got, tc.want)
			}
			var r *corev1.NodeCondition
			conds := Conditions(tc.node.Status.Conditions, tc.now)
			for i := range conds {
				if conds[i].Type == corev1.NodeReady {
					r = &conds[i]
				}
			}
			if r == nil || r.Status != corev1.ConditionTrue || !r.LastHeartbeatTime.Time.Equal(tc.now) || !r.LastTransitionTime.Time.Equal(tc.transition) {
				t.Errorf("Ready condition %+v, want True, heartbeat %s, transition %s", r, tc.now, tc.transition)
			}
		})
	}
}

func TestPodStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1"},
		Spec:       corev1.PodSpec{NodeName: "sim-0", Containers: []corev1.Container{{Name: "a", Image: "img"}, {Name: "b", Image: "img2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))},
		}},
	}
	if Running(pod) {
		t.Fatal("pending pod reported running")
	}
	st := PodStatus(pod, "172.16.0.1", "10.244.0.2", now)
	pod.Status = st
	if !Running(pod) {
		t.Fatalf("status %+v is not running", st)
	}
	if st.HostIP != "172.16.0.1" || st.PodIP != "10.244.0.2" || st.StartTime == nil {
		t.Errorf("ips/start: %+v", st)
	}
	want := map[corev1.PodConditionType]bool{corev1.PodScheduled: true, corev1.PodInitialized: true, corev1.ContainersReady: true, corev1.PodReady: true}
	for _, c := range st.Conditions {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("condition %s is %s", c.Type, c.Status)
		}
		if c.Type == corev1.PodScheduled && !c.LastTransitionTime.Time.Equal(now.Add(-time.Minute)) {
			t.Error("PodScheduled transition time changed")
		}
		delete(want, c.Type)
	}
	if len(want) > 0 {
		t.Errorf("missing conditions %v", want)
	}
	if len(st.ContainerStatuses) != 2 {
		t.Fatalf("container statuses %+v", st.ContainerStatuses)
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.ContainerID != "sim://u1/"+cs.Name {
			t.Errorf("container status %+v", cs)
		}
	}
}

func TestAllocate(t *testing.T) {
	s, err := New(nil, Config{Count: 1, NamePrefix: "sim-", Heartbeat: time.Second, Pods: 110})
	if err != nil {
		t.Fatal(err)
	}
	n := s.order[0]
	pod := func(uid, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u" + uid)}, Status: corev1.PodStatus{PodIP: ip}}
	}
	steps := []struct {
		pod  *corev1.Pod
		want string
	}{
		{pod("1", ""), "10.244.0.2"},
		{pod("2", ""), "10.244.0.3"},
		{pod("1", ""), "10.244.0.2"},           // same pod, same address
		{pod("3", "10.244.0.9"), "10.244.0.9"}, // kept across restarts
		{pod("4", "10.9.9.9"), "10.244.0.4"},   // outside the range: replaced
	}
	for i, st := range steps {
		got, err := n.allocate(st.pod)
		if err != nil || got != st.want {
			t.Errorf("step %d: got %s, %v; want %s", i, got, err, st.want)
		}
	}
	n.release("u1")
	if got, _ := n.allocate(pod("5", "")); got != "10.244.0.2" {
		t.Errorf("released address not reused: %s", got)
	}
}

func TestExit(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := func(policy corev1.RestartPolicy, ann map[string]string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1", Annotations: ann},
			Spec:       corev1.PodSpec{NodeName: "sim-0", RestartPolicy: policy, Containers: []corev1.Container{{Name: "a", Image: "img"}}},
		}
		p.Status = PodStatus(p, "172.16.0.1", "10.244.0.2", t0)
		return p
	}
	exit := func(after, code string) map[string]string {
		m := map[string]string{ExitAfterAnnotation: after}
		if code != "" {
			m[ExitCodeAnnotation] = code
		}
		return m
	}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		now      time.Time
		due      bool
		wait     time.Duration
		phase    corev1.PodPhase
		restarts int32
		code     int32
	}{
		{"no annotation runs forever", running(corev1.RestartPolicyNever, nil), t0.Add(time.Hour), false, 0, corev1.PodRunning, 0, 0},
		{"bad duration runs forever", running(corev1.RestartPolicyNever, exit("soon", "")), t0.Add(time.Hour), false, 0, corev1.PodRunning, 0, 0},
		{"not yet", running(corev1.RestartPolicyNever, exit("200ms", "")), t0.Add(150 * time.Millisecond), false, 50 * time.Millisecond, corev1.PodRunning, 0, 0},
		{"succeeds", running(corev1.RestartPolicyNever, exit("200ms", "")), t0.Add(200 * time.Millisecond), true, 0, corev1.PodSucceeded, 0, 0},
		{"fails with Never", running(corev1.RestartPolicyNever, exit("1s", "3")), t0.Add(time.Second), true, 0, corev1.PodFailed, 0, 3},
		{"succeeds with OnFailure", running(corev1.RestartPolicyOnFailure, exit("1s", "0")), t0.Add(time.Second), true, 0, corev1.PodSucceeded, 0, 0},
		{"restarts with OnFailure", running(corev1.RestartPolicyOnFailure, exit("1s", "1")), t0.Add(time.Second), true, 0, corev1.PodRunning, 1, 1},
		{"restarts with Always", running(corev1.RestartPolicyAlways, exit("1s", "0")), t0.Add(2 * time.Second), true, 0, corev1.PodRunning, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, wait, due := Exit(tc.pod, t0, tc.now)
			if due != tc.due || wait != tc.wait || st.Phase != tc.phase {
				t.Fatalf("Exit = phase %s wait %v due %v; want %s %v %v", st.Phase, wait, due, tc.phase, tc.wait, tc.due)
			}
			if !due {
				return
			}
			cs := st.ContainerStatuses[0]
			if cs.RestartCount != tc.restarts {
				t.Errorf("restartCount %d, want %d", cs.RestartCount, tc.restarts)
			}
			term := cs.State.Terminated
			if tc.phase == corev1.PodRunning {
				term = cs.LastTerminationState.Terminated
				if cs.State.Running == nil || !cs.State.Running.StartedAt.Time.Equal(tc.now.Truncate(time.Second)) {
					t.Errorf("restarted container state %+v", cs.State)
				}
			}
			if term == nil || term.ExitCode != tc.code {
				t.Fatalf("terminated state %+v, want exit code %d", term, tc.code)
			}
			if tc.phase != corev1.PodRunning {
				for _, c := range st.Conditions {
					if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
						t.Errorf("finished pod still Ready")
					}
				}
				if cs.Ready {
					t.Error("finished container still ready")
				}
			}
			if tc.pod.Status.Phase != corev1.PodRunning || tc.pod.Status.ContainerStatuses[0].State.Running == nil {
				t.Error("Exit changed its input")
			}
		})
	}
}
