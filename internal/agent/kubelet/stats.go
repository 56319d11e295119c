package kubelet

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	agentserver "github.com/bosun-sh/bosun/internal/agent/server"
)

// Summary reports the node's and its pods' cpu and memory use, in the
// shape of the kubelet's /stats/summary.
func (k *Kubelet) Summary(ctx context.Context) (*agentserver.Summary, error) {
	now := metav1.NewTime(k.clock.Now())
	s := &agentserver.Summary{Node: agentserver.NodeStats{NodeName: k.cfg.NodeName, StartTime: bootTime()}}
	s.Node.CPU = k.nodeCPU(now)
	if total, err := memTotal(); err == nil {
		if avail, err := memAvailable(); err == nil {
			used := uint64(total - avail)
			a := uint64(avail)
			s.Node.Memory = &agentserver.MemoryStats{Time: now, AvailableBytes: &a, UsageBytes: &used, WorkingSetBytes: &used}
		}
	}
	var fs unix.Statfs_t
	if unix.Statfs(k.cfg.RootDir, &fs) == nil {
		capacity, avail := fs.Blocks*uint64(fs.Bsize), fs.Bavail*uint64(fs.Bsize)
		used := capacity - fs.Bfree*uint64(fs.Bsize)
		s.Node.Fs = &agentserver.FsStats{Time: now, CapacityBytes: &capacity, AvailableBytes: &avail, UsedBytes: &used}
	}

	resp, err := k.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		return nil, err
	}
	byPod := map[string][]*runtimeapi.ContainerStats{}
	for _, c := range resp.Stats {
		uid := c.GetAttributes().GetLabels()[labelPodUID]
		byPod[uid] = append(byPod[uid], c)
	}
	pods, err := k.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, pod := range pods {
		cs, ok := byPod[string(pod.UID)]
		if !ok {
			continue
		}
		ps := agentserver.PodStats{PodRef: agentserver.PodReference{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)}}
		if pod.Status.StartTime != nil {
			ps.StartTime = *pod.Status.StartTime
		}
		var cpuRate, cpuTotal, ws, usage, rss uint64
		for _, c := range cs {
			cst := agentserver.ContainerStats{Name: c.GetAttributes().GetMetadata().GetName(), StartTime: ps.StartTime}
			if cpu := c.GetCpu(); cpu != nil {
				t := metav1.NewTime(time.Unix(0, cpu.Timestamp))
				cst.CPU = &agentserver.CPUStats{Time: t}
				if v := cpu.UsageNanoCores; v != nil {
					cst.CPU.UsageNanoCores = &v.Value
					cpuRate += v.Value
				}
				if v := cpu.UsageCoreNanoSeconds; v != nil {
					cst.CPU.UsageCoreNanoSeconds = &v.Value
					cpuTotal += v.Value
				}
			}
			if mem := c.GetMemory(); mem != nil {
				cst.Memory = &agentserver.MemoryStats{Time: metav1.NewTime(time.Unix(0, mem.Timestamp))}
				if v := mem.WorkingSetBytes; v != nil {
					cst.Memory.WorkingSetBytes = &v.Value
					ws += v.Value
				}
				if v := mem.UsageBytes; v != nil {
					cst.Memory.UsageBytes = &v.Value
					usage += v.Value
				}
				if v := mem.RssBytes; v != nil {
					cst.Memory.RSSBytes = &v.Value
					rss += v.Value
				}
			}
			ps.Containers = append(ps.Containers, cst)
		}
		ps.CPU = &agentserver.CPUStats{Time: now, UsageNanoCores: &cpuRate, UsageCoreNanoSeconds: &cpuTotal}
		ps.Memory = &agentserver.MemoryStats{Time: now, WorkingSetBytes: &ws, UsageBytes: &usage, RSSBytes: &rss}
		s.Pods = append(s.Pods, ps)
	}
	return s, nil
}

// nodeCPU reads the machine's cumulative busy time and its rate since the
// previous call.
func (k *Kubelet) nodeCPU(now metav1.Time) *agentserver.CPUStats {
	busy, ok := busyNanoseconds()
	if !ok {
		return nil
	}
	k.mu.Lock()
	prevBusy, prevAt := k.cpuSample.busy, k.cpuSample.at
	k.cpuSample.busy, k.cpuSample.at = busy, now.Time
	k.mu.Unlock()
	st := &agentserver.CPUStats{Time: now, UsageCoreNanoSeconds: &busy}
	if !prevAt.IsZero() && now.Time.After(prevAt) && busy >= prevBusy {
		rate := uint64(float64(busy-prevBusy) / now.Time.Sub(prevAt).Seconds())
		st.UsageNanoCores = &rate
	}
	return st
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// busyNanoseconds sums the non-idle CPU time of the machine from /proc/stat.
func busyNanoseconds() (uint64, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return busy * (1e9 / clockTicks), true
}

func bootTime() metav1.Time {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Now().Add(-time.Duration(si.Uptime) * time.Second).Truncate(time.Second))
}
