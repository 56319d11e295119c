package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ingressHost is the host the benchmark's Ingress routes.
const ingressHost = "bench.example.com"

// ingressBackends is how many test-server pods stand behind the Ingress.
const ingressBackends = 2

// ingressThroughput puts the same pods behind the agent's Ingress
// controller and behind nginx configured as the same reverse proxy (an
// upstream of the pod IPs with keep-alive), and loads both with the same
// wrk command, alternating, so both see the same machine.
func ingressThroughput(ctx context.Context, n *node, o options, out io.Writer) ([]row, error) {
	for _, tool := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (apt-get install -y nginx-light wrk): %w", tool, err)
		}
	}
	if _, err := n.startPods(ctx, ingressBackends, "ingress", readiness1s, 2*time.Minute); err != nil {
		return nil, err
	}
	pods, err := n.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: runLabel + "=ingress"})
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, p := range pods.Items {
		ips = append(ips, p.Status.PodIP)
	}
	if err := n.exposeIngress(ctx); err != nil {
		return nil, err
	}
	bosunURL := fmt.Sprintf("http://127.0.0.1:%d/hostname", n.ingressPort)
	if err := waitHTTP(ctx, bosunURL, ingressHost); err != nil {
		return nil, fmt.Errorf("the Ingress never answered: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	stopNginx, nginxPID, err := startNginx(ctx, n.dir, ports[0], ips)
	if err != nil {
		return nil, err
	}
	defer stopNginx()
	nginxURL := fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0])
	if err := waitHTTP(ctx, nginxURL, ingressHost); err != nil {
		return nil, fmt.Errorf("nginx never answered: %w", err)
	}

	// Warm both up, then alternate; the better of each pair of runs is
	// kept, so one noisy moment does not decide the comparison.
	best := map[string]wrkResult{}
	for round := range o.ingressRounds + 1 {
		for _, target := range []struct {
			name, url string
			cpu       func() time.Duration
		}{
			{"nginx", nginxURL, func() time.Duration { return treeCPU(nginxPID) }},
			// The agent alone: its child is containerd, which the
			// requests do not pass through.
			{"bosun", bosunURL, func() time.Duration { st, _ := readStat(n.agent.pid()); return st.cpu }},
		} {
			d := o.ingressDuration
			if round == 0 {
				d = 3 * time.Second
			}
			before := target.cpu()
			r, err := runWrk(ctx, target.url, d, o.ingressConns)
			if err != nil {
				return nil, fmt.Errorf("wrk against %s: %w", target.name, err)
			}
			if r.requests > 0 {
				r.cpuPerRequest = (target.cpu() - before) / time.Duration(r.requests)
			}
			if round == 0 {
				continue
			}
			fmt.Fprintf(out, "   round %d %-5s %s\n", round, target.name, r)
			if b, ok := best[target.name]; !ok || r.rps > b.rps {
				best[target.name] = r
			}
		}
	}
	ng, bo := best["nginx"], best["bosun"]
	rpsRatio := bo.rps / ng.rps
	p99Ratio := float64(bo.p99) / float64(ng.p99)
	label := fmt.Sprintf("ingress, %d pods, wrk -c%d", ingressBackends, o.ingressConns)
	return []row{
		info(label+": nginx", ng.String()),
		info(label+": bosun", bo.String()),
		judged(label+": requests/s vs nginx", fmt.Sprintf("%.0f%%", 100*rpsRatio), "≥ 90%", rpsRatio >= 0.9),
		judged(label+": p99 latency vs nginx", fmt.Sprintf("%.2f×", p99Ratio), "≤ 1.2×", p99Ratio <= 1.2),
	}, nil
}

// exposeIngress creates the Service and the Ingress in front of the
// benchmark's ingress pods.
func (n *node) exposeIngress(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-bench", Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{runLabel: "ingress"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := n.client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-bench", Namespace: namespace},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: ingressHost,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc.Name, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
			}}}},
		}}},
	}
	if _, err := n.client.NetworkingV1().Ingresses(namespace).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	return nil
}

// startNginx runs nginx in the foreground as a reverse proxy on port to
// the backends, the way an ingress-nginx upstream is set up: keep-alive
// connections, HTTP/1.1 to the backends, forwarded headers, no access
// log (the agent's controller keeps none either). It returns a function
// that stops it.
func startNginx(ctx context.Context, dir string, port int, backends []string) (func(), int, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		return nil, 0, err
	}
	var upstream strings.Builder
	for _, ip := range backends {
		fmt.Fprintf(&upstream, "    server %s:8080;\n", ip)
	}
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  upstream backends {
%[2]s    keepalive 128;
  }
  server {
    listen 127.0.0.1:%[3]d;
    server_name %[4]s;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`, prefix, upstream.String(), port, ingressHost)
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, 0, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", prefix, "-c", path, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("nginx: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}, cmd.Process.Pid, nil
}

// treeCPU is the CPU time of a process and its direct children (nginx's
// workers), 0 when it cannot be read.
func treeCPU(pid int) time.Duration {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	total := st.cpu
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(child); err == nil && st.ppid == pid {
			total += st.cpu
		}
	}
	return total
}

// waitHTTP polls url with the Host header host until it answers 200.
func waitHTTP(ctx context.Context, url, host string) error {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Host = host
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps           float64
	p50, p99      time.Duration
	errors        string // wrk's error line, if any
	non2xx        int
	requests      int
	durationLabel string
	// cpuPerRequest is the proxy's own CPU time per request.
	cpuPerRequest time.Duration
}

func (r wrkResult) String() string {
	s := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s (%d requests in %s), proxy CPU %dµs/request", r.rps, ms(r.p50), ms(r.p99), r.requests, r.durationLabel, r.cpuPerRequest.Microseconds())
	if r.non2xx > 0 || r.errors != "" {
		s += fmt.Sprintf("; %d non-2xx %s", r.non2xx, r.errors)
	}
	return s
}

// runWrk loads url with wrk (one thread per core, conns connections) for d
// and parses its report.
func runWrk(ctx context.Context, url string, d time.Duration, conns int) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--latency", "-H", "Host: "+ingressHost, url)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%w\n%s", err, b)
	}
	return parseWrk(string(b))
}

var (
	wrkRPS     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPercent = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkTotal   = regexp.MustCompile(`(?m)^\s+(\d+) requests in ([0-9.]+\w+),`)
	wrkNon2xx  = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: (\d+)`)
	wrkErrors  = regexp.MustCompile(`(?m)^\s+Socket errors: .*$`)
)

// parseWrk reads requests/s, the 50th and 99th latency percentiles, the
// total and any errors from wrk --latency output.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range wrkPercent.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk output:\n%s", out)
	}
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
		r.durationLabel = m[2]
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	r.errors = strings.TrimSpace(wrkErrors.FindString(out))
	return r, nil
}
