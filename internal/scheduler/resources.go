package scheduler

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Resources a pod asks for or a node offers, in the units the scheduler
// compares (millicores and bytes).
type resources struct {
	milliCPU  int64
	memory    int64
	ephemeral int64
	pods      int64
	scalar    map[corev1.ResourceName]int64
}

// Requests of pods that state none, used only for scoring so that many
// request-less pods still spread (as Kubernetes does).
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 * 1024 * 1024
)

func (r *resources) addList(l corev1.ResourceList) {
	for name, q := range l {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeral += q.Value()
		case corev1.ResourcePods:
			r.pods += q.Value()
		default:
			if r.scalar == nil {
				r.scalar = map[corev1.ResourceName]int64{}
			}
			r.scalar[name] += q.Value()
		}
	}
}

func (r *resources) add(o resources) {
	r.milliCPU += o.milliCPU
	r.memory += o.memory
	r.ephemeral += o.ephemeral
	r.pods += o.pods
	for n, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[n] += v
	}
}

func (r *resources) sub(o resources) {
	r.milliCPU -= o.milliCPU
	r.memory -= o.memory
	r.ephemeral -= o.ephemeral
	r.pods -= o.pods
	for n, v := range o.scalar {
		r.scalar[n] -= v
	}
}

// max raises each field of r to at least o's.
func (r *resources) max(o resources) {
	r.milliCPU = max(r.milliCPU, o.milliCPU)
	r.memory = max(r.memory, o.memory)
	r.ephemeral = max(r.ephemeral, o.ephemeral)
	r.pods = max(r.pods, o.pods)
	for n, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[n] = max(r.scalar[n], v)
	}
}

func fromList(l corev1.ResourceList) resources {
	var r resources
	r.addList(l)
	return r
}

// podRequests is what a pod needs on a node: the larger of its regular
// containers (plus restartable init containers, "sidecars", which keep
// running) and any single init container (plus the sidecars started
// before it), plus the pod overhead.
func podRequests(spec *corev1.PodSpec) resources {
	var sum resources
	for i := range spec.Containers {
		sum.addList(spec.Containers[i].Resources.Requests)
	}
	var sidecars, initMax resources
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		req := fromList(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.add(req)
			initMax.max(sidecars)
			continue
		}
		req.add(sidecars)
		initMax.max(req)
	}
	sum.add(sidecars)
	sum.max(initMax)
	sum.addList(spec.Overhead)
	return sum
}

// hostPort is one port a pod binds on its node's addresses.
type hostPort struct {
	protocol corev1.Protocol
	ip       string // "0.0.0.0" for all addresses
	port     int32
}

func (p hostPort) String() string {
	return string(p.protocol) + "/" + net.JoinHostPort(p.ip, strconv.Itoa(int(p.port)))
}

func podHostPorts(spec *corev1.PodSpec) []hostPort {
	var out []hostPort
	add := func(cs []corev1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{protocol: p.Protocol, ip: p.HostIP, port: p.HostPort}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				if hp.ip == "" || hp.ip == "::" {
					hp.ip = "0.0.0.0"
				}
				out = append(out, hp)
			}
		}
	}
	add(spec.InitContainers)
	add(spec.Containers)
	return out
}

// conflicts reports whether two host ports cannot both be bound.
func (p hostPort) conflicts(o hostPort) bool {
	if p.port != o.port || p.protocol != o.protocol {
		return false
	}
	return p.ip == o.ip || p.ip == "0.0.0.0" || o.ip == "0.0.0.0"
}
