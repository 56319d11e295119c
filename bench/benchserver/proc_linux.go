package benchserver

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysProcAttr kills the server if the bench dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// readRSS reads VmRSS from /proc/PID/status, in bytes.
func readRSS(pid int) (uint64, error) {
	m, err := procStatus(pid, "VmRSS")
	return m["VmRSS"], err
}

// rssParts is the anonymous (heap, stacks) and file-backed (the mapped
// binary) parts of a process's RSS.
func rssParts(pid int) (anon, file uint64, err error) {
	m, err := procStatus(pid, "RssAnon", "RssFile")
	return m["RssAnon"], m["RssFile"], err
}

// procStatus reads the named kB fields of /proc/PID/status, in bytes.
func procStatus(pid int, names ...string) (map[string]uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("status of %d: %w", pid, err)
	}
	defer f.Close()
	m := make(map[string]uint64, len(names))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("status of %d: %s %q: %w", pid, name, v, err)
		}
		m[name] = kb << 10
	}
	if len(m) < len(names) {
		return nil, fmt.Errorf("status of %d: missing some of %v", pid, names)
	}
	return m, sc.Err()
}

// LoadAverage is the one-minute load average, or -1 if unknown.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return l
}

// processCPU is the user plus system CPU time pid has used, from
// /proc/PID/stat (in clock ticks of 10 ms, the Linux default).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name may hold spaces; fields count from after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("cpu of %d: short stat line", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu of %d: bad stat line", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// SelfCPU is the CPU time this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
