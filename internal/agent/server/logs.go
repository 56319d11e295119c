package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bosun-sh/bosun/internal/agent/logs"
)

var schemaNodes = schema.GroupResource{Resource: "nodes"}

// serveLogs serves GET /containerLogs/{ns}/{pod}/{container}.
func (h *handler) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := logOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, err)
		return
	}
	ctx := r.Context()
	ref, err := h.pods.Container(ctx, ns, pod, container, opts.Previous)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if ref.LogPath == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log file", container, pod)))
		return
	}
	running := func() bool {
		if opts.Previous || !ref.Running {
			return false
		}
		st, err := h.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ref.ID})
		if err != nil {
			// A runtime that cannot say is not worth following forever;
			// the client can ask again.
			return false
		}
		return st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	out := &logWriter{w: w}
	err = logs.Read(ctx, ref.LogPath, opts, running, out, out)
	switch {
	case err == nil || errors.Is(err, context.Canceled):
	case !out.started && errors.Is(err, os.ErrNotExist):
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods/log"}, pod))
		return
	case !out.started:
		writeStatus(w, err)
		return
	default:
		// Bytes are out; all that is left is to end the stream.
		h.log.Warn("reading container log", "pod", ns+"/"+pod, "container", container, "err", err)
	}
	out.start()
}

// logWriter sends the response headers with the first byte or flush, so an
// error found before anything was read can still be a Status.
type logWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *logWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/plain")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *logWriter) Write(b []byte) (int, error) {
	l.start()
	return l.w.Write(b)
}

func (l *logWriter) Flush() {
	l.start()
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
}

// logOptions parses the kubelet's containerLogs query, with the API's
// validation of PodLogOptions.
func logOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{
		Follow:     queryBool(q, "follow"),
		Previous:   queryBool(q, "previous"),
		Timestamps: queryBool(q, "timestamps"),
	}
	var err error
	if opts.TailLines, err = queryInt(q, "tailLines"); err != nil {
		return nil, err
	}
	if opts.LimitBytes, err = queryInt(q, "limitBytes"); err != nil {
		return nil, err
	}
	if opts.SinceSeconds, err = queryInt(q, "sinceSeconds"); err != nil {
		return nil, err
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime %q: not an RFC 3339 time: %v", v, err))
		}
		opts.SinceTime = &metav1.Time{Time: t}
	}
	switch {
	case opts.TailLines != nil && *opts.TailLines < 0:
		return nil, apierrors.NewBadRequest("tailLines: must be greater than or equal to 0")
	case opts.LimitBytes != nil && *opts.LimitBytes < 1:
		return nil, apierrors.NewBadRequest("limitBytes: must be greater than 0")
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		return nil, apierrors.NewBadRequest("sinceSeconds: must be greater than 0")
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		return nil, apierrors.NewBadRequest("at most one of sinceTime or sinceSeconds may be specified")
	}
	return opts, nil
}

// queryBool reads a boolean parameter as the API's query conversion does:
// absent, "0" and "false" are false, anything else (even empty) is true.
func queryBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

func queryInt(q url.Values, name string) (*int64, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s %q: not an integer", name, v))
	}
	return &n, nil
}
