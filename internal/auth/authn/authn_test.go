package authn

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

func fixed(name string, ok bool, err error) Authenticator {
	return AuthenticatorFunc(func(*http.Request) (*user.Info, bool, error) {
		if !ok {
			return nil, false, err
		}
		return &user.Info{Name: name}, true, nil
	})
}

func TestUnion(t *testing.T) {
	errBad := errors.New("bad token")
	cases := []struct {
		name     string
		as       []Authenticator
		wantUser string
		wantErr  bool
	}{
		{"none", nil, "", false},
		{"no opinions", []Authenticator{fixed("", false, nil), fixed("", false, nil)}, "", false},
		{"first success wins", []Authenticator{fixed("", false, nil), fixed("a", true, nil), fixed("b", true, nil)}, "a", false},
		{"success after an error", []Authenticator{fixed("", false, errBad), fixed("a", true, nil)}, "a", false},
		{"error without success", []Authenticator{fixed("", false, errBad), fixed("", false, nil)}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, ok, err := Union(tc.as...).Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
			if (err != nil) != tc.wantErr || ok != (tc.wantUser != "") {
				t.Fatalf("got %v, %v, %v", info, ok, err)
			}
			if ok && info.Name != tc.wantUser {
				t.Errorf("user %q, want %q", info.Name, tc.wantUser)
			}
			if tc.wantErr && !errors.Is(err, errBad) {
				t.Errorf("err %v does not wrap the authenticator's", err)
			}
		})
	}
}

func TestOrAnonymous(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	info, ok, err := OrAnonymous(fixed("", false, nil)).Authenticate(r)
	if err != nil || !ok || info.Name != user.Anonymous || !slices.Equal(info.Groups, []string{user.AllUnauthenticated}) {
		t.Errorf("no credentials: %+v, %v, %v", info, ok, err)
	}
	if _, ok, err := OrAnonymous(fixed("", false, errors.New("bad"))).Authenticate(r); ok || err == nil {
		t.Errorf("bad credentials became anonymous: %v, %v", ok, err)
	}
	if info, ok, _ := OrAnonymous(fixed("alice", true, nil)).Authenticate(r); !ok || info.Name != "alice" {
		t.Errorf("good credentials: %+v", info)
	}
}
