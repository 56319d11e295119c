package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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
// certificate) got from one mode, pooled over the rounds.
type measured struct {
	// seq holds the latency of every sequential create.
	seq []time.Duration
	// seqCPU is the server's CPU time over all sequential creates.
	seqCPU time.Duration
	// rates holds creates per second with o.writers writers, a round each.
	rates []float64
}

// modeResult is what one authorization mode measured.
type modeResult struct {
	token, admin measured
	loads        []float64
}

// workload starts a server in mode, sets the namespace up, then measures
// the ServiceAccount's and the admin's pod creates into res.
func workload(ctx context.Context, o options, mode string, res *modeResult, out io.Writer) error {
	res.loads = append(res.loads, benchserver.LoadAverage())
	s, err := benchserver.StartReady(ctx, o.bin, "--authorization-mode="+mode)
	if err != nil {
		return err
	}
	defer s.Stop()
	adminCfg, err := s.ClientConfig()
	if err != nil {
		return err
	}
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	t0 := time.Now()
	if err := setUp(ctx, admin); err != nil {
		return err
	}
	tokenCfg, err := tokenConfig(ctx, admin, adminCfg)
	if err != nil {
		return err
	}
	sa, err := kubernetes.NewForConfig(tokenCfg)
	if err != nil {
		return fmt.Errorf("service account client: %w", err)
	}
	if err := waitCanCreate(ctx, sa); err != nil {
		return err
	}
	fmt.Fprintf(out, "   namespace %q set up, %s may create pods after %s\n", namespace, saUser, time.Since(t0).Round(time.Millisecond))

	clients := []struct {
		name string
		cs   kubernetes.Interface
		m    *measured
	}{
		{"token", sa, &res.token},
		{"admin", admin, &res.admin},
	}
	// Warm both connections and the server's caches (the token cache,
	// informers, the quota's status) before anything is timed.
	for _, c := range clients {
		if _, _, err := createAll(ctx, 1, o.warmup, podCreator(c.cs, "warm-"+c.name)); err != nil {
			return fmt.Errorf("%s: warm-up: %w", c.name, err)
		}
	}
	for _, c := range clients {
		cpu0 := s.CPU()
		elapsed, lat, err := createAll(ctx, 1, o.creates, podCreator(c.cs, "seq-"+c.name))
		if err != nil {
			return fmt.Errorf("%s: sequential creates: %w", c.name, err)
		}
		cpu := s.CPU() - cpu0
		c.m.seq = append(c.m.seq, lat...)
		c.m.seqCPU += cpu
		fmt.Fprintf(out, "   %-5s sequential: %d creates in %s, p50 %s, p99 %s, max %s; server CPU %s per create (load %.2f)\n",
			c.name, o.creates, elapsed.Round(time.Millisecond), us(percentile(lat, 0.5)), us(percentile(lat, 0.99)), us(percentile(lat, 1)),
			us(cpu/time.Duration(o.creates)), benchserver.LoadAverage())

		elapsed, lat, err = createAll(ctx, o.writers, o.creates, podCreator(c.cs, "par-"+c.name))
		if err != nil {
			return fmt.Errorf("%s: %d writers: %w", c.name, o.writers, err)
		}
		rate := float64(o.creates) / elapsed.Seconds()
		c.m.rates = append(c.m.rates, rate)
		fmt.Fprintf(out, "   %-5s %d writers: %d creates in %s = %.0f /s, p50 %s, p99 %s (load %.2f)\n",
			c.name, o.writers, o.creates, elapsed.Round(time.Millisecond), rate, us(percentile(lat, 0.5)), us(percentile(lat, 0.99)),
			benchserver.LoadAverage())
	}
	return nil
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

// createAll calls create for 0..n-1 from `writers` goroutines and returns
// the wall time and each call's latency. The first error stops everything.
func createAll(ctx context.Context, writers, n int, create func(ctx context.Context, i int) error) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				s := time.Now()
				if err := create(ctx, i); err != nil {
					cancel(fmt.Errorf("pod %d: %w", i, err))
					return
				}
				lat[i] = time.Since(s)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if err := context.Cause(ctx); err != nil {
		return elapsed, nil, err
	}
	return elapsed, lat, nil
}
