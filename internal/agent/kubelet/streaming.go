package kubelet

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	agentserver "github.com/bosun-sh/bosun/internal/agent/server"
)

var podsResource = corev1.Resource("pods")

// Container finds a container instance of a pod on this node for logs and
// streaming: the current one, or with previous the one before it.
func (k *Kubelet) Container(ctx context.Context, ns, name, container string, previous bool) (agentserver.ContainerRef, error) {
	pod, err := k.pods.Pods(ns).Get(name)
	if err != nil {
		return agentserver.ContainerRef{}, apierrors.NewNotFound(podsResource, name)
	}
	rp, err := k.runtimeState(ctx, pod.UID)
	if err != nil {
		return agentserver.ContainerRef{}, apierrors.NewInternalError(err)
	}
	list := rp.containers[container]
	if previous {
		// The instance before the current one, as its restart count says.
		if len(list) > 1 && list[1].State == runtimeapi.ContainerState_CONTAINER_EXITED {
			if st := rp.status[list[1].Id]; st != nil {
				return agentserver.ContainerRef{ID: st.Id, LogPath: st.LogPath}, nil
			}
		}
		return agentserver.ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, name))
	}
	if len(list) == 0 || rp.status[list[0].Id] == nil {
		reason := "ContainerCreating"
		for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			if cs.Name == container && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				reason = cs.State.Waiting.Reason
			}
		}
		return agentserver.ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, name, reason))
	}
	st := rp.status[list[0].Id]
	return agentserver.ContainerRef{ID: st.Id, LogPath: st.LogPath, Running: st.State == runtimeapi.ContainerState_CONTAINER_RUNNING}, nil
}

// Sandbox returns the ready sandbox of a pod on this node.
func (k *Kubelet) Sandbox(ctx context.Context, ns, name string) (string, error) {
	pod, err := k.pods.Pods(ns).Get(name)
	if err != nil {
		return "", apierrors.NewNotFound(podsResource, name)
	}
	rp, err := k.runtimeState(ctx, pod.UID)
	if err != nil {
		return "", apierrors.NewInternalError(err)
	}
	sb := rp.readySandbox()
	if sb == nil {
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %q is not running", name))
	}
	return sb.Id, nil
}
