package integration

// The tests in this file drive the real kubectl binary against a real
// in-process server and assert on what kubectl prints. kubectl is the
// client that depends on the most API details at once (discovery, OpenAPI,
// server-side tables, the three patch types, dry-run, watch framing,
// status errors), so its output is the contract being tested here.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bosun-sh/bosun/internal/apiserver"
	"github.com/bosun-sh/bosun/internal/testserver"
)

const (
	kubectlBin     = "/usr/bin/kubectl"
	kubectlTimeout = 60 * time.Second
	manifestDir    = "../testdata/manifests"
)

// kubectl runs the kubectl binary against one test server, with its own
// discovery cache and temporary directory so that runs share no state
// and leave no files behind.
type kubectl struct {
	kubeconfig string
	cacheDir   string
	tmpDir     string
}

type kubectlResult struct {
	stdout, stderr string
	code           int
}

// startKubectl starts a server and returns a kubectl for it; it skips the
// test when the kubectl binary is missing.
func startKubectl(t *testing.T, o testserver.Options) (*testserver.Server, *kubectl) {
	t.Helper()
	if _, err := os.Stat(kubectlBin); err != nil {
		t.Skipf("kubectl not available: %v", err)
	}
	s := testserver.Start(t, o)
	return s, &kubectl{kubeconfig: s.Kubeconfig, cacheDir: t.TempDir(), tmpDir: t.TempDir()}
}

func (k *kubectl) command(ctx context.Context, args []string) *exec.Cmd {
	full := append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, kubectlBin, full...)
	cmd.Env = append(os.Environ(), "TMPDIR="+k.tmpDir)
	return cmd
}

