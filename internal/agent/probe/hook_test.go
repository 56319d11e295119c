package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestRunHook(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Scheme+r.URL.Path+" "+r.UserAgent())
		mu.Unlock()
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	host, port := splitHostPort(t, srv.URL)
	closed := closedPort(t)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	container := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	target := Target{Pod: pod, Container: container, ContainerID: "c1", PodIP: host}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name    string
		hook    *corev1.LifecycleHandler
		ctx     context.Context
		target  *Target
		wantErr string
		wantReq string
	}{
		{name: "nil", hook: nil},
		{name: "exec", hook: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
		{name: "exec fails", hook: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo out; echo bad >&2; exit 2"}}},
			wantErr: `Exec lifecycle hook ([sh -c echo out; echo bad >&2; exit 2]) for Container "app" in Pod "web_default(u1)" failed - error: command 'sh -c echo out; echo bad >&2; exit 2' exited with 2: bad
, message: "out\nbad\n"`},
		{name: "http", hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromString("http")}},
			wantReq: "/stop kube-lifecycle/1.37"},
		{name: "http status is not checked", hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/broken", Port: intstr.FromInt32(int32(port))}},
			wantReq: "/broken kube-lifecycle/1.37"},
		{name: "https to a plain server falls back to http", hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/tls", Port: intstr.FromInt32(int32(port)), Scheme: corev1.URISchemeHTTPS}},
			wantReq: "/tls kube-lifecycle/1.37"},
		{name: "http refused", hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt32(int32(closed))}},
			wantErr: `HTTP lifecycle hook (/x) for Container "app" in Pod "web_default(u1)" failed - error: Get "http://127.0.0.1:` + strconv.Itoa(closed) + `/x": dial tcp 127.0.0.1:` + strconv.Itoa(closed) + `: connect: connection refused`},
		{name: "http without pod IP", hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt32(80)}},
			target:  &Target{Pod: pod, Container: container},
			wantErr: `HTTP lifecycle hook (/x) for Container "app" in Pod "web_default(u1)" failed - error: failed to find networking container: the pod has no IP`},
		{name: "sleep 0", hook: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}}},
		{name: "sleep cut short", hook: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}, ctx: canceled,
			wantErr: `Sleep lifecycle hook (30) for Container "app" in Pod "web_default(u1)" failed - error: container terminated before sleep hook finished`},
		{name: "tcpSocket is not a hook", hook: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}},
			wantErr: "Cannot run handler: invalid handler: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			tg := target
			if tc.target != nil {
				tg = *tc.target
			}
			err := RunHook(ctx, tc.hook, tg, hostExecer{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tc.wantErr)
			case tc.name == "tcpSocket is not a hook":
				if got := err.Error(); len(got) < len(tc.wantErr) || got[:len(tc.wantErr)] != tc.wantErr {
					t.Fatalf("error %q, want prefix %q", got, tc.wantErr)
				}
			case tc.wantErr != "" && err.Error() != tc.wantErr:
				t.Fatalf("error\n%q\nwant\n%q", err.Error(), tc.wantErr)
			}
			if err != nil && errors.Unwrap(err) == nil {
				t.Fatalf("error %v has no cause", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.wantReq != "" && (len(seen) != 1 || seen[0] != tc.wantReq) {
				t.Fatalf("server saw %q, want one %q", seen, tc.wantReq)
			}
		})
	}
}
