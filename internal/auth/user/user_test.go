package user

import (
	"errors"
	"slices"
	"testing"
)

func TestParseServiceAccountUsername(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		wantNS   string
		wantName string
		wantErr  bool
	}{
		{"plain", "system:serviceaccount:team:dev", "team", "dev", false},
		{"dotted name", "system:serviceaccount:kube-system:a.b-c", "kube-system", "a.b-c", false},
		{"not an account", "alice", "", "", true},
		{"group prefix", "system:serviceaccounts:team", "", "", true},
		{"missing name", "system:serviceaccount:team", "", "", true},
		{"empty name", "system:serviceaccount:team:", "", "", true},
		{"empty namespace", "system:serviceaccount::dev", "", "", true},
		{"extra colon", "system:serviceaccount:team:dev:x", "", "", true},
		{"upper case", "system:serviceaccount:Team:dev", "", "", true},
		{"dotted namespace", "system:serviceaccount:a.b:dev", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, name, err := ParseServiceAccountUsername(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotServiceAccount) {
				t.Errorf("err = %v, does not wrap ErrNotServiceAccount", err)
			}
			if ns != tc.wantNS || name != tc.wantName {
				t.Errorf("got %q/%q, want %q/%q", ns, name, tc.wantNS, tc.wantName)
			}
		})
	}
}

func TestServiceAccountNames(t *testing.T) {
	if got := ServiceAccountUsername("team", "dev"); got != "system:serviceaccount:team:dev" {
		t.Errorf("username %q", got)
	}
	if got := ServiceAccountGroups("team"); !slices.Equal(got, []string{"system:serviceaccounts", "system:serviceaccounts:team"}) {
		t.Errorf("groups %q", got)
	}
}

func FuzzParseServiceAccountUsername(f *testing.F) {
	for _, s := range []string{"system:serviceaccount:team:dev", "system:serviceaccount::", "alice", "system:serviceaccount:a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, name, err := ParseServiceAccountUsername(s)
		if err != nil {
			return
		}
		if ServiceAccountUsername(ns, name) != s {
			t.Fatalf("%q parsed to %q/%q, which does not round-trip", s, ns, name)
		}
	})
}
