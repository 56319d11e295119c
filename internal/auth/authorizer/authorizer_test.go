package authorizer

import (
	"context"
	"errors"
	"testing"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

func fixed(d Decision, reason string, err error) Authorizer {
	return Func(func(context.Context, Attributes) (Decision, string, error) { return d, reason, err })
}

func TestUnion(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name       string
		chain      []Authorizer
		want       Decision
		wantReason string
		wantErr    bool
	}{
		{"empty chain has no opinion", nil, NoOpinion, "", false},
		{"first allow wins", []Authorizer{fixed(Allow, "a", nil), fixed(Deny, "d", nil)}, Allow, "a", false},
		{"first deny wins", []Authorizer{fixed(NoOpinion, "", nil), fixed(Deny, "d", nil), fixed(Allow, "a", nil)}, Deny, "d", false},
		{"no opinion joins reasons", []Authorizer{fixed(NoOpinion, "x", nil), fixed(NoOpinion, "y", nil)}, NoOpinion, "x; y", false},
		{"errors before an allow are dropped", []Authorizer{fixed(NoOpinion, "", boom), fixed(Allow, "a", nil)}, Allow, "a", false},
		{"errors without a decision come back", []Authorizer{fixed(NoOpinion, "", boom), fixed(NoOpinion, "", nil)}, NoOpinion, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := Union(tc.chain...).Authorize(context.Background(), Attributes{})
			if d != tc.want || reason != tc.wantReason || (err != nil) != tc.wantErr {
				t.Errorf("got %v %q %v, want %v %q error=%v", d, reason, err, tc.want, tc.wantReason, tc.wantErr)
			}
		})
	}
}

func TestPrivileged(t *testing.T) {
	cases := []struct {
		name   string
		groups []string
		want   Decision
	}{
		{"masters", []string{user.AllAuthenticated, user.SystemPrivilegedGroup}, Allow},
		{"others", []string{user.AllAuthenticated}, NoOpinion},
		{"no groups", nil, NoOpinion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _ := Privileged.Authorize(context.Background(), Attributes{User: user.Info{Name: "x", Groups: tc.groups}, Verb: "delete", ResourceRequest: true, Resource: "nodes"})
			if d != tc.want {
				t.Errorf("got %v, want %v", d, tc.want)
			}
		})
	}
}
