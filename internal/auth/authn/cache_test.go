package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// countingTokens accepts "good-*" tokens, refuses "bad", and counts calls.
type countingTokens struct{ calls int }

func (c *countingTokens) AuthenticateToken(_ context.Context, token string) (*user.Info, bool, error) {
	c.calls++
	switch {
	case token == "bad":
		return nil, false, errors.New("refused")
	case len(token) > 5 && token[:5] == "good-":
		return &user.Info{Name: token, Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}}, true, nil
	}
	return nil, false, nil
}

func TestTokenCache(t *testing.T) {
	now := time.Unix(1000, 0)
	next := &countingTokens{}
	c := NewTokenCache(next, 10*time.Second, func() time.Time { return now })
	ctx := context.Background()

	steps := []struct {
		name      string
		token     string
		advance   time.Duration
		wantOK    bool
		wantErr   bool
		wantCalls int
	}{
		{"first use asks", "good-a", 0, true, false, 1},
		{"second use is cached", "good-a", 5 * time.Second, true, false, 1},
		{"another token asks", "good-b", 0, true, false, 2},
		{"expired entry asks again", "good-a", 6 * time.Second, true, false, 3},
		{"refusal asks", "bad", 0, false, true, 4},
		{"refusal is not cached", "bad", 0, false, true, 5},
		{"no opinion is not cached", "other", 0, false, false, 6},
		{"no opinion asks again", "other", 0, false, false, 7},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		info, ok, err := c.AuthenticateToken(ctx, s.token)
		if ok != s.wantOK || (err != nil) != s.wantErr || next.calls != s.wantCalls {
			t.Fatalf("%s: got %+v, %v, %v after %d calls; want ok %v, error %v, %d calls", s.name, info, ok, err, next.calls, s.wantOK, s.wantErr, s.wantCalls)
		}
	}

	// What a caller does with its Info never reaches the cache.
	info, _, _ := c.AuthenticateToken(ctx, "good-a")
	info.Groups[0] = "system:masters"
	info.Extra["k"][0] = "x"
	again, _, _ := c.AuthenticateToken(ctx, "good-a")
	if again.Groups[0] != "g" || again.Extra["k"][0] != "v" {
		t.Errorf("cached info changed: %+v", again)
	}

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer good-a")
	if info, ok, err := c.Authenticate(r); !ok || err != nil || info.Name != "good-a" {
		t.Errorf("from a request: %+v, %v, %v", info, ok, err)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := NewTokenCache(&countingTokens{}, time.Hour, nil)
	for n := range 3 * maxCachedTokens {
		if _, ok, err := c.AuthenticateToken(context.Background(), fmt.Sprintf("good-%d", n)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if len(c.entries) > maxCachedTokens {
		t.Errorf("%d entries, bound %d", len(c.entries), maxCachedTokens)
	}
}

func TestTokenUnion(t *testing.T) {
	static, err := ParseTokenFile(strings.NewReader("abcdef.0123456789abcdef,alice,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	refuses := tokenFunc(func(string) (*user.Info, bool, error) { return nil, false, errors.New("refused") })
	u := Bearer(TokenUnion(refuses, static))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer abcdef.0123456789abcdef")
	if info, ok, err := u.Authenticate(r); !ok || err != nil || info.Name != "alice" {
		t.Errorf("a later success must win over an earlier refusal: %+v, %v, %v", info, ok, err)
	}
	r.Header.Set("Authorization", "Bearer unknown")
	if _, ok, err := u.Authenticate(r); ok || err == nil {
		t.Errorf("refusal without success: %v, %v", ok, err)
	}
	r.Header.Del("Authorization")
	if _, ok, err := u.Authenticate(r); ok || err != nil {
		t.Errorf("no token: %v, %v", ok, err)
	}
}

type tokenFunc func(string) (*user.Info, bool, error)

func (f tokenFunc) AuthenticateToken(_ context.Context, token string) (*user.Info, bool, error) {
	return f(token)
}