// runWith runs kubectl to completion with stdin and extra environment.
// A run longer than kubectlTimeout fails the test.
func (k *kubectl) runWith(t testing.TB, stdin string, env []string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := k.command(ctx, args)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := kubectlResult{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("kubectl %s: no exit within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), kubectlTimeout, r.stdout, r.stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func (k *kubectl) run(t testing.TB, args ...string) kubectlResult {
	t.Helper()
	return k.runWith(t, "", nil, args...)
}

// ok runs kubectl, requires exit code 0 and returns stdout.
func (k *kubectl) ok(t testing.TB, args ...string) string {
	t.Helper()
	r := k.run(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// apply pipes manifest text into kubectl apply -f - and requires success.
func (k *kubectl) apply(t testing.TB, manifest string) string {
	t.Helper()
	r := k.runWith(t, manifest, nil, "apply", "-f", "-")
	if r.code != 0 {
		t.Fatalf("kubectl apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs kubectl with stdin, requires a non-zero exit and returns the
// result.
func (k *kubectl) fails(t testing.TB, stdin string, args ...string) kubectlResult {
	t.Helper()
	r := k.runWith(t, stdin, nil, args...)
	if r.code == 0 {
		t.Fatalf("kubectl %s: succeeded, want an error\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	}
	return r
}

// kubectlProcess is a kubectl process left running, such as a watch.
type kubectlProcess struct {
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// start runs kubectl in the background until stop, the test's end or
// kubectlTimeout, whichever comes first.
func (k *kubectl) start(t *testing.T, args ...string) *kubectlProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	cmd := k.command(ctx, args)
	b := &kubectlProcess{out: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { b.err = cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	return b
}

func (b *kubectlProcess) stop() {
	b.cancel()
	<-b.done
}

// exitCode waits for the process to end by itself and returns its exit
// code.
func (b *kubectlProcess) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(kubectlTimeout):
		t.Fatalf("kubectl still running after %v; output:\n%s", kubectlTimeout, b.out.String())
	}
	var exit *exec.ExitError
	if errors.As(b.err, &exit) {
		return exit.ExitCode()
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return 0
}

// waitFor waits until the output matches re.
func (b *kubectlProcess) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	pollUntil(t, 30*time.Second, "kubectl output matching "+re.String(), func() (bool, error) {
		if out := b.out.String(); !re.MatchString(out) {
			return false, fmt.Errorf("output so far:\n%s", out)
		}
		return true, nil
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// manifestObject is one document of the test manifests.
type manifestObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// ref is how kubectl names the object in its output: the lower-case kind,
// qualified by its API group, and the name ("deployment.apps/web").
func (o manifestObject) ref() string {
	return kindRef(o.APIVersion, o.Kind) + "/" + o.Metadata.Name
}

func kindRef(apiVersion, kind string) string {
	r := strings.ToLower(kind)
	if group, _, ok := strings.Cut(apiVersion, "/"); ok {
		r += "." + group
	}
	return r
}

// readManifests returns the objects of the manifest directory in the
// order kubectl visits them (file name, then document).
func readManifests(t *testing.T) []manifestObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	slices.Sort(files)
	var objs []manifestObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var o manifestObject
			if err := yaml.Unmarshal(doc, &o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind != "" {
				objs = append(objs, o)
			}
		}
	}
	return objs
}

// manifestIn returns a manifest file with its objects moved from the shop
// namespace to ns, so that a test can own its copy.
func manifestIn(t *testing.T, file, ns string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "namespace: shop", "namespace: "+ns)
}

// objectVersions lists the manifest objects as stored: resourceVersion and
// generation by ref.
func (k *kubectl) objectVersions(t *testing.T) map[string]string {
	t.Helper()
	out := k.ok(t, "get", "-f", manifestDir, "-o",
		`jsonpath={range .items[*]}{.apiVersion} {.kind} {.metadata.name} {.metadata.resourceVersion} {.metadata.generation}{"\n"}{end}`)
	got := map[string]string{}
	for _, line := range outputLines(out) {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("unexpected line %q in\n%s", line, out)
		}
		got[kindRef(f[0], f[1])+"/"+f[2]] = strings.Join(f[3:], " ")
	}
	return got
}

func outputLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

var columnGap = regexp.MustCompile(`\s{2,}`)

// tableHeader returns the column names of kubectl's table output: columns are
// separated by at least two spaces, while names like "NOMINATED NODE"
// contain one.
func tableHeader(out string) []string {
	ls := outputLines(out)
	if len(ls) == 0 {
		return nil
	}
	return columnGap.Split(strings.TrimSpace(ls[0]), -1)
}

// tableRow returns the table line whose leading cells are cells.
func tableRow(out string, cells ...string) (string, bool) {
	for _, l := range outputLines(out) {
		f := strings.Fields(l)
		if len(f) >= len(cells) && slices.Equal(f[:len(cells)], cells) {
			return l, true
		}
	}
	return "", false
}

func TestKubectlManifests(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	objs := readManifests(t)

	if !t.Run("apply", func(t *testing.T) {
		out := k.ok(t, "apply", "-f", manifestDir)
		var want []string
		for _, o := range objs {
			want = append(want, o.ref()+" created")
		}
		if got := outputLines(out); !slices.Equal(got, want) {
			t.Fatalf("apply printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}) {
		return
	}

	t.Run("reapply", func(t *testing.T) {
		// kubectl's client-side three-way merge always sends a patch for
		// these, whatever the server does: a Secret's stringData never
		// comes back, and lists without merge keys differ from the
		// last-applied configuration once the server has defaulted them.
		// The patch must still be a no-op in storage.
		alwaysConfigured := map[string]bool{
			"secret/web-secret":                         true,
			"networkpolicy.networking.k8s.io/web-allow": true,
			"poddisruptionbudget.policy/web":            true,
			"statefulset.apps/db":                       true,
		}
		before := k.objectVersions(t)
		if len(before) != len(objs) {
			t.Fatalf("get -f listed %d objects, want %d: %v", len(before), len(objs), before)
		}
		out := k.ok(t, "apply", "-f", manifestDir)
		got := outputLines(out)
		if len(got) != len(objs) {
			t.Fatalf("second apply printed %d lines, want %d:\n%s", len(got), len(objs), out)
		}
		for i, o := range objs {
			want := o.ref() + " unchanged"
			if alwaysConfigured[o.ref()] && got[i] == o.ref()+" configured" {
				continue
			}
			if got[i] != want {
				t.Errorf("second apply: got %q, want %q", got[i], want)
			}
		}
		after := k.objectVersions(t)
		for ref, v := range before {
			if after[ref] != v {
				t.Errorf("%s: resourceVersion and generation went from %q to %q on a no-op apply", ref, v, after[ref])
			}
		}
	})

	t.Run("diff", func(t *testing.T) {
		r := k.run(t, "diff", "-f", manifestDir)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("diff of applied manifests: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		// A change shows as a diff (exit 1) computed by a server-side dry
		// run, which must not store anything.
		rv := k.ok(t, "get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.metadata.resourceVersion}")
		changed := strings.Replace(manifestIn(t, "01-config.yaml", "shop"), "APP_MODE: production", "APP_MODE: debug", 1)
		r = k.runWith(t, changed, nil, "diff", "-f", "-")
		if r.code != 1 {
			t.Fatalf("diff of a changed ConfigMap: exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"-  APP_MODE: production", "+  APP_MODE: debug"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("diff output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "web-secret") || strings.Contains(r.stdout, "ServiceAccount") {
			t.Errorf("diff shows unchanged objects:\n%s", r.stdout)
		}
		got := k.ok(t, "get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.APP_MODE} {.metadata.resourceVersion}")
		if got != "production "+rv {
			t.Errorf("after diff the ConfigMap is %q, want %q (dry run stored the change)", got, "production "+rv)
		}
	})

	t.Run("get", func(t *testing.T) { testKubectlGet(t, k) })

	t.Run("describe", func(t *testing.T) {
		// One run describes them all; only on failure is each object
		// described alone, to say which one fails.
		r := k.run(t, "describe", "-f", manifestDir)
		missing := false
		for _, o := range objs {
			if !regexp.MustCompile(`(?m)^Name:\s+` + regexp.QuoteMeta(o.Metadata.Name) + `$`).MatchString(r.stdout) {
				missing = true
			}
		}
		if r.code == 0 && !missing {
			return
		}
		t.Errorf("describe -f: exit %d, stderr: %s", r.code, r.stderr)
		for _, o := range objs {
			args := []string{"describe", o.ref()}
			if o.Metadata.Namespace != "" {
				args = append(args, "-n", o.Metadata.Namespace)
			}
			r := k.run(t, args...)
			if r.code != 0 {
				t.Errorf("describe %s: exit %d: %s", o.ref(), r.code, r.stderr)
				continue
			}
			if !regexp.MustCompile(`(?m)^Name:\s+` + regexp.QuoteMeta(o.Metadata.Name) + `$`).MatchString(r.stdout) {
				t.Errorf("describe %s lacks its Name: line:\n%s", o.ref(), r.stdout)
			}
		}
	})
}

// testKubectlGet runs after the manifests are applied.
func testKubectlGet(t *testing.T, k *kubectl) {
	cols := func(s string) []string { return strings.Split(s, ",") }
	cases := []struct {
		resource string
		args     []string
		header   []string
		rows     [][]string // leading cells of rows that must be present
	}{
		{"pods", nil, cols("NAME,READY,STATUS,RESTARTS,AGE"), [][]string{{"solo", "0/1", "Pending", "0"}}},
		{"pods", []string{"-o", "wide"}, cols("NAME,READY,STATUS,RESTARTS,AGE,IP,NODE,NOMINATED NODE,READINESS GATES"), [][]string{{"solo", "0/1", "Pending"}}},
		{"deployments", nil, cols("NAME,READY,UP-TO-DATE,AVAILABLE,AGE"), [][]string{{"web", "0/3", "0", "0"}}},
		{"deployments", []string{"-o", "wide"}, cols("NAME,READY,UP-TO-DATE,AVAILABLE,AGE,CONTAINERS,IMAGES,SELECTOR"), [][]string{{"web", "0/3"}}},
		{"services", nil, cols("NAME,TYPE,CLUSTER-IP,EXTERNAL-IP,PORT(S),AGE"), [][]string{{"web", "ClusterIP"}, {"web-headless", "ClusterIP", "None", "<none>", "80/TCP"}, {"web-np", "NodePort"}}},
		{"services", []string{"-o", "wide"}, cols("NAME,TYPE,CLUSTER-IP,EXTERNAL-IP,PORT(S),AGE,SELECTOR"), [][]string{{"web"}}},
		{"configmaps", nil, cols("NAME,DATA,AGE"), [][]string{{"web-config", "2"}}},
		{"secrets", nil, cols("NAME,TYPE,DATA,AGE"), [][]string{{"web-secret", "Opaque", "1"}}},
		{"serviceaccounts", nil, cols("NAME,SECRETS,AGE"), [][]string{{"web", "0"}}},
		{"ingressclasses", nil, cols("NAME,CONTROLLER,PARAMETERS,AGE"), [][]string{{"example", "example.com/ingress", "<none>"}}},
		{"ingresses", nil, cols("NAME,CLASS,HOSTS,ADDRESS,PORTS,AGE"), [][]string{{"web", "bosun", "shop.example.com"}}},
		{"networkpolicies", nil, cols("NAME,POD-SELECTOR,AGE"), [][]string{{"web-allow", "app=web"}}},
		{"hpa", nil, cols("NAME,REFERENCE,TARGETS,MINPODS,MAXPODS,REPLICAS,AGE"), [][]string{{"web", "Deployment/web"}}},
		{"pdb", nil, cols("NAME,MIN AVAILABLE,MAX UNAVAILABLE,ALLOWED DISRUPTIONS,AGE"), [][]string{{"web", "1", "N/A", "0"}}},
		{"storageclasses", nil, cols("NAME,PROVISIONER,RECLAIMPOLICY,VOLUMEBINDINGMODE,ALLOWVOLUMEEXPANSION,AGE"), [][]string{{"local", "example.com/local", "Delete", "WaitForFirstConsumer", "false"}}},
		{"pv", nil, cols("NAME,CAPACITY,ACCESS MODES,RECLAIM POLICY,STATUS,CLAIM,STORAGECLASS,VOLUMEATTRIBUTESCLASS,REASON,AGE"), [][]string{{"data-pv", "1Gi", "RWO", "Retain"}}},
		{"pvc", nil, cols("NAME,STATUS,VOLUME,CAPACITY,ACCESS MODES,STORAGECLASS,VOLUMEATTRIBUTESCLASS,AGE"), [][]string{{"data", "Pending"}}},
		{"statefulsets", nil, cols("NAME,READY,AGE"), [][]string{{"db", "0/2"}}},
		{"daemonsets", nil, cols("NAME,DESIRED,CURRENT,READY,UP-TO-DATE,AVAILABLE,NODE SELECTOR,AGE"), [][]string{{"agent", "0", "0", "0", "0", "0", "<none>"}}},
		{"jobs", nil, cols("NAME,STATUS,COMPLETIONS,DURATION,AGE"), [][]string{{"migrate"}}},
		{"cronjobs", nil, cols("NAME,SCHEDULE,TIMEZONE,SUSPEND,ACTIVE,LAST SCHEDULE,AGE"), [][]string{{"report", "*/5", "*", "*", "*", "*", "<none>", "False", "0", "<none>"}}},
		{"roles", nil, cols("NAME,CREATED AT"), [][]string{{"reader"}}},
		{"rolebindings", nil, cols("NAME,ROLE,AGE"), [][]string{{"reader", "Role/reader"}}},
		{"clusterroles", nil, cols("NAME,CREATED AT"), [][]string{{"shop-viewer"}}},
		{"clusterrolebindings", nil, cols("NAME,ROLE,AGE"), [][]string{{"shop-viewer", "ClusterRole/shop-viewer"}}},
		{"priorityclasses", nil, cols("NAME,VALUE,GLOBAL-DEFAULT,AGE,PREEMPTIONPOLICY"), [][]string{{"high", "1000", "false"}}},
		{"resourcequotas", nil, cols("NAME,AGE,REQUEST,LIMIT"), [][]string{{"quota"}}},
		{"limitranges", nil, cols("NAME,CREATED AT"), [][]string{{"limits"}}},
		{"leases", nil, cols("NAME,HOLDER,AGE"), [][]string{{"leader", "a"}}},
		{"namespaces", nil, cols("NAME,STATUS,AGE"), [][]string{{"shop", "Active"}, {"default", "Active"}, {"kube-system", "Active"}}},
		{"ns", nil, cols("NAME,STATUS,AGE"), [][]string{{"shop", "Active"}}},
		{"pods", []string{"-A"}, cols("NAMESPACE,NAME,READY,STATUS,RESTARTS,AGE"), [][]string{{"shop", "solo", "0/1", "Pending"}}},
		{"configmaps", []string{"--all-namespaces"}, cols("NAMESPACE,NAME,DATA,AGE"), [][]string{{"shop", "web-config", "2"}}},
		{"deployments", []string{"--show-labels"}, cols("NAME,READY,UP-TO-DATE,AVAILABLE,AGE,LABELS"), [][]string{{"web", "0/3", "0", "0"}}},
		{"deployments,services", []string{"-l", "app=web"}, cols("NAME,READY,UP-TO-DATE,AVAILABLE,AGE"), [][]string{{"deployment.apps/web"}}},
	}
	for _, tc := range cases {
		args := append([]string{"get", tc.resource, "-n", "shop"}, tc.args...)
		out := k.ok(t, args...)
		if got := tableHeader(out); !slices.Equal(got, tc.header) {
			t.Errorf("%s: header %q, want %q", strings.Join(args, " "), got, tc.header)
		}
		for _, cells := range tc.rows {
			if _, ok := tableRow(out, cells...); !ok {
				t.Errorf("%s: no row starting %q in\n%s", strings.Join(args, " "), cells, out)
			}
		}
	}

	t.Run("subresources", func(t *testing.T) {
		// The status subresource prints like the object, the scale
		// subresource with its own columns.
		out := k.ok(t, "get", "deploy", "web", "-n", "shop", "--subresource=status")
		if got, want := tableHeader(out), strings.Split("NAME,READY,UP-TO-DATE,AVAILABLE,AGE", ","); !slices.Equal(got, want) {
			t.Errorf("--subresource=status: header %q, want %q", got, want)
		}
		out = k.ok(t, "get", "sts", "db", "-n", "shop", "--subresource=scale")
		if got, want := tableHeader(out), strings.Split("NAME,DESIRED,AVAILABLE,AGE", ","); !slices.Equal(got, want) {
			t.Errorf("--subresource=scale: header %q, want %q", got, want)
		}
		if _, ok := tableRow(out, "db", "2", "0"); !ok {
			t.Errorf("--subresource=scale: no row db 2 0 in\n%s", out)
		}
		out = k.ok(t, "get", "deploy", "web", "-n", "shop", "--subresource=scale", "-o", "jsonpath={.kind} {.spec.replicas} {.status.selector}")
		if out != "Scale 3 app=web" {
			t.Errorf("--subresource=scale -o jsonpath: %q", out)
		}
	})

	t.Run("show-labels", func(t *testing.T) {
		out := k.ok(t, "get", "deploy", "web", "-n", "shop", "--show-labels")
		if l, _ := tableRow(out, "web"); !strings.HasSuffix(l, "app=web") {
			t.Errorf("--show-labels row %q lacks app=web", l)
		}
	})

	t.Run("label selector", func(t *testing.T) {
		out := k.ok(t, "get", "deploy,sts,ds,svc,pods", "-n", "shop", "-l", "app=web", "-o", "name")
		if got := outputLines(out); !slices.Equal(got, []string{"deployment.apps/web"}) {
			t.Errorf("-l app=web: %q, want only deployment.apps/web", got)
		}
		out = k.ok(t, "get", "pods", "-n", "shop", "-l", "app in (solo,other)", "-o", "name")
		if got := outputLines(out); !slices.Equal(got, []string{"pod/solo"}) {
			t.Errorf("-l 'app in (solo,other)': %q, want pod/solo", got)
		}
		r := k.run(t, "get", "pods", "-n", "shop", "-l", "app=none")
		if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "No resources found in shop namespace.") {
			t.Errorf("-l app=none: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("all", func(t *testing.T) {
		out := k.ok(t, "get", "all", "-n", "shop")
		for _, want := range []string{"pod/solo", "service/web", "service/web-np", "service/web-headless",
			"daemonset.apps/agent", "deployment.apps/web", "statefulset.apps/db", "job.batch/migrate",
			"cronjob.batch/report", "horizontalpodautoscaler.autoscaling/web"} {
			if _, ok := tableRow(out, want); !ok {
				t.Errorf("get all lacks %s:\n%s", want, out)
			}
		}
		out = k.ok(t, "get", "all", "-A")
		if _, ok := tableRow(out, "default", "service/kubernetes", "ClusterIP"); !ok {
			t.Errorf("get all -A lacks the kubernetes service:\n%s", out)
		}
		if _, ok := tableRow(out, "shop", "deployment.apps/web"); !ok {
			t.Errorf("get all -A lacks shop's deployment:\n%s", out)
		}
	})

	t.Run("output formats", func(t *testing.T) {
		var cm struct {
			Kind     string
			Metadata struct{ Name, Namespace, ResourceVersion, UID string }
			Data     map[string]string
		}
		if err := json.Unmarshal([]byte(k.ok(t, "get", "cm", "web-config", "-n", "shop", "-o", "json")), &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Kind != "ConfigMap" || cm.Metadata.Name != "web-config" || cm.Metadata.UID == "" || cm.Data["APP_MODE"] != "production" {
			t.Errorf("-o json: %+v", cm)
		}

		var list struct {
			Kind  string
			Items []struct{ Kind string }
		}
		if err := json.Unmarshal([]byte(k.ok(t, "get", "services", "-n", "shop", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if list.Kind != "List" || len(list.Items) != 3 || list.Items[0].Kind != "Service" {
			t.Errorf("-o json of a list: %+v", list)
		}

		var dep struct {
			Kind string
			Spec struct {
				Replicas int
				Template struct {
					Spec struct{ Containers []struct{ Image string } }
				}
			}
		}
		if err := yaml.Unmarshal([]byte(k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "yaml")), &dep); err != nil {
			t.Fatal(err)
		}
		if dep.Kind != "Deployment" || dep.Spec.Replicas != 3 || len(dep.Spec.Template.Spec.Containers) != 1 || dep.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
			t.Errorf("-o yaml: %+v", dep)
		}

		got := k.ok(t, "get", "svc", "web-np", "-n", "shop", "-o", "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.ports[0].nodePort}")
		if !regexp.MustCompile(`^NodePort 80 3\d{4}$`).MatchString(got) {
			t.Errorf("-o jsonpath: %q", got)
		}

		got = k.ok(t, "get", "services", "-n", "shop", "-o", "name")
		if want := []string{"service/web", "service/web-headless", "service/web-np"}; !slices.Equal(outputLines(got), want) {
			t.Errorf("-o name: %q, want %q", outputLines(got), want)
		}
		got = k.ok(t, "get", "pods", "-n", "shop", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image", "--no-headers")
		if f := strings.Fields(got); !slices.Equal(f, []string{"solo", "busybox"}) {
			t.Errorf("-o custom-columns: %q", got)
		}
		got = k.ok(t, "get", "services", "-n", "shop", "--field-selector", "metadata.name=web-np", "-o", "name")
		if strings.TrimSpace(got) != "service/web-np" {
			t.Errorf("--field-selector metadata.name=web-np: %q", got)
		}
		// Paging: kubectl follows continue tokens.
		got = k.ok(t, "get", "services", "-n", "shop", "--chunk-size=1", "-o", "name")
		if want := []string{"service/web", "service/web-headless", "service/web-np"}; !slices.Equal(outputLines(got), want) {
			t.Errorf("--chunk-size=1: %q, want %q", outputLines(got), want)
		}
	})
}

func TestKubectlModify(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	k.ok(t, "create", "namespace", "edit")
	k.apply(t, manifestIn(t, "01-config.yaml", "edit"))
	k.apply(t, manifestIn(t, "02-deployment.yaml", "edit"))
	get := func(t *testing.T, what, jsonpath string) string {
		t.Helper()
		return k.ok(t, "get", what, "-n", "edit", "-o", "jsonpath="+jsonpath)
	}

	t.Run("edit", func(t *testing.T) {
		editor := filepath.Join(t.TempDir(), "editor.sh")
		script := "#!/bin/sh\nsed -i 's/APP_MODE: production/APP_MODE: staging/' \"$1\"\n"
		if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		r := k.runWith(t, "", []string{"KUBE_EDITOR=" + editor}, "edit", "cm", "web-config", "-n", "edit")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "configmap/web-config edited" {
			t.Fatalf("edit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if got := get(t, "cm/web-config", "{.data.APP_MODE}"); got != "staging" {
			t.Errorf("after edit APP_MODE = %q, want staging", got)
		}
		// An invalid edit is refused; kubectl reopens the editor, which
		// changes nothing more, so kubectl gives up.
		invalid := filepath.Join(t.TempDir(), "invalid.sh")
		script = "#!/bin/sh\nsed -i 's/image: nginx:1.27/image: \"\"/' \"$1\"\n"
		if err := os.WriteFile(invalid, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		r = k.runWith(t, "", []string{"KUBE_EDITOR=" + invalid}, "edit", "deploy", "web", "-n", "edit")
		if r.code == 0 || !strings.Contains(r.stderr, `error: deployments.apps "web" is invalid`) || !strings.Contains(r.stderr, "Edit cancelled, no valid changes were saved.") {
			t.Errorf("invalid edit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if got := get(t, "deploy/web", "{.spec.template.spec.containers[0].image}"); got != "nginx:1.27" {
			t.Errorf("after a refused edit the image is %q", got)
		}
		// An editor that changes nothing cancels the edit.
		r = k.runWith(t, "", []string{"KUBE_EDITOR=true"}, "edit", "cm", "web-config", "-n", "edit")
		if r.code != 0 || !strings.Contains(r.stderr, "Edit cancelled, no changes made.") {
			t.Errorf("no-op edit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("patch", func(t *testing.T) {
		out := k.ok(t, "patch", "cm", "web-config", "-n", "edit", "--type", "json", "-p", `[{"op":"add","path":"/data/FROM_JSON","value":"1"},{"op":"remove","path":"/data/nginx.conf"}]`)
		if strings.TrimSpace(out) != "configmap/web-config patched" {
			t.Errorf("json patch printed %q", out)
		}
		out = k.ok(t, "patch", "cm", "web-config", "-n", "edit", "--type", "merge", "-p", `{"data":{"FROM_MERGE":"2"}}`)
		if strings.TrimSpace(out) != "configmap/web-config patched" {
			t.Errorf("merge patch printed %q", out)
		}
		if got := get(t, "cm/web-config", "{.data.FROM_JSON},{.data.FROM_MERGE},{.data.nginx\\.conf}"); got != "1,2," {
			t.Errorf("after json and merge patches data is %q, want 1,2,", got)
		}
		// A patch that changes nothing is reported as such.
		out = k.ok(t, "patch", "cm", "web-config", "-n", "edit", "--type", "merge", "-p", `{"data":{"FROM_MERGE":"2"}}`)
		if strings.TrimSpace(out) != "configmap/web-config patched (no change)" {
			t.Errorf("no-op patch printed %q", out)
		}
		r := k.fails(t, "", "patch", "cm", "web-config", "-n", "edit", "--type", "json", "-p", `[{"op":"test","path":"/data/FROM_JSON","value":"other"}]`)
		if !strings.Contains(r.stderr, "test failed") {
			t.Errorf("failed json patch test: %s", r.stderr)
		}

		// Strategic merge matches containers by name: the image changes
		// and the container's other fields stay.
		gen := get(t, "deploy/web", "{.metadata.generation}")
		k.ok(t, "patch", "deploy", "web", "-n", "edit", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`)
		got := get(t, "deploy/web", "{.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].env[0].name}")
		if got != "nginx:1.26 8080 MODE" {
			t.Errorf("after strategic patch containers are %q, want %q", got, "nginx:1.26 8080 MODE")
		}
		if g := get(t, "deploy/web", "{.metadata.generation}"); g == gen {
			t.Errorf("generation stayed %s after a spec change", g)
		}
		// The same patch as a merge patch replaces the container list.
		k.ok(t, "patch", "deploy", "web", "-n", "edit", "--type", "merge", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`)
		if got := get(t, "deploy/web", "{.spec.template.spec.containers[0].ports}"); got != "" {
			t.Errorf("merge patch kept ports %s; a merge patch replaces lists", got)
		}
	})

	t.Run("label", func(t *testing.T) {
		if out := k.ok(t, "label", "cm", "web-config", "-n", "edit", "tier=front"); strings.TrimSpace(out) != "configmap/web-config labeled" {
			t.Errorf("label printed %q", out)
		}
		r := k.fails(t, "", "label", "cm", "web-config", "-n", "edit", "tier=back")
		if !strings.Contains(r.stderr, "'tier' already has a value (front), and --overwrite is false") {
			t.Errorf("label without --overwrite: %s", r.stderr)
		}
		k.ok(t, "label", "cm", "web-config", "-n", "edit", "tier=back", "--overwrite")
		if got := get(t, "cm/web-config", "{.metadata.labels.tier}"); got != "back" {
			t.Errorf("after --overwrite tier = %q, want back", got)
		}
		if out := k.ok(t, "label", "cm", "web-config", "-n", "edit", "tier-"); strings.TrimSpace(out) != "configmap/web-config unlabeled" {
			t.Errorf("label removal printed %q", out)
		}
		if got := get(t, "cm/web-config", "{.metadata.labels}"); got != "" {
			t.Errorf("after tier- labels are %q", got)
		}
		// A stale resourceVersion is a conflict.
		r = k.fails(t, "", "label", "cm", "web-config", "-n", "edit", "stale=yes", "--resource-version=1")
		if !strings.Contains(r.stderr, `Error from server (Conflict): Operation cannot be fulfilled on configmaps "web-config": the object has been modified; please apply your changes to the latest version and try again`) {
			t.Errorf("label with a stale resourceVersion: %s", r.stderr)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		if out := k.ok(t, "annotate", "deploy", "web", "-n", "edit", "owner=team-a"); strings.TrimSpace(out) != "deployment.apps/web annotated" {
			t.Errorf("annotate printed %q", out)
		}
		k.ok(t, "annotate", "deploy", "web", "-n", "edit", "owner=team-b", "--overwrite")
		if got := get(t, "deploy/web", "{.metadata.annotations.owner}"); got != "team-b" {
			t.Errorf("annotation owner = %q, want team-b", got)
		}
	})

	t.Run("scale", func(t *testing.T) {
		gen := get(t, "deploy/web", "{.metadata.generation}")
		if out := k.ok(t, "scale", "deploy", "web", "-n", "edit", "--replicas=5"); strings.TrimSpace(out) != "deployment.apps/web scaled" {
			t.Errorf("scale printed %q", out)
		}
		replicas, newGen, _ := strings.Cut(get(t, "deploy/web", "{.spec.replicas} {.metadata.generation}"), " ")
		if replicas != "5" || newGen == gen {
			t.Errorf("after scale: replicas %s generation %s (was %s), want 5 and a new generation", replicas, newGen, gen)
		}
		r := k.fails(t, "", "scale", "deploy", "web", "-n", "edit", "--current-replicas=3", "--replicas=1")
		if !strings.Contains(r.stderr, "Expected replicas to be 3, was 5") {
			t.Errorf("scale with a wrong --current-replicas: %s", r.stderr)
		}
	})

	t.Run("set image", func(t *testing.T) {
		gen := get(t, "deploy/web", "{.metadata.generation}")
		if out := k.ok(t, "set", "image", "deploy/web", "-n", "edit", "web=nginx:1.28"); strings.TrimSpace(out) != "deployment.apps/web image updated" {
			t.Errorf("set image printed %q", out)
		}
		image, newGen, _ := strings.Cut(get(t, "deploy/web", "{.spec.template.spec.containers[0].image} {.metadata.generation}"), " ")
		if image != "nginx:1.28" || newGen == gen {
			t.Errorf("after set image: image %s generation %s (was %s)", image, newGen, gen)
		}
	})

	t.Run("rollout restart", func(t *testing.T) {
		k.ok(t, "rollout", "restart", "deploy/web", "-n", "edit")
		if got := get(t, "deploy/web", `{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`); got == "" {
			t.Error("rollout restart left no restartedAt annotation on the pod template")
		}
	})
}

func TestKubectlDiscovery(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})

	t.Run("explain", func(t *testing.T) {
		out := k.ok(t, "explain", "pods")
		for _, want := range []string{"KIND:       Pod", "VERSION:    v1", "DESCRIPTION:", "FIELDS:", "spec\t<PodSpec>", "status\t<PodStatus>"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain pods lacks %q:\n%s", want, out)
			}
		}
		out = k.ok(t, "explain", "deployment.spec.strategy")
		for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "FIELD: strategy <DeploymentStrategy>", "rollingUpdate\t<RollingUpdateDeployment>", "type\t<string>"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain deployment.spec.strategy lacks %q:\n%s", want, out)
			}
		}
		out = k.ok(t, "explain", "pods", "--output=plaintext-openapiv2")
		for _, want := range []string{"KIND:     Pod", "VERSION:  v1", "FIELDS:", "spec\t<Object>"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain --output=plaintext-openapiv2 lacks %q:\n%s", want, out)
			}
		}
		out = k.ok(t, "explain", "cronjobs.spec.jobTemplate.spec.template.spec.containers.image")
		if !strings.Contains(out, "FIELD: image <string>") {
			t.Errorf("explain of a deep field:\n%s", out)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		out := k.ok(t, "api-resources")
		if got, want := tableHeader(out), strings.Split("NAME,SHORTNAMES,APIVERSION,NAMESPACED,KIND", ","); !slices.Equal(got, want) {
			t.Errorf("header %q, want %q", got, want)
		}
		// name, short names ("" for none), group version, namespaced, kind
		want := [][5]string{
			{"pods", "po", "v1", "true", "Pod"},
			{"services", "svc", "v1", "true", "Service"},
			{"configmaps", "cm", "v1", "true", "ConfigMap"},
			{"secrets", "", "v1", "true", "Secret"},
			{"serviceaccounts", "sa", "v1", "true", "ServiceAccount"},
			{"namespaces", "ns", "v1", "false", "Namespace"},
			{"persistentvolumes", "pv", "v1", "false", "PersistentVolume"},
			{"persistentvolumeclaims", "pvc", "v1", "true", "PersistentVolumeClaim"},
			{"resourcequotas", "quota", "v1", "true", "ResourceQuota"},
			{"limitranges", "limits", "v1", "true", "LimitRange"},
			{"nodes", "no", "v1", "false", "Node"},
			{"deployments", "deploy", "apps/v1", "true", "Deployment"},
			{"statefulsets", "sts", "apps/v1", "true", "StatefulSet"},
			{"daemonsets", "ds", "apps/v1", "true", "DaemonSet"},
			{"replicasets", "rs", "apps/v1", "true", "ReplicaSet"},
			{"jobs", "", "batch/v1", "true", "Job"},
			{"cronjobs", "cj", "batch/v1", "true", "CronJob"},
			{"horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"},
			{"ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"},
			{"ingressclasses", "", "networking.k8s.io/v1", "false", "IngressClass"},
			{"networkpolicies", "netpol", "networking.k8s.io/v1", "true", "NetworkPolicy"},
			{"poddisruptionbudgets", "pdb", "policy/v1", "true", "PodDisruptionBudget"},
			{"storageclasses", "sc", "storage.k8s.io/v1", "false", "StorageClass"},
			{"priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"},
			{"leases", "", "coordination.k8s.io/v1", "true", "Lease"},
			{"roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"},
			{"rolebindings", "", "rbac.authorization.k8s.io/v1", "true", "RoleBinding"},
			{"clusterroles", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"},
			{"clusterrolebindings", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"},
		}
		have := map[string][5]string{}
		for _, l := range outputLines(out)[1:] {
			f := strings.Fields(l)
			switch len(f) {
			case 4:
				have[f[0]+" "+f[1]] = [5]string{f[0], "", f[1], f[2], f[3]}
			case 5:
				have[f[0]+" "+f[2]] = [5]string{f[0], f[1], f[2], f[3], f[4]}
			default:
				t.Errorf("unexpected api-resources line %q", l)
			}
		}
		for _, w := range want {
			if got := have[w[0]+" "+w[2]]; got != w {
				t.Errorf("api-resources row %q, want %q", got, w)
			}
		}
		// Short names resolve.
		if r := k.run(t, "get", "po,deploy,svc,cm,sa,sts,ds,rs,cj,hpa,ing,netpol,pdb,pvc,quota,limits", "-n", "default"); r.code != 0 {
			t.Errorf("get by short names: exit %d: %s", r.code, r.stderr)
		}
		out = k.ok(t, "api-resources", "--api-group=apps", "-o", "name")
		if got, want := outputLines(out), []string{"controllerrevisions.apps", "daemonsets.apps", "deployments.apps", "replicasets.apps", "statefulsets.apps"}; !slices.Equal(got, want) {
			t.Errorf("api-resources --api-group=apps: %q, want %q", got, want)
		}
	})

	t.Run("api-versions", func(t *testing.T) {
		got := outputLines(k.ok(t, "api-versions"))
		for _, want := range []string{"v1", "apps/v1", "autoscaling/v2", "batch/v1", "coordination.k8s.io/v1",
			"discovery.k8s.io/v1", "events.k8s.io/v1", "networking.k8s.io/v1", "policy/v1",
			"rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1"} {
			if !slices.Contains(got, want) {
				t.Errorf("api-versions lacks %s: %q", want, got)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out := k.ok(t, "version")
		if !strings.Contains(out, "Server Version: "+apiserver.Version.GitVersion+"\n") {
			t.Errorf("version output lacks the server version %s:\n%s", apiserver.Version.GitVersion, out)
		}
		var v struct {
			ServerVersion struct{ Major, Minor, GitVersion string }
		}
		if err := json.Unmarshal([]byte(k.ok(t, "version", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if v.ServerVersion.GitVersion != apiserver.Version.GitVersion || v.ServerVersion.Major != apiserver.Version.Major || v.ServerVersion.Minor != apiserver.Version.Minor {
			t.Errorf("version -o json: %+v", v.ServerVersion)
		}
	})

	t.Run("raw health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/livez"} {
			if out := k.ok(t, "get", "--raw", path); out != "ok" {
				t.Errorf("get --raw %s: %q", path, out)
			}
		}
	})
}

func TestKubectlWatch(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	k.ok(t, "create", "namespace", "watch")
	k.ok(t, "create", "configmap", "seed", "-n", "watch", "--from-literal=a=1")

	events := k.start(t, "get", "cm", "-n", "watch", "-w", "--output-watch-events")
	plain := k.start(t, "get", "cm", "-n", "watch", "-w")
	names := k.start(t, "get", "cm", "-n", "watch", "-w", "-o", "name")
	// The initial list is printed before the watch starts from its
	// resourceVersion, so changes made after it are all seen.
	events.waitFor(t, regexp.MustCompile(`(?m)^ADDED\s+seed\s+1\s`))
	plain.waitFor(t, regexp.MustCompile(`(?m)^seed\s+1\s`))
	names.waitFor(t, regexp.MustCompile(`(?m)^configmap/seed$`))

	k.ok(t, "create", "configmap", "w1", "-n", "watch", "--from-literal=a=1")
	k.ok(t, "patch", "configmap", "w1", "-n", "watch", "--type", "merge", "-p", `{"data":{"b":"2"}}`)
	k.ok(t, "delete", "configmap", "w1", "-n", "watch")

	events.waitFor(t, regexp.MustCompile(`(?m)^EVENT\s+NAME\s+DATA\s+AGE\n`+
		`ADDED\s+seed\s+1\s+\S+\n`+
		`ADDED\s+w1\s+1\s+\S+\n`+
		`MODIFIED\s+w1\s+2\s+\S+\n`+
		`DELETED\s+w1\s+2\s+\S+\n`))
	plain.waitFor(t, regexp.MustCompile(`(?m)^NAME\s+DATA\s+AGE\n`+
		`seed\s+1\s+\S+\n`+
		`w1\s+1\s+\S+\n`+
		`w1\s+2\s+\S+\n`+
		`w1\s+2\s+\S+\n`))
	names.waitFor(t, regexp.MustCompile(`^configmap/seed\n(configmap/w1\n){3}`))
	for _, b := range []*kubectlProcess{events, plain, names} {
		b.stop()
		if strings.Contains(b.out.String(), "error") {
			t.Errorf("watch printed an error:\n%s", b.out.String())
		}
	}

	t.Run("watch-only with a selector", func(t *testing.T) {
		w := k.start(t, "get", "cm", "-n", "watch", "-w", "--watch-only", "-l", "watched=yes", "-o", "name")
		// --watch-only prints nothing until the first event, so there is
		// no telling when the watch is established: create matching
		// objects until one is reported, changing one outside the
		// selector each time.
		matching := regexp.MustCompile(`(?m)^configmap/w2-\d+$`)
		pollUntil(t, 30*time.Second, "a selected ConfigMap in the watch", func() (bool, error) {
			if matching.MatchString(w.out.String()) {
				return true, nil
			}
			n := strconv.Itoa(int(time.Now().UnixNano() % 1e9))
			k.apply(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w2-"+n+"\n  namespace: watch\n  labels:\n    watched: \"yes\"\n")
			k.apply(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n  namespace: watch\ndata:\n  n: \""+n+"\"\n")
			time.Sleep(200 * time.Millisecond)
			if out := w.out.String(); !matching.MatchString(out) {
				return false, fmt.Errorf("output so far:\n%s", out)
			}
			return true, nil
		})
		w.stop()
		if out := w.out.String(); strings.Contains(out, "ignored") || strings.Contains(out, "seed") {
			t.Errorf("selector watch printed objects outside the selector:\n%s", out)
		}
	})
}

func TestKubectlErrors(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	k.ok(t, "create", "namespace", "errs")

	cases := []struct {
		name     string
		manifest string
		args     []string
		stderr   []string // substrings
	}{
		{
			name:     "invalid name",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: errs\n",
			stderr:   []string{`The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of`},
		},
		{
			name:     "pod without image",
			manifest: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\n  namespace: errs\nspec:\n  containers:\n  - name: main\n    image: \"\"\n",
			stderr:   []string{`The Pod "noimage" is invalid: spec.containers[0].image: Required value`},
		},
		{
			name: "several invalid fields",
			manifest: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: errs
spec:
  replicas: -1
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: two}
    spec:
      containers:
      - name: c
        image: nginx
`,
			stderr: []string{
				`The Deployment "bad" is invalid: ` + "\n",
				"* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n",
				"* spec.template.metadata.labels: Invalid value: ",
				"`selector` does not match template `labels`",
			},
		},
		{
			name:     "unknown field",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unknown\n  namespace: errs\nbogus: 1\n",
			stderr:   []string{`Error from server (BadRequest): error when creating "STDIN": strict decoding error: unknown field "bogus"`},
		},
		{
			name:     "unknown nested field",
			manifest: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nested\n  namespace: errs\nspec:\n  containers:\n  - name: c\n    image: nginx\n    imagePullPolicyy: Always\n",
			stderr:   []string{`strict decoding error: unknown field "spec.containers[0].imagePullPolicyy"`},
		},
		{
			name:     "missing namespace",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lost\n  namespace: nope\n",
			stderr:   []string{`Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found`},
		},
		{
			name:     "malformed yaml",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mal\n  namespace: errs\ndata:\n  a: [b\n  c: d\n",
			stderr:   []string{`error: error parsing STDIN: error converting YAML to JSON: yaml: line `},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := k.fails(t, tc.manifest, "apply", "-f", "-")
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
	if out := k.ok(t, "get", "all,cm", "-n", "errs", "-o", "name"); out != "" {
		t.Errorf("failed applies left objects behind:\n%s", out)
	}

	t.Run("unknown field ignored or warned", func(t *testing.T) {
		r := k.runWith(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warned\n  namespace: errs\nbogus: 1\n", nil, "apply", "--validate=warn", "-f", "-")
		if r.code != 0 || !strings.Contains(r.stderr, `Warning: unknown field "bogus"`) {
			t.Errorf("--validate=warn: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		r = k.runWith(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n  namespace: errs\nbogus: 1\n", nil, "create", "--validate=false", "-f", "-")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("--validate=false: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("not found", func(t *testing.T) {
		r := k.fails(t, "", "get", "cm", "nothere", "-n", "errs")
		if strings.TrimSpace(r.stderr) != `Error from server (NotFound): configmaps "nothere" not found` {
			t.Errorf("stderr: %s", r.stderr)
		}
		r = k.fails(t, "", "get", "deploy", "nothere", "-n", "errs")
		if strings.TrimSpace(r.stderr) != `Error from server (NotFound): deployments.apps "nothere" not found` {
			t.Errorf("stderr: %s", r.stderr)
		}
		r = k.fails(t, "", "delete", "pvc", "nothere", "-n", "errs")
		if strings.TrimSpace(r.stderr) != `Error from server (NotFound): persistentvolumeclaims "nothere" not found` {
			t.Errorf("stderr: %s", r.stderr)
		}
		r = k.fails(t, "", "get", "widgets")
		if !strings.Contains(r.stderr, `error: the server doesn't have a resource type "widgets"`) {
			t.Errorf("stderr: %s", r.stderr)
		}
	})

	t.Run("create in a missing namespace", func(t *testing.T) {
		r := k.fails(t, "", "create", "configmap", "x", "-n", "nope")
		if strings.TrimSpace(r.stderr) != `error: failed to create configmap: namespaces "nope" not found` {
			t.Errorf("stderr: %s", r.stderr)
		}
	})

	t.Run("already exists", func(t *testing.T) {
		k.ok(t, "create", "configmap", "twice", "-n", "errs")
		r := k.fails(t, "", "create", "configmap", "twice", "-n", "errs")
		if strings.TrimSpace(r.stderr) != `error: failed to create configmap: configmaps "twice" already exists` {
			t.Errorf("stderr: %s", r.stderr)
		}
	})
}

func TestKubectlCreate(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{})
	k.ok(t, "create", "namespace", "mk")
	get := func(t *testing.T, what, jsonpath string) string {
		t.Helper()
		return k.ok(t, "get", what, "-n", "mk", "-o", "jsonpath="+jsonpath)
	}

	t.Run("deployment and expose", func(t *testing.T) {
		if out := k.ok(t, "create", "deployment", "hello", "-n", "mk", "--image=nginx:1.27", "--replicas=2", "--port=8080"); strings.TrimSpace(out) != "deployment.apps/hello created" {
			t.Errorf("create deployment printed %q", out)
		}
		if got := get(t, "deploy/hello", "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.strategy.type}"); got != "2 hello nginx:1.27 RollingUpdate" {
			t.Errorf("created deployment: %q", got)
		}
		if out := k.ok(t, "expose", "deployment", "hello", "-n", "mk", "--port=80", "--target-port=8080"); strings.TrimSpace(out) != "service/hello exposed" {
			t.Errorf("expose printed %q", out)
		}
		got := get(t, "svc/hello", "{.spec.selector} {.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.clusterIP}")
		if !regexp.MustCompile(`^\{"app":"hello"\} ClusterIP 80 8080 10\.43\.\d+\.\d+$`).MatchString(got) {
			t.Errorf("exposed service: %q", got)
		}
		// kubectl wait on a field the server sets on create.
		k.ok(t, "wait", "--for=jsonpath={.spec.replicas}=2", "deploy/hello", "-n", "mk", "--timeout=10s")
	})

	t.Run("configmap and secret", func(t *testing.T) {
		k.ok(t, "create", "configmap", "lit", "-n", "mk", "--from-literal=a=1", "--from-literal=b=two words")
		if got := get(t, "cm/lit", "{.data.a}|{.data.b}"); got != "1|two words" {
			t.Errorf("configmap data %q", got)
		}
		k.ok(t, "create", "secret", "generic", "sec", "-n", "mk", "--from-literal=password=s3cret")
		if got := get(t, "secret/sec", "{.type} {.data.password}"); got != "Opaque czNjcmV0" {
			t.Errorf("secret: %q, want Opaque and base64 of s3cret", got)
		}
		k.ok(t, "create", "secret", "docker-registry", "reg", "-n", "mk", "--docker-server=r.example.com", "--docker-username=u", "--docker-password=p")
		if got := get(t, "secret/reg", "{.type}"); got != "kubernetes.io/dockerconfigjson" {
			t.Errorf("docker-registry secret type %q", got)
		}
	})

	t.Run("run", func(t *testing.T) {
		if out := k.ok(t, "run", "once", "-n", "mk", "--image=busybox", "--restart=Never", "--labels=role=batch", "--", "sleep", "10"); strings.TrimSpace(out) != "pod/once created" {
			t.Errorf("run printed %q", out)
		}
		got := get(t, "pod/once", "{.spec.containers[0].image} {.spec.restartPolicy} {.spec.containers[0].args} {.metadata.labels.role} {.status.phase}")
		if got != `busybox Never ["sleep","10"] batch Pending` {
			t.Errorf("pod: %q", got)
		}
		out := k.ok(t, "get", "pods", "-n", "mk", "-l", "role=batch", "-o", "name")
		if strings.TrimSpace(out) != "pod/once" {
			t.Errorf("get -l role=batch: %q", out)
		}
	})

	t.Run("wait", func(t *testing.T) {
		// Each waiter may start before or after the change it waits for;
		// either way it must end successfully.
		created := k.start(t, "wait", "--for=create", "configmap/later", "-n", "mk", "--timeout=30s")
		k.ok(t, "create", "configmap", "later", "-n", "mk")
		if code := created.exitCode(t); code != 0 {
			t.Errorf("wait --for=create: exit %d: %s", code, created.out.String())
		}
		k.ok(t, "run", "waited", "-n", "mk", "--image=busybox")
		ready := k.start(t, "wait", "--for=condition=Ready", "pod/waited", "-n", "mk", "--timeout=30s")
		k.ok(t, "patch", "pod", "waited", "-n", "mk", "--subresource=status", "--type=merge", "-p", `{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`)
		if code := ready.exitCode(t); code != 0 || !strings.Contains(ready.out.String(), "pod/waited condition met") {
			t.Errorf("wait --for=condition=Ready: exit %d: %s", code, ready.out.String())
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out := k.ok(t, "create", "configmap", "dry", "-n", "mk", "--dry-run=server", "-o", "jsonpath={.metadata.name} {.metadata.uid}")
		if !strings.HasPrefix(out, "dry ") || len(out) <= len("dry ") {
			t.Errorf("server dry run returned %q, want the name and a uid", out)
		}
		if r := k.run(t, "get", "cm", "dry", "-n", "mk"); r.code == 0 {
			t.Error("a server-side dry run stored the object")
		}
		// A dry run fails as the real request would.
		k.ok(t, "create", "configmap", "taken", "-n", "mk")
		r := k.fails(t, "", "create", "configmap", "taken", "-n", "mk", "--dry-run=server")
		if strings.TrimSpace(r.stderr) != `error: failed to create configmap: configmaps "taken" already exists` {
			t.Errorf("dry-run create of an existing object: %s", r.stderr)
		}
		r = k.fails(t, "", "delete", "configmap", "absent", "-n", "mk", "--dry-run=server")
		if strings.TrimSpace(r.stderr) != `Error from server (NotFound): configmaps "absent" not found` {
			t.Errorf("dry-run delete of a missing object: %s", r.stderr)
		}
		out = k.ok(t, "delete", "configmap", "taken", "-n", "mk", "--dry-run=server")
		if strings.TrimSpace(out) != `configmap "taken" deleted (server dry run)` {
			t.Errorf("dry-run delete printed %q", out)
		}
		k.ok(t, "get", "configmap", "taken", "-n", "mk")
	})

	t.Run("auth can-i", func(t *testing.T) {
		r := k.run(t, "auth", "can-i", "get", "pods")
		if r.code != 0 {
			t.Skipf("auth can-i: exit %d: %s %s", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
		}
		if strings.TrimSpace(r.stdout) != "yes" {
			t.Errorf("auth can-i get pods: %q, want yes", r.stdout)
		}
	})
}

func TestKubectlDelete(t *testing.T) {
	_, k := startKubectl(t, testserver.Options{Controllers: true})
	k.ok(t, "apply", "-f", manifestDir)

	t.Run("file", func(t *testing.T) {
		out := k.ok(t, "delete", "-f", filepath.Join(manifestDir, "08-batch.yaml"))
		if got, want := outputLines(out), []string{`job.batch "migrate" deleted`, `cronjob.batch "report" deleted`}; !slices.Equal(got, want) {
			t.Errorf("delete -f printed %q, want %q", got, want)
		}
		r := k.run(t, "get", "-f", filepath.Join(manifestDir, "08-batch.yaml"))
		if r.code == 0 || !strings.Contains(r.stderr, `jobs.batch "migrate" not found`) || !strings.Contains(r.stderr, `cronjobs.batch "report" not found`) {
			t.Errorf("get after delete: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		r = k.run(t, "delete", "-f", filepath.Join(manifestDir, "08-batch.yaml"), "--ignore-not-found")
		if r.code != 0 || r.stdout != "" {
			t.Errorf("delete --ignore-not-found: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})

	// Orphan and foreground deletion leave a finalizer for the garbage
	// collector to remove; without one the object stays, marked.
	for _, tc := range []struct{ cascade, object, finalizer string }{
		{"orphan", "deploy/web", "orphan"},
		{"foreground", "statefulset/db", "foregroundDeletion"},
	} {
		t.Run("cascade "+tc.cascade, func(t *testing.T) {
			k.ok(t, "delete", tc.object, "-n", "shop", "--cascade="+tc.cascade, "--wait=false")
			r := k.run(t, "get", tc.object, "-n", "shop", "-o", "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}")
			if r.code != 0 {
				if !strings.Contains(r.stderr, "NotFound") {
					t.Fatalf("get after delete: %s", r.stderr)
				}
				return // a garbage collector finished the deletion
			}
			finalizers, ts, _ := strings.Cut(r.stdout, " ")
			if !strings.Contains(finalizers, `"`+tc.finalizer+`"`) || ts == "" {
				t.Fatalf("after --cascade=%s: finalizers %s, deletionTimestamp %q", tc.cascade, finalizers, ts)
			}
			// Other updates keep the deletion mark.
			k.ok(t, "label", tc.object, "-n", "shop", "marked=yes")
			if got := k.ok(t, "get", tc.object, "-n", "shop", "-o", "jsonpath={.metadata.deletionTimestamp}"); got != ts {
				t.Errorf("deletionTimestamp went from %q to %q on a label change", ts, got)
			}
			// Removing the finalizer by hand, as the collector would, ends
			// the deletion; kubectl wait --for=delete sees it.
			waiter := k.start(t, "wait", "--for=delete", tc.object, "-n", "shop", "--timeout=30s")
			k.ok(t, "patch", tc.object, "-n", "shop", "--type", "json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
			if code := waiter.exitCode(t); code != 0 {
				t.Errorf("wait --for=delete: exit %d: %s", code, waiter.out.String())
			}
			if r := k.run(t, "get", tc.object, "-n", "shop"); r.code == 0 || !strings.Contains(r.stderr, "NotFound") {
				t.Errorf("%s still there after its finalizer was removed: %s%s", tc.object, r.stdout, r.stderr)
			}
		})
	}

	t.Run("namespace", func(t *testing.T) {
		out := k.ok(t, "delete", "namespace", "shop", "--wait=false")
		if strings.TrimSpace(out) != `namespace "shop" deleted` {
			t.Errorf("delete ns printed %q", out)
		}
		r := k.run(t, "get", "ns", "shop", "-o", "jsonpath={.status.phase}")
		if r.code == 0 && r.stdout != "Terminating" {
			t.Errorf("namespace being deleted has phase %q, want Terminating", r.stdout)
		}
		r = k.run(t, "wait", "--for=delete", "namespace/shop", "--timeout=60s")
		if r.code != 0 {
			t.Fatalf("namespace shop not deleted: exit %d\nstdout: %s\nstderr: %s\n%s", r.code, r.stdout, r.stderr,
				k.run(t, "get", "ns", "shop", "-o", "yaml").stdout)
		}
		r = k.run(t, "get", "ns", "shop")
		if r.code == 0 || strings.TrimSpace(r.stderr) != `Error from server (NotFound): namespaces "shop" not found` {
			t.Errorf("get ns shop after deletion: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		// Cluster-scoped objects from the same manifests stay.
		k.ok(t, "get", "storageclass/local", "pv/data-pv", "clusterrole/shop-viewer", "priorityclass/high", "ingressclass/example")
	})
}
