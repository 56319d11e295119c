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
	// childCPU is cutime + cstime: the children it has waited for, such
	// as containerd's CNI plugins (with their iptables) or a shim's runc.
	childCPU time.Duration
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
	// f[0] is the state (field 3); ppid is field 4, utime 14, stime 15,
	// cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, errors.New("stat: short line")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid %q: %w", f[1], err)
	}
	own, err := sumTicks(f[11], f[12])
	if err != nil {
		return procStat{}, err
	}
	children, err := sumTicks(f[13], f[14])
	if err != nil {
		return procStat{}, err
	}
	return procStat{comm: string(b[open+1 : end]), ppid: ppid, cpu: own, childCPU: children}, nil
}

// sumTicks adds two clock-tick counts from /proc.
func sumTicks(a, b string) (time.Duration, error) {
	x, err := strconv.ParseUint(a, 10, 62)
	if err != nil {
		return 0, fmt.Errorf("stat: cpu time %q: %w", a, err)
	}
	y, err := strconv.ParseUint(b, 10, 62)
	if err != nil {
		return 0, fmt.Errorf("stat: cpu time %q: %w", b, err)
	}
	if x+y > uint64(1<<63-1)/uint64(clockTick) {
		return 0, errors.New("stat: cpu time out of range")
	}
	return time.Duration(x+y) * clockTick, nil
}

// machineCPU is the machine's busy and total CPU time over all cores
// since boot, from the first line of /proc/stat.
type machineCPU struct{ busy, total time.Duration }

// parseMachineStat reads the "cpu" line of /proc/stat: user, nice,
// system, idle, iowait, irq, softirq, steal (guest time is already in
// user). Idle and iowait are not busy.
func parseMachineStat(b []byte) (machineCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, errors.New("/proc/stat: no cpu line")
	}
	var m machineCPU
	for i, v := range f[1:9] {
		t, err := sumTicks(v, "0")
		if err != nil {
			return machineCPU{}, err
		}
		if m.total > 1<<62-t {
			return machineCPU{}, errors.New("/proc/stat: cpu time out of range")
		}
		m.total += t
		if i != 3 && i != 4 {
			m.busy += t
		}
	}
	return m, nil
}

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineStat(b)
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
