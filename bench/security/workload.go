package main

import (
	"context"
	"fmt"
	"io"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

// The namespace and ServiceAccount the pods are created in and with.
const (
	namespace      = "bench"
	serviceAccount = "dev"
)

// measured is what one client (the ServiceAccount's token or the admin's
// certificate) got from one mode, pooled over batches and rounds.
type measured struct {
	// seq holds the latency of every sequential create.
	seq []time.Duration
	// seqCPU is the server's CPU time over all sequential creates.
	seqCPU time.Duration
	// par and parTime are the creates made with o.writers writers and the
	// wall time they took.
	par     int
	parTime time.Duration
}

// modeResult is what one authorization mode measured.
type modeResult struct {
	token, admin measured
}

// server is one mode's server with its two clients.
type server struct {
	mode         string
	s            *benchserver.Server
	token, admin kubernetes.Interface
	res          *modeResult
}

// startServer starts a server in mode, sets the namespace up and warms
// both clients' connections and the server's caches (the token cache,
// informers, the quota's status) before anything is timed.
func startServer(ctx context.Context, o options, mode string, res *modeResult, out io.Writer) (*server, error) {
	s, err := benchserver.StartReady(ctx, o.bin, "--authorization-mode="+mode)
	if err != nil {
		return nil, err
	}
	sv, err := prepare(ctx, o, s, mode, res, out)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("%s: %w", mode, err)
	}
	return sv, nil
}

// prepare is startServer's work once the process is ready.
func prepare(ctx context.Context, o options, s *benchserver.Server, mode string, res *modeResult, out io.Writer) (*server, error) {
	adminCfg, err := s.ClientConfig()
	if err != nil {
		return nil, err
	}
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	t0 := time.Now()
	if err := setUp(ctx, admin); err != nil {
		return nil, err
	}
	tokenCfg, err := tokenConfig(ctx, admin, adminCfg)
	if err != nil {
		return nil, err
	}
	token, err := kubernetes.NewForConfig(tokenCfg)
	if err != nil {
		return nil, fmt.Errorf("service account client: %w", err)
	}
	if err := waitCanCreate(ctx, token); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   %s: namespace %q set up, %s may create pods after %s\n", mode, namespace, saUser, time.Since(t0).Round(time.Millisecond))
	sv := &server{mode: mode, s: s, token: token, admin: admin, res: res}
	for _, c := range sv.clients() {
		if _, _, err := benchserver.CreateAll(ctx, 1, o.warmup, podCreator(c.cs, "warm-"+c.name)); err != nil {
			return nil, fmt.Errorf("%s: warm-up: %w", c.name, err)
		}
	}
	return sv, nil
}

// client is one of a server's two identities, with where its figures go.
type client struct {
	name string
	cs   kubernetes.Interface
	m    *measured
}

func (sv *server) clients() []client {
	return []client{
		{"token", sv.token, &sv.res.token},
		{"admin", sv.admin, &sv.res.admin},
	}
}

// batches is how many pieces each phase is cut into, the servers taking
// turns piece by piece, so that what else the machine does meanwhile
// falls on both modes alike.
const batches = 10

