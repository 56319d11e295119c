package pki

import (
	"strings"
	"testing"
)

func TestParseJoinToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"valid", "bosun1." + hash + "." + strings.Repeat("0f", 24), true},
		{"trailing newline", "bosun1." + hash + "." + strings.Repeat("0f", 24) + "\n", true},
		{"bare secret", strings.Repeat("0f", 24), false},
		{"short hash", "bosun1.abcd." + strings.Repeat("0f", 24), false},
		{"upper-case hex", "bosun1." + strings.ToUpper(hash) + "." + strings.Repeat("0f", 24), false},
		{"short secret", "bosun1." + hash + ".abc", false},
		{"no secret", "bosun1." + hash, false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseJoinToken(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseJoinToken(%q): err %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && tok.String() != strings.TrimSpace(tc.in) {
				t.Fatalf("round trip: %q != %q", tok.String(), tc.in)
			}
		})
	}
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add("bosun1." + strings.Repeat("ab", 32) + "." + strings.Repeat("0f", 24))
	f.Add("bosun1..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("a parsed token does not round-trip: %q -> %+v -> %v", s, tok, err)
		}
		if !tok.SecretMatches(tok.Secret) {
			t.Fatal("secret does not match itself")
		}
	})
}
