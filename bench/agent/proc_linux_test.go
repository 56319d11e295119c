package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "plain",
			line: "1234 (containerd) S 1200 1234 1200 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 300 1000 200",
			want: procStat{comm: "containerd", ppid: 1200, cpu: 3 * time.Second},
		},
		{
			name: "reaped children",
			line: "1234 (containerd) S 1200 1234 1200 0 -1 4194560 100 0 0 0 250 50 70 30 20 0 12 0 300 1000 200",
			want: procStat{comm: "containerd", ppid: 1200, cpu: 3 * time.Second, childCPU: time.Second},
		},
		{
			name: "name with spaces and parentheses",
			line: "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 0 0 0",
			want: procStat{comm: "a) b (c", ppid: 1, cpu: 30 * time.Millisecond},
		},
		{name: "short", line: "7 (x) R 1 7 7", wantErr: true},
		{name: "no child times", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2", wantErr: true},
		{name: "no name", line: "7 x R 1 7 7 0 -1 0 0 0 0 0 1 2 0", wantErr: true},
		{name: "bad utime", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 z 2 0", wantErr: true},
		{name: "overflow", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 9223372036854775807 2 0", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		want    memory
		wantErr bool
	}{
		{
			name: "process",
			text: "Name:\tbosun\nVmPeak:\t 9000 kB\nVmRSS:\t    2048 kB\nRssAnon:\t    1024 kB\nRssFile:\t 1024 kB\n",
			want: memory{rss: 2 << 20, anon: 1 << 20},
		},
		{name: "kernel thread", text: "Name:\tkthreadd\nState:\tS (sleeping)\n", wantErr: true},
		{name: "bad number", text: "VmRSS:\t x kB\nRssAnon:\t 1 kB\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.text))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestReadSelf reads this test process, which must have some CPU time,
// a resident set and a parent.
func TestParseMachineStat(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		want    machineCPU
		wantErr bool
	}{
		{
			// user nice system idle iowait irq softirq steal guest guest_nice
			name: "kernel 5",
			text: "cpu  100 10 50 800 20 5 5 10 0 0\ncpu0 50 5 25 400 10 2 3 5 0 0\n",
			want: machineCPU{busy: 1800 * time.Millisecond, total: 10 * time.Second},
		},
		{name: "not cpu", text: "intr 1 2 3 4 5 6 7 8 9\n", wantErr: true},
		{name: "short", text: "cpu 1 2 3\n", wantErr: true},
		{name: "bad number", text: "cpu 1 2 3 x 5 6 7 8\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMachineStat([]byte(tc.text))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.rss == 0 || m.anon > m.rss {
		t.Errorf("memory %+v", m)
	}
}

func TestHasArg(t *testing.T) {
	cmdline := []byte("containerd-shim-runc-v2\x00-namespace\x00k8s.io\x00-address\x00/d/containerd.sock\x00")
	if !hasArg(cmdline, "/d/containerd.sock") {
		t.Error("socket not found")
	}
	if hasArg(cmdline, "/d/containerd") {
		t.Error("a prefix of an argument matched")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (containerd) S 1200 1234 1200 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 300 1000 200"))
	f.Add([]byte("7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 3 4 0"))
	f.Add([]byte(") ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && (st.cpu < 0 || st.childCPU < 0) {
			t.Errorf("negative cpu %v from %q", st.cpu, b)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmRSS:\t    2048 kB\nRssAnon:\t    1024 kB\n"))
	f.Add([]byte("VmRSS: 1\nVmRSS: 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStatus(b)
	})
}

func FuzzParseMachineStat(f *testing.F) {
	f.Add([]byte("cpu  100 10 50 800 20 5 5 10 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMachineStat(b)
		if err == nil && (m.busy < 0 || m.busy > m.total) {
			t.Errorf("busy %v of %v from %q", m.busy, m.total, b)
		}
	})
}
