package main

import (
	"testing"
	"time"
)

func TestSpreadOf(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	cases := []struct {
		name string
		in   []time.Duration
		want spread
	}{
		{name: "empty", want: spread{}},
		{name: "one", in: ms(5), want: spread{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}},
		{
			// Nearest rank over 10: p50 is the 5th, p90 the 9th, p99 the 10th.
			name: "ten, unsorted",
			in:   ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5),
			want: spread{5 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := spreadOf(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBenchPodProbes(t *testing.T) {
	cases := []struct {
		name                string
		p                   probes
		liveness, readiness bool
		period              int32
	}{
		{name: "none", p: noProbes},
		{name: "readiness every second", p: readiness1s, readiness: true, period: 1},
		{name: "both at the default period", p: bothProbes, liveness: true, readiness: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := benchPod("p", "r", tc.p).Spec.Containers[0]
			if (c.LivenessProbe != nil) != tc.liveness || (c.ReadinessProbe != nil) != tc.readiness {
				t.Fatalf("liveness %v, readiness %v", c.LivenessProbe, c.ReadinessProbe)
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.PeriodSeconds != tc.period {
				t.Errorf("readiness period %d, want %d", c.ReadinessProbe.PeriodSeconds, tc.period)
			}
		})
	}
}
