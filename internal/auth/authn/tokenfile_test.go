package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseTokenFile(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr string
		check   map[string]struct {
			user, uid string
			groups    []string
		}
	}{
		{name: "kubernetes format", in: "t1,alice,1\nt2,bob,2,\"dev, ops\"\nt3,carol,3,\n", check: map[string]struct {
			user, uid string
			groups    []string
		}{
			"t1": {"alice", "1", []string{"system:authenticated"}},
			"t2": {"bob", "2", []string{"dev", "ops", "system:authenticated"}},
		}},
		{name: "byte order mark", in: "\ufefft1,alice,1\n", check: map[string]struct {
			user, uid string
			groups    []string
		}{"t1": {"alice", "1", []string{"system:authenticated"}}}},
		{name: "blank lines skipped", in: "\n\nt1,alice,1\n\n", check: map[string]struct {
			user, uid string
			groups    []string
		}{"t1": {"alice", "1", []string{"system:authenticated"}}}},
		{name: "empty file", in: ""},
		{name: "duplicate token", in: "t1,alice,1\nt2,bob,2\nt1,eve,3\n", wantErr: "line 3: token already given on line 1"},
		{name: "too few columns", in: "t1,alice,1\nt2,bob\n", wantErr: "line 2: 2 columns"},
		{name: "too many columns", in: "t1,alice,1,g,x\n", wantErr: "line 1: 5 columns"},
		{name: "empty token", in: ",alice,1\n", wantErr: "line 1: empty token"},
		{name: "empty user", in: "t1,,1\n", wantErr: "line 1: empty user name"},
		{name: "empty uid", in: "t1,alice,\n", wantErr: "line 1: empty uid"},
		{name: "empty group", in: "t1,alice,1,\"a,,b\"\n", wantErr: "line 1: empty group"},
		{name: "space in token", in: "t 1,alice,1\n", wantErr: "line 1: token contains white space"},
		{name: "bad quoting", in: "t1,alice,1\nt2,bob,2,\"dev\n", wantErr: "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseTokenFile(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for tok, want := range tc.check {
				info, ok, err := s.AuthenticateToken(context.Background(), tok)
				if err != nil || !ok || info.Name != want.user || info.UID != want.uid || !slices.Equal(info.Groups, want.groups) {
					t.Errorf("%s: %+v, %v, %v", tok, info, ok, err)
				}
			}
		})
	}
}

func TestStaticTokensAuthenticate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(path, []byte("secret-token,alice,1,\"dev\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header string
		ok     bool
	}{
		{"good", "Bearer secret-token", true},
		{"unknown token", "Bearer secret-tokem", false},
		{"prefix of a token", "Bearer secret", false},
		{"malformed header", "Bearersecret-token", false},
		{"basic auth", "Basic secret-token", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", tc.header)
			info, ok, err := s.Authenticate(r)
			if err != nil || ok != tc.ok {
				t.Fatalf("got %+v, %v, %v", info, ok, err)
			}
		})
	}
	// The Info handed out is the caller's: changing it changes nothing stored.
	info, _, _ := s.AuthenticateToken(context.Background(), "secret-token")
	info.Groups[0] = "system:masters"
	again, _, _ := s.AuthenticateToken(context.Background(), "secret-token")
	if again.Groups[0] != "dev" {
		t.Errorf("stored groups changed to %q", again.Groups)
	}
}

func FuzzParseTokenFile(f *testing.F) {
	for _, s := range []string{
		"t1,alice,1\nt2,bob,2,\"dev,ops\"\n",
		"\ufefft,u,i,",
		"t,u,i\nt,u,i\n",
		"\"a\nb\",u,i\n",
		",,,\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseTokenFile(strings.NewReader(in))
		if err != nil {
			return
		}
		for tok, u := range s.users {
			if u.Name == "" || u.UID == "" || !slices.Contains(u.Groups, "system:authenticated") {
				t.Fatalf("token %x: %+v", tok, u)
			}
			for _, g := range u.Groups {
				if g == "" {
					t.Fatalf("token %x: empty group in %q", tok, u.Groups)
				}
			}
		}
	})
}
