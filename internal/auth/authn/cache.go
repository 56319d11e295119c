package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// DefaultTokenCacheTTL is how long a successful token authentication is
// remembered: the kube-apiserver's default. Revoking a token (deleting its
// pod, its Secret) takes effect within it.
const DefaultTokenCacheTTL = 10 * time.Second

// maxCachedTokens bounds the cache, so a flood of distinct valid tokens
// costs memory in proportion to this, not to the flood.
const maxCachedTokens = 4096

// TokenCache remembers the tokens another TokenAuthenticator accepted, for
// a while, so that a client making many requests pays for one signature
// verification and one set of object lookups, not one per request.
// Refusals and no-opinions are not remembered: a refused token is cheap to
// refuse again and must not lock out a token that becomes valid.
type TokenCache struct {
	next TokenAuthenticator
	ttl  time.Duration
	now  func() time.Time
	// Entries are keyed by an HMAC of the token under a key made at start,
	// so the map holds nothing an attacker reading memory could replay.
	hmacKey [32]byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	info    user.Info
	expires time.Time
}

// NewTokenCache caches next's successes for ttl; now is the clock, nil
// meaning time.Now.
func NewTokenCache(next TokenAuthenticator, ttl time.Duration, now func() time.Time) *TokenCache {
	if now == nil {
		now = time.Now
	}
	c := &TokenCache{next: next, ttl: ttl, now: now, entries: map[[sha256.Size]byte]cacheEntry{}}
	rand.Read(c.hmacKey[:]) // never fails, per crypto/rand
	return c
}

// AuthenticateToken answers from the cache or asks the authenticator
// behind it.
func (c *TokenCache) AuthenticateToken(ctx context.Context, token string) (*user.Info, bool, error) {
	m := hmac.New(sha256.New, c.hmacKey[:])
	m.Write([]byte(token))
	var key [sha256.Size]byte
	m.Sum(key[:0])

	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return cloneInfo(&e.info), true, nil
	}

	info, ok, err := c.next.AuthenticateToken(ctx, token)
	if err != nil || !ok {
		return info, ok, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedTokens {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{info: *cloneInfo(info), expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return info, true, nil
}

// evict drops expired entries and, while the cache is still more than
// nine tenths full, arbitrary others. Called with mu held.
func (c *TokenCache) evict(now time.Time) {
	maps.DeleteFunc(c.entries, func(_ [sha256.Size]byte, e cacheEntry) bool { return !now.Before(e.expires) })
	// Freeing a tenth, not one, keeps eviction's scan off every insert.
	keep := maxCachedTokens - maxCachedTokens/10
	for k := range c.entries {
		if len(c.entries) <= keep {
			return
		}
		delete(c.entries, k)
	}
}

// Authenticate checks r's bearer token.
func (c *TokenCache) Authenticate(r *http.Request) (*user.Info, bool, error) {
	return authenticateBearer(r, c)
}

func cloneInfo(i *user.Info) *user.Info {
	out := &user.Info{Name: i.Name, UID: i.UID, Groups: slices.Clone(i.Groups)}
	if i.Extra != nil {
		out.Extra = make(map[string][]string, len(i.Extra))
		for k, v := range i.Extra {
			out.Extra[k] = slices.Clone(v)
		}
	}
	return out
}

// TokenUnion is Union for token authenticators: the first success wins,
// and errors count only when nobody succeeds. Put a TokenCache around it
// to cache all token kinds at once.
func TokenUnion(ts ...TokenAuthenticator) TokenAuthenticator {
	return tokenUnion(ts)
}

type tokenUnion []TokenAuthenticator

func (u tokenUnion) AuthenticateToken(ctx context.Context, token string) (*user.Info, bool, error) {
	var errs []error
	for _, t := range u {
		info, ok, err := t.AuthenticateToken(ctx, token)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return info, true, nil
		}
	}
	return nil, false, joinErrors(errs)
}
