package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux build that matters here.
const clockTick = 10 * time.Millisecond

// procStat is what the benchmark needs from /proc/PID/stat.
type procStat struct {
	comm string
	ppid int
	// cpu is utime + stime: this process's own threads, not its children.
	cpu time.Duration
}

// parseStat parses a /proc/PID/stat line. The command name sits in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ") ".
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndex(b, []byte(") "))
	if open < 0 || end < open {
		return procStat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(string(b[end+2:]))
	// f[0] is the state (field 3); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, errors.New("stat: short line")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid %q: %w", f[1], err)
	}
	utime, err := strconv.ParseUint(f[11], 10, 63)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: utime %q: %w", f[11], err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 63)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: stime %q: %w", f[12], err)
	}
	ticks := utime + stime
	if ticks > uint64(1<<63-1)/uint64(clockTick) {
		return procStat{}, errors.New("stat: cpu time out of range")
	}
	return procStat{comm: string(b[open+1 : end]), ppid: ppid, cpu: time.Duration(ticks) * clockTick}, nil
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return st, nil
}

// memory is a process's resident set, in bytes.
type memory struct {
	rss  uint64 // VmRSS
	anon uint64 // RssAnon: heap and stacks, without the mapped binary
}

// parseStatus reads VmRSS and RssAnon from /proc/PID/status.
func parseStatus(b []byte) (memory, error) {
	var m memory
	var seen int
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil || kb > 1<<53 {
			return memory{}, fmt.Errorf("status: %s %q: bad size", name, v)
		}
		if name == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.anon = kb << 10
		}
		seen++
	}
	if seen < 2 {
		// Kernel threads and zombies have no memory lines.
		return memory{}, errors.New("status: no VmRSS or RssAnon")
	}
	return m, nil
}

func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	m, err := parseStatus(b)
	if err != nil {
		return memory{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return m, nil
}

// runtimeProcesses are the node's containerd (a child of the agent) and
// its shims (which re-parent themselves away from containerd, so they are
// found by the containerd socket on their command line). Containers'
// own processes are not included.
func runtimeProcesses(agentPID int, socket string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if st.ppid == agentPID && st.comm == "containerd" {
			pids = append(pids, pid)
			continue
		}
		if !strings.HasPrefix(st.comm, "containerd-shim") {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if hasArg(cmdline, socket) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// hasArg reports whether a NUL-separated command line holds arg.
func hasArg(cmdline []byte, arg string) bool {
	for a := range bytes.SplitSeq(cmdline, []byte{0}) {
		if string(a) == arg {
			return true
		}
	}
	return false
}

// sysProcAttr kills a started process if the benchmark dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
