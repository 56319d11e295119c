package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

// printSummary prints the table of both modes and both clients, then what
// authorization adds: the ServiceAccount's figures under Node,RBAC minus
// those under AlwaysAllow.
func printSummary(out io.Writer, o options, roundLoads []float64, rbac, allow *modeResult) {
	size := 0
	if b, err := json.Marshal(pod("seq-token", 0)); err == nil {
		size = len(b)
	}
	fmt.Fprintf(out, "pod creates (%d B of JSON as sent): %d sequential (latency) and %d from %d writers (throughput) per client, mode and round, in %d batches each mode takes in turn; %d round(s), load %s at their start\n",
		size, o.creates, o.creates, o.writers, batches, o.rounds, loads(roundLoads))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "mode\tclient\tp50 sequential\tp99 sequential\tcreates/s, %d writers\tserver CPU per sequential create\n", o.writers)
	line := func(mode, client string, m measured) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", mode, client,
			us(benchserver.Percentile(m.seq, 0.5)), us(benchserver.Percentile(m.seq, 0.99)), fmt.Sprintf("%.0f /s", rate(m)), us(cpuPerCreate(m)))
	}
	line(modeRBAC, "ServiceAccount token", rbac.token)
	line(modeAllow, "ServiceAccount token", allow.token)
	line(modeRBAC, "admin certificate (system:masters)", rbac.admin)
	line(modeAllow, "admin certificate (system:masters)", allow.admin)
	tw.Flush()

	r, a := rbac.token, allow.token
	rr, ar := rate(r), rate(a)
	fmt.Fprintf(out, "authorization overhead (Node,RBAC minus AlwaysAllow, ServiceAccount token): p50 %s, p99 %s, throughput %+.1f %%, server CPU %s per create\n",
		signedUS(benchserver.Percentile(r.seq, 0.5)-benchserver.Percentile(a.seq, 0.5)),
		signedUS(benchserver.Percentile(r.seq, 0.99)-benchserver.Percentile(a.seq, 0.99)),
		100*(rr-ar)/ar,
		signedUS(cpuPerCreate(r)-cpuPerCreate(a)))
}

func cpuPerCreate(m measured) time.Duration {
	if len(m.seq) == 0 {
		return 0
	}
	return m.seqCPU / time.Duration(len(m.seq))
}

// rate is the creates per second of the throughput phases.
func rate(m measured) float64 {
	if m.parTime <= 0 {
		return 0
	}
	return float64(m.par) / m.parTime.Seconds()
}

func loads(v []float64) string {
	s := make([]string, len(v))
	for i, l := range v {
		s[i] = fmt.Sprintf("%.2f", l)
	}
	return strings.Join(s, ", ")
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func signedUS(d time.Duration) string {
	return fmt.Sprintf("%+.0f µs", float64(d)/float64(time.Microsecond))
}