// round starts a server in each mode, in the given order, and runs every
// phase on both, interleaved batch by batch in the order ABBA ABBA….
func round(ctx context.Context, o options, order []string, res map[string]*modeResult, out io.Writer) error {
	var servers []*server
	defer func() {
		for _, sv := range servers {
			sv.s.Stop()
		}
	}()
	for _, mode := range order {
		sv, err := startServer(ctx, o, mode, res[mode], out)
		if err != nil {
			return err
		}
		servers = append(servers, sv)
	}
	for ci := range servers[0].clients() {
		name := servers[0].clients()[ci].name
		for _, writers := range []int{1, o.writers} {
			type sum struct {
				n       int
				elapsed time.Duration
				cpu     time.Duration
				lat     []time.Duration
			}
			sums := make([]sum, len(servers))
			for b := range batches {
				n := o.creates/batches + btoi(b < o.creates%batches)
				for k := range servers {
					i := k
					if b%2 == 1 {
						i = len(servers) - 1 - k
					}
					sv := servers[i]
					c := sv.clients()[ci]
					prefix := fmt.Sprintf("%s-%d-%d", c.name, writers, b)
					cpu0 := sv.s.CPU()
					elapsed, lat, err := benchserver.CreateAll(ctx, writers, n, podCreator(c.cs, prefix))
					if err != nil {
						return fmt.Errorf("%s: %s, %d writers: %w", sv.mode, c.name, writers, err)
					}
					sums[i].n += n
					sums[i].elapsed += elapsed
					sums[i].cpu += sv.s.CPU() - cpu0
					sums[i].lat = append(sums[i].lat, lat...)
				}
			}
			for i, sv := range servers {
				m, t := sv.clients()[ci].m, sums[i]
				if writers == 1 {
					m.seq = append(m.seq, t.lat...)
					m.seqCPU += t.cpu
					fmt.Fprintf(out, "   %-11s %s sequential: %d creates in %s, p50 %s, p99 %s, max %s; server CPU %s per create\n",
						sv.mode, name, t.n, t.elapsed.Round(time.Millisecond), us(benchserver.Percentile(t.lat, 0.5)), us(benchserver.Percentile(t.lat, 0.99)),
						us(benchserver.Percentile(t.lat, 1)), us(t.cpu/time.Duration(t.n)))
				} else {
					m.par += t.n
					m.parTime += t.elapsed
					fmt.Fprintf(out, "   %-11s %s %d writers: %d creates in %s = %.0f /s, p50 %s, p99 %s\n",
						sv.mode, name, writers, t.n, t.elapsed.Round(time.Millisecond), float64(t.n)/t.elapsed.Seconds(),
						us(benchserver.Percentile(t.lat, 0.5)), us(benchserver.Percentile(t.lat, 0.99)))
				}
			}
			fmt.Fprintf(out, "   (load %.2f)\n", benchserver.LoadAverage())
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// saUser is the user name the ServiceAccount's token authenticates as.
const saUser = "system:serviceaccount:" + namespace + ":" + serviceAccount

// setUp creates, as the admin, what a team gets: a namespace enforcing
// the baseline Pod Security level, a ServiceAccount bound to the edit
// ClusterRole, a LimitRange with default requests and limits, and a
// ResourceQuota on the pod count, so every create passes the
// ServiceAccount, LimitRanger, PodSecurity and ResourceQuota admission
// plugins with something to do.
func setUp(ctx context.Context, admin kubernetes.Interface) error {
	create := metav1.CreateOptions{}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"},
	}}, create); err != nil {
		return fmt.Errorf("namespace %q: %w", namespace, err)
	}
	if _, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: serviceAccount},
	}, create); err != nil {
		return fmt.Errorf("service account %q: %w", serviceAccount, err)
	}
	if _, err := admin.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: serviceAccount + "-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: serviceAccount, Namespace: namespace}},
	}, create); err != nil {
		return fmt.Errorf("role binding: %w", err)
	}
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	if _, err := admin.CoreV1().LimitRanges(namespace).Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("256Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi")},
		}}},
	}, create); err != nil {
		return fmt.Errorf("limit range: %w", err)
	}
	if _, err := admin.CoreV1().ResourceQuotas(namespace).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: q("100000")}},
	}, create); err != nil {
		return fmt.Errorf("resource quota: %w", err)
	}

	// The binding takes effect once the authorizer's cache has it; the
	// quota admits nothing until its controller has measured it.
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   saUser,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: namespace, Verb: "create", Resource: "pods",
				},
			},
		}, create)
		return err == nil && r.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("SubjectAccessReview never allowed %s to create pods: %w", saUser, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		rq, err := admin.CoreV1().ResourceQuotas(namespace).Get(ctx, "pods", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		_, measured := rq.Status.Used[corev1.ResourcePods]
		return measured, nil
	})
	if err != nil {
		return fmt.Errorf("resource quota never measured: %w", err)
	}
	return nil
}

// tokenConfig asks the TokenRequest API for a token of the ServiceAccount
// and returns a configuration that authenticates with it alone: the
// server's CA, no client certificate.
func tokenConfig(ctx context.Context, admin kubernetes.Interface, adminCfg *rest.Config) (*rest.Config, error) {
	tr, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", saUser, err)
	}
	if tr.Status.Token == "" {
		return nil, fmt.Errorf("token for %s: empty token in response", saUser)
	}
	return &rest.Config{
		Host:        adminCfg.Host,
		BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:     adminCfg.CAFile,
			CAData:     adminCfg.CAData,
			ServerName: adminCfg.ServerName,
		},
		QPS: 1e6, Burst: 1e6,
	}, nil
}

// waitCanCreate makes dry-run creates with cs until one passes: the
// admission plugins read the ServiceAccount, the LimitRange and the quota
// from caches that fill a moment after the objects are written.
func waitCanCreate(ctx context.Context, cs kubernetes.Interface) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = cs.CoreV1().Pods(namespace).Create(ctx, pod("dry-run", 0), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s cannot create pods (last: %v): %w", saUser, last, err)
	}
	return nil
}

// podCreator creates pod number i named after prefix.
func podCreator(cs kubernetes.Interface, prefix string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		_, err := cs.CoreV1().Pods(namespace).Create(ctx, pod(prefix, i), metav1.CreateOptions{})
		return err
	}
}
