// Package ingress is the node's Ingress controller: it watches
// Ingresses of its IngressClass with the Services, EndpointSlices and TLS
// Secrets they name, keeps an immutable routing table built from them,
// and reverse-proxies HTTP and HTTPS requests straight to ready pod
// endpoints, writing the node's addresses into each Ingress' status. It
// owns its listeners and its client connection pool to pods; it installs
// nothing in the kernel.
package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// DefaultClass is the IngressClass served when Config.Class is empty.
const DefaultClass = "bosun"

const (
	// settle is how long a burst of changes is collected before the
	// table is rebuilt once for all of them.
	settle = 75 * time.Millisecond
	// shutdownGrace bounds how long in-flight requests may take to
	// finish once Run's context ends.
	shutdownGrace = 5 * time.Second
	// statusRetry is how long a failed status write waits before the
	// next attempt when nothing else changes.
	statusRetry = 5 * time.Second
)

// Config says where the controller listens and what it serves.
type Config struct {
	HTTPAddr, HTTPSAddr string       // e.g. ":80", ":443"; "" disables that listener
	Class               string       // IngressClass name it serves; "bosun" when ""
	StatusAddresses     []netip.Addr // written into status.loadBalancer.ingress[].ip
	Logger              *slog.Logger
}

// Run serves until ctx ends, then closes listeners gracefully (in-flight
// requests finish, bounded by ~5 s). It returns an error at once if a
// listener cannot be opened.
func Run(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	var httpLn, httpsLn net.Listener
	var err error
	if cfg.HTTPAddr != "" {
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("ingress HTTP listener: %w", err)
		}
	}
	if cfg.HTTPSAddr != "" {
		if httpsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			if httpLn != nil {
				httpLn.Close()
			}
			return fmt.Errorf("ingress HTTPS listener: %w", err)
		}
	}
	return serve(ctx, client, cfg, httpLn, httpsLn)
}

// controller is the state shared by the watch loop and the servers.
type controller struct {
	client kubernetes.Interface
	cfg    Config
	log    *slog.Logger
	table  atomic.Pointer[table]
	certs  *certCache
}

// serve is Run on listeners already open (either may be nil), so tests
// can listen on port 0 and learn the port.
func serve(ctx context.Context, client kubernetes.Interface, cfg Config, httpLn, httpsLn net.Listener) error {
	if cfg.Class == "" {
		cfg.Class = DefaultClass
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ingress")
	c := &controller{client: client, cfg: cfg, log: log, certs: newCertCache(log)}

	fallback, err := selfSigned()
	if err != nil {
		closeAll(httpLn, httpsLn)
		return err
	}
	h := newHandler(&c.table, log)
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	// Requests hang off base, not ctx, so ctx ending lets them finish;
	// base ends after the graceful shutdown, which is what closes the
	// upgraded connections (WebSockets) Shutdown does not wait for.
	base, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	newServer := func() *http.Server {
		return &http.Server{
			BaseContext:       func(net.Listener) context.Context { return base },
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          errLog,
		}
	}
	var servers []*http.Server
	errc := make(chan error, 2)
	if httpLn != nil {
		srv := newServer()
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(httpLn) }()
		log.Info("serving HTTP", "addr", httpLn.Addr().String())
	}
	if httpsLn != nil {
		srv := newServer()
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if t := c.table.Load(); t != nil {
					if cert := t.certificate(hello.ServerName); cert != nil {
						return cert, nil
					}
				}
				return fallback, nil
			},
		}
		servers = append(servers, srv)
		go func() { errc <- srv.ServeTLS(httpsLn, "", "") }()
		log.Info("serving HTTPS", "addr", httpsLn.Addr().String())
	}

	wctx, stopWatch := context.WithCancel(ctx)
	watchErr := make(chan error, 1)
	go func() { watchErr <- c.watch(wctx) }()

	var result error
	watchEnded := false
	select {
	case <-ctx.Done():
		result = ctx.Err()
	case err := <-errc:
		result = fmt.Errorf("ingress server: %w", err)
	case err := <-watchErr:
		result = fmt.Errorf("ingress watch: %w", err)
		watchEnded = true
	}
	stopWatch()
	shutdown(servers, log)
	endRequests()
	if !watchEnded {
		<-watchErr
	}
	return result
}

func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// shutdown lets in-flight requests finish for up to shutdownGrace, then
// cuts what is left. Hijacked connections (WebSockets) are not waited for.
func shutdown(servers []*http.Server, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("in-flight ingress requests cut at shutdown", "err", err)
			srv.Close()
		}
	}
}

// watch rebuilds the routing table whenever what it is built from
// changes, and keeps the served Ingresses' status current.
func (c *controller) watch(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(c.client, 0)
	ingInf := factory.Networking().V1().Ingresses()
	classInf := factory.Networking().V1().IngressClasses()
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	secretInf := factory.InformerFor(&corev1.Secret{}, newTLSSecretInformer)

	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	infs := []cache.SharedIndexInformer{ingInf.Informer(), classInf.Informer(), svcInf.Informer(), sliceInf.Informer(), secretInf}
	synced := make([]cache.InformerSynced, 0, len(infs))
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
		synced = append(synced, inf.HasSynced)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	for {
		var s state
		var err error
		ings, err := ingInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		classes, err := classInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		if s.services, err = svcInf.Lister().List(labels.Everything()); err != nil {
			return err
		}
		if s.slices, err = sliceInf.Lister().List(labels.Everything()); err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, o := range secretInf.GetStore().List() {
			if sec, ok := o.(*corev1.Secret); ok && sec.Type == corev1.SecretTypeTLS {
				s.secrets = append(s.secrets, sec)
				keep[sec.Namespace+"/"+sec.Name] = true
			}
		}
		isDefault := isDefaultClass(classes, c.cfg.Class)
		for _, ing := range ings {
			if serves(ing, c.cfg.Class, isDefault) {
				s.ingresses = append(s.ingresses, ing)
			}
		}
		c.certs.forget(keep)
		c.table.Store(build(s, c.certs.get))
		c.log.Debug("routing table rebuilt", "ingresses", len(s.ingresses))

		if err := c.writeStatus(ctx, s.ingresses); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Warn("writing ingress status; retrying", "err", err)
			time.AfterFunc(statusRetry, poke)
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
	}
}

func (c *controller) writeStatus(ctx context.Context, ings []*networkingv1.Ingress) error {
	if len(c.cfg.StatusAddresses) == 0 {
		return nil
	}
	var errs []error
	for _, ing := range ings {
		if err := ensureStatus(ctx, c.client, ing, c.cfg.StatusAddresses); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newTLSSecretInformer watches only TLS Secrets: the controller has no
// use for the others, and they are most of a cluster's Secrets.
func newTLSSecretInformer(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
	return coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.FieldSelector = "type=" + string(corev1.SecretTypeTLS) })
}
