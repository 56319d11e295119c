package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// hookError carries the kubelet's message for a failed hook (the text of
// the FailedPostStartHook / FailedPreStopHook event) and the cause.
type hookError struct {
	msg string
	err error
}

func (e *hookError) Error() string { return e.msg }
func (e *hookError) Unwrap() error { return e.err }

// RunHook runs a postStart or preStop handler to completion and returns nil
// or an error whose text is the kubelet's event message for the failure.
// The caller bounds it with ctx: the kubelet gives preStop the pod's grace
// period and postStart no limit. An exec hook fails on a non-zero exit; an
// httpGet hook fails only when no response arrives (the status code is not
// looked at, as in Kubernetes); sleep fails when ctx ends first. tcpSocket
// is accepted by old API versions but never ran as a hook: it is rejected.
func RunHook(ctx context.Context, h *corev1.LifecycleHandler, t Target, ex Execer) error {
	if h == nil {
		return nil
	}
	container := ""
	if t.Container != nil {
		container = t.Container.Name
	}
	switch {
	case h.Exec != nil:
		out, err := runExecHook(ctx, h.Exec.Command, t, ex)
		if err != nil {
			return &hookError{
				msg: fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, container, podString(t.Pod), err, out),
				err: err,
			}
		}
		return nil
	case h.HTTPGet != nil:
		if err := runHTTPHook(ctx, h.HTTPGet, t); err != nil {
			return &hookError{
				msg: fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, container, podString(t.Pod), err),
				err: err,
			}
		}
		return nil
	case h.Sleep != nil:
		if err := sleep(ctx, time.Duration(h.Sleep.Seconds)*time.Second); err != nil {
			return &hookError{
				msg: fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, container, podString(t.Pod), err),
				err: err,
			}
		}
		return nil
	}
	err := fmt.Errorf("invalid handler: %v", h)
	return &hookError{msg: fmt.Sprintf("Cannot run handler: %v", err), err: err}
}

// podString names a pod as the kubelet's messages do: name_namespace(uid).
func podString(p *corev1.Pod) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
}

func runExecHook(ctx context.Context, cmd []string, t Target, ex Execer) (string, error) {
	if ex == nil {
		return "", errors.New("no command runner for exec hooks")
	}
	stdout, stderr, code, err := ex.ExecSync(ctx, t.ContainerID, cmd, 0)
	out := string(truncate(append(stdout, stderr...)))
	if err != nil {
		return out, err
	}
	if code != 0 {
		return out, fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), code, truncate(stderr))
	}
	return out, nil
}

func runHTTPHook(ctx context.Context, a *corev1.HTTPGetAction, t Target) error {
	if a.Host == "" && t.PodIP == "" {
		return errors.New("failed to find networking container: the pod has no IP")
	}
	req, err := newHTTPRequest(ctx, a, t, "lifecycle")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: httpTransport, CheckRedirect: sameHostRedirects}
	resp, err := client.Do(req)
	drain(resp)
	if err != nil && gotHTTPOverHTTPS(err) {
		// Hooks once ignored the scheme and always spoke HTTP; pods written
		// against that still say HTTPS to plain servers, and Kubernetes keeps
		// them working by retrying in plain HTTP.
		retry := req.Clone(ctx)
		retry.URL.Scheme = "http"
		retry.Header.Del("Authorization")
		resp, herr := client.Do(retry)
		drain(resp)
		if herr == nil {
			err = nil
		}
	}
	return err
}

func gotHTTPOverHTTPS(err error) bool {
	var uerr *url.Error
	return errors.As(err, &uerr) && strings.Contains(uerr.Err.Error(), "server gave HTTP response to HTTPS client")
}

func drain(resp *http.Response) {
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxOutput))
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return errors.New("container terminated before sleep hook finished")
	case <-timer.C:
		return nil
	}
}
