package main

import (
	"testing"
	"time"
)

const wrkSample = `Running 10s test @ http://127.0.0.1:8080/hostname
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.02ms  30.51ms   88.12%
    Req/Sec    12.10k     1.01k   14.20k    70.00%
  Latency Distribution
     50%    1.95ms
     75%    2.40ms
     90%    3.01ms
     99%  812.00us
  240811 requests in 10.00s, 35.37MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:  24079.55
Transfer/sec:      3.54MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{rps: 24079.55, p50: 1950 * time.Microsecond, p99: 812 * time.Microsecond,
		errors: "Socket errors: connect 0, read 3, write 0, timeout 0", non2xx: 7, requests: 240811, durationLabel: "10.00s"}
	if r != want {
		t.Errorf("parseWrk:\n got %+v\nwant %+v", r, want)
	}
	if _, err := parseWrk("Running 10s test\n"); err == nil {
		t.Error("parseWrk accepted output without figures")
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add("Requests/sec: 1\n     99% 1s\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err == nil && (r.p99 == 0 || r.rps < 0) {
			t.Errorf("accepted %q as %+v", out, r)
		}
	})
}
