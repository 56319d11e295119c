package dns

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// maxCacheTTL bounds how long an upstream answer is reused, whatever TTL
// the upstream gave.
const maxCacheTTL = time.Hour

// forwarder sends queries outside the cluster domain to upstream resolvers
// and caches their answers for their TTL.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	cache     *answerCache

	// inflight joins identical queries that miss the cache at once, so a
	// burst of pods asking the same name costs the upstream one query.
	mu       sync.Mutex
	inflight map[string]*call
}

type call struct {
	done chan struct{}
	msg  *mdns.Msg
	err  error
}

var errNoUpstream = errors.New("no upstream resolver answered")

func (f *forwarder) forward(ctx context.Context, req *mdns.Msg) (*mdns.Msg, error) {
	q := req.Question[0]
	key := cacheKey(q)
	if m := f.cache.get(key); m != nil {
		m.Id = req.Id
		return m, nil
	}
	f.mu.Lock()
	if c, ok := f.inflight[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err != nil {
			return nil, c.err
		}
		m := c.msg.Copy()
		m.Id = req.Id
		return m, nil
	}
	c := &call{done: make(chan struct{})}
	if f.inflight == nil {
		f.inflight = map[string]*call{}
	}
	f.inflight[key] = c
	f.mu.Unlock()

	c.msg, c.err = f.ask(ctx, q)
	if c.err == nil {
		// Cached before the call is forgotten, so a query arriving in
		// between finds the answer instead of asking upstream again.
		f.cache.put(key, c.msg)
	}
	f.mu.Lock()
	delete(f.inflight, key)
	f.mu.Unlock()
	close(c.done)
	if c.err != nil {
		return nil, c.err
	}
	m := c.msg.Copy()
	m.Id = req.Id
	return m, nil
}

// ask sends q to each upstream in turn until one answers.
func (f *forwarder) ask(ctx context.Context, q mdns.Question) (*mdns.Msg, error) {
	out := new(mdns.Msg)
	out.SetQuestion(q.Name, q.Qtype)
	out.Question[0].Qclass = q.Qclass
	out.RecursionDesired = true
	var errs []error
	for _, up := range f.upstreams {
		resp, err := f.exchange(ctx, out, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", up, err))
			continue
		}
		return resp, nil
	}
	if len(errs) == 0 {
		return nil, errNoUpstream
	}
	return nil, fmt.Errorf("%w: %w", errNoUpstream, errors.Join(errs...))
}

func (f *forwarder) exchange(ctx context.Context, m *mdns.Msg, upstream string) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "udp", Timeout: f.timeout}
	resp, _, err := c.ExchangeContext(ctx, m, upstream)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, upstream)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func cacheKey(q mdns.Question) string {
	return fmt.Sprintf("%s/%d/%d", strings.ToLower(q.Name), q.Qtype, q.Qclass)
}

// answerCache is a bounded LRU of upstream answers keyed by question.
type answerCache struct {
	mu    sync.Mutex
	size  int
	now   func() time.Time
	order *list.List // front is most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
}

func newAnswerCache(size int, now func() time.Time) *answerCache {
	return &answerCache{size: size, now: now, order: list.New(), items: map[string]*list.Element{}}
}

// get returns a copy of the cached answer with TTLs reduced by its age, or
// nil when there is none or it expired.
func (c *answerCache) get(key string) *mdns.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	now := c.now()
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return nil
	}
	c.order.MoveToFront(el)
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, section := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

func (c *answerCache) put(key string, m *mdns.Msg) {
	if c.size <= 0 {
		return
	}
	life, ok := cacheLifetime(m)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := &cacheEntry{key: key, msg: m.Copy(), stored: now, expires: now.Add(life)}
	if el, ok := c.items[key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(e)
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

// cacheLifetime is the smallest TTL in the answer (for a negative answer,
// bounded by the SOA minimum as RFC 2308 says); ok is false for answers not
// worth caching: failures and zero TTLs.
func cacheLifetime(m *mdns.Msg) (time.Duration, bool) {
	if m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError {
		return 0, false
	}
	if m.Truncated {
		return 0, false
	}
	min := uint32(maxCacheTTL / time.Second)
	found := false
	for _, section := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			ttl := h.Ttl
			if soa, ok := rr.(*mdns.SOA); ok && soa.Minttl < ttl {
				ttl = soa.Minttl
			}
			found = true
			if ttl < min {
				min = ttl
			}
		}
	}
	if !found || min == 0 {
		// Nothing says how long this holds; don't guess.
		return 0, false
	}
	return time.Duration(min) * time.Second, true
}
