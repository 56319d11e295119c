package kubelet

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// masterNamespace holds the `kubernetes` Service every pod is told about.
const masterNamespace = "default"

// serviceEnv is what the kubelet tells a container about Services: for
// each Service with a cluster IP in the pod's namespace (unless the pod
// turns service links off) and for `kubernetes` in default, NAME_SERVICE_HOST,
// NAME_SERVICE_PORT(_PORTNAME) and the Docker-link style NAME_PORT… set.
func (k *Kubelet) serviceEnv(pod *corev1.Pod) map[string]string {
	if k.services == nil {
		return nil
	}
	env := map[string]string{}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svcs, err := k.services.Services(pod.Namespace).List(labels.Everything())
		if err == nil {
			for _, svc := range svcs {
				if pod.Namespace == masterNamespace && svc.Name == "kubernetes" {
					continue
				}
				addServiceEnv(env, svc)
			}
		}
	}
	if svc, err := k.services.Services(masterNamespace).Get("kubernetes"); err == nil {
		addServiceEnv(env, svc)
	}
	return env
}

func addServiceEnv(env map[string]string, svc *corev1.Service) {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return
	}
	name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
	first := svc.Spec.Ports[0]
	env[name+"_SERVICE_HOST"] = ip
	env[name+"_SERVICE_PORT"] = strconv.Itoa(int(first.Port))
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			env[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
		}
	}
	proto := strings.ToLower(string(first.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	env[name+"_PORT"] = proto + "://" + hostPort(ip, first.Port)
	for _, p := range svc.Spec.Ports {
		pr := p.Protocol
		if pr == "" {
			pr = corev1.ProtocolTCP
		}
		prefix := name + "_PORT_" + strconv.Itoa(int(p.Port)) + "_" + strings.ToUpper(string(pr))
		env[prefix] = strings.ToLower(string(pr)) + "://" + hostPort(ip, p.Port)
		env[prefix+"_PROTO"] = strings.ToLower(string(pr))
		env[prefix+"_PORT"] = strconv.Itoa(int(p.Port))
		env[prefix+"_ADDR"] = ip
	}
}

func hostPort(ip string, port int32) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(int(port))
	}
	return ip + ":" + strconv.Itoa(int(port))
}
