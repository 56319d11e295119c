// Package dns owns the cluster DNS server: it answers the records of the
// Kubernetes DNS specification (A, AAAA, SRV, CNAME and PTR for Services
// and their endpoints, A-B-C-D.NS.pod names, the dns-version TXT record)
// under the cluster domain from an in-memory index kept current by Service
// and EndpointSlice informers, and forwards every other name to upstream
// resolvers through a small cache.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// Config says which domain the server answers for and where the rest goes.
type Config struct {
	// Domain is the cluster domain; "cluster.local" when empty.
	Domain string
	// Upstreams are host:port resolvers for names outside the domain, tried
	// in order; the nameservers of /etc/resolv.conf when nil.
	Upstreams []string
	// CacheSize bounds the number of cached upstream answers; 10000 when 0,
	// no cache when negative.
	CacheSize int
	// Logger, or slog.Default when nil.
	Logger *slog.Logger
}

// Server is a cluster DNS server. Create it with New and start it with Run.
type Server struct {
	index   *index
	fwd     *forwarder
	factory informers.SharedInformerFactory
	log     *slog.Logger
}

// New builds a Server watching Services and EndpointSlices through client.
func New(client kubernetes.Interface, cfg Config) (*Server, error) {
	domain := strings.ToLower(strings.Trim(cfg.Domain, "."))
	if domain == "" {
		domain = "cluster.local"
	}
	if _, ok := mdns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("cluster domain %q is not a domain name", cfg.Domain)
	}
	upstreams := cfg.Upstreams
	if upstreams == nil {
		rc, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("reading upstream resolvers: %w", err)
		}
		for _, s := range rc.Servers {
			upstreams = append(upstreams, net.JoinHostPort(s, rc.Port))
		}
	}
	size := cfg.CacheSize
	if size == 0 {
		size = 10000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		index: newIndex(domain),
		fwd: &forwarder{
			upstreams: upstreams,
			timeout:   2 * time.Second,
			cache:     newAnswerCache(size, time.Now),
		},
		factory: informers.NewSharedInformerFactory(client, 0),
		log:     log,
	}
	if _, err := s.factory.Core().V1().Services().Informer().AddEventHandler(s.index.serviceHandler()); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	if _, err := s.factory.Discovery().V1().EndpointSlices().Informer().AddEventHandler(s.index.sliceHandler()); err != nil {
		return nil, fmt.Errorf("watching endpointslices: %w", err)
	}
	return s, nil
}

// Run serves DNS on addr over UDP and TCP until ctx ends, which returns nil.
// It waits for the informers to sync first, so the server never answers
// NXDOMAIN for a Service merely not listed yet.
func (s *Server) Run(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("dns: listen udp %s: %w", addr, err)
	}
	// Use the port UDP got, so ":0" yields one port for both transports.
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: listen tcp %s: %w", pc.LocalAddr(), err)
	}
	return s.Serve(ctx, pc, ln)
}

// Serve is Run on listeners the caller opened; it closes them on return.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			pc.Close()
			ln.Close()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns: %v informer did not sync", typ)
		}
	}
	udp := &mdns.Server{PacketConn: pc, Handler: s}
	tcp := &mdns.Server{Listener: ln, Handler: s}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	s.log.InfoContext(ctx, "cluster dns serving", "addr", pc.LocalAddr().String(), "domain", s.index.domain)

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	// Shutdown fails for a server that never started; that only matters
	// through the error its serve goroutine already returned.
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	if first != nil {
		return fmt.Errorf("dns: serving: %w", first)
	}
	return nil
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := s.handle(context.Background(), req)
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		// RFC 6891: a client that speaks EDNS gets an OPT record back.
		if resp.IsEdns0() == nil {
			resp.SetEdns0(mdns.DefaultMsgSize, false)
		}
	}
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		resp.Truncate(size)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns: writing reply", "err", err)
	}
}

// maxChase bounds how many CNAMEs in a row an answer follows, so
// ExternalName Services pointing at each other cannot loop.
const maxChase = 8

// chase follows an ExternalName's CNAME to the records the client asked
// for, as the DNS specification's example answer shows, so a client gets
// addresses in one round trip: inside the cluster domain from the index,
// elsewhere through the forwarder. A target that cannot be resolved
// leaves the CNAME alone for the client to follow.
func (s *Server) chase(ctx context.Context, rrs []mdns.RR, q mdns.Question) []mdns.RR {
	if q.Qtype == mdns.TypeCNAME || q.Qtype == mdns.TypeANY {
		return nil
	}
	zone := s.index.domain + "."
	var out []mdns.RR
	for range maxChase {
		if len(rrs) != 1 {
			return out
		}
		cname, ok := rrs[0].(*mdns.CNAME)
		if !ok {
			return out
		}
		target := cname.Target
		if target == zone || mdns.IsSubDomain(zone, target) {
			rrs = s.index.lookup(target, q.Qtype).rrs
			out = append(out, rrs...)
			continue
		}
		m := new(mdns.Msg)
		m.SetQuestion(target, q.Qtype)
		up, err := s.fwd.forward(ctx, m)
		if err != nil {
			return out
		}
		return append(out, up.Answer...)
	}
	return out
}

// handle answers one query; it never returns nil.
func (s *Server) handle(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	if req.Opcode != mdns.OpcodeQuery {
		resp.SetRcode(req, mdns.RcodeNotImplemented)
		return resp
	}
	if len(req.Question) != 1 {
		resp.SetRcode(req, mdns.RcodeFormatError)
		return resp
	}
	q := req.Question[0]
	qname := strings.ToLower(mdns.Fqdn(q.Name))
	zone := s.index.domain + "."

	if q.Qclass == mdns.ClassINET && (qname == zone || mdns.IsSubDomain(zone, qname)) {
		a := s.index.lookup(qname, q.Qtype)
		resp.Authoritative = true
		resp.Answer = append(a.rrs, s.chase(ctx, a.rrs, q)...)
		resp.Extra = a.extra
		if !a.exists {
			resp.Rcode = mdns.RcodeNameError
		}
		if len(a.rrs) == 0 {
			resp.Ns = []mdns.RR{s.index.soa()}
		}
		// Answers carry the lowercased name; give back the client's spelling.
		for _, rr := range resp.Answer {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				rr.Header().Name = q.Name
			}
		}
		return resp
	}
	if q.Qclass == mdns.ClassINET && q.Qtype == mdns.TypePTR {
		if rr, ok := s.index.reverse(qname); ok {
			rr.Header().Name = q.Name
			resp.Authoritative = true
			resp.Answer = []mdns.RR{rr}
			return resp
		}
	}
	up, err := s.fwd.forward(ctx, req)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.DebugContext(ctx, "dns: forwarding", "name", q.Name, "err", err)
		}
		resp.SetRcode(req, mdns.RcodeServerFailure)
		return resp
	}
	// A cached answer carries the question as first asked; echo this one's.
	up.Question = req.Question
	return up
}
