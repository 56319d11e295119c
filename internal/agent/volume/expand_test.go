package volume

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "bee", "EMPTY": "", "WITH$": "x"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	cases := []struct {
		name, in, want string
	}{
		{"plain", "hello", "hello"},
		{"one", "$(A)", "a"},
		{"surrounded", "x$(A)y$(B)z", "xaybeez"},
		{"unknown kept", "$(NOPE)", "$(NOPE)"},
		{"empty value", "[$(EMPTY)]", "[]"},
		{"escaped", "$$(A)", "$(A)"},
		{"double escaped", "$$$$(A)", "$$(A)"},
		{"escape then ref", "$$$(A)", "$a"},
		{"lone dollar end", "cost$", "cost$"},
		{"dollar other", "$A $1", "$A $1"},
		{"unterminated", "$(A", "$(A"},
		{"paren scan takes first close", "$($(A)", "$($(A)"},
		{"unterminated then text", "$(A x", "$(A x"},
		{"empty name", "$()", "$()"},
		{"nested parens", "$(A(B))", "$(A(B))"},
		{"dollar in name", "$(WITH$)", "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expand(tc.in, lookup); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "$(", "$()", "$(A)", "a$(A)b$$c$(", "$$(A)$(B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// With no known names the text may only lose the escaping "$" of "$$".
		got := Expand(s, func(string) (string, bool) { return "", false })
		if len(got) > len(s) {
			t.Fatalf("Expand(%q) grew to %q with no variables", s, got)
		}
		if !strings.Contains(s, "$$") && got != s {
			t.Fatalf("Expand(%q) = %q, want unchanged without escapes or known names", s, got)
		}
		// Every known name maps to a marker free of "$", so the output cannot contain
		// a complete reference that was resolvable.
		out := Expand(s, func(string) (string, bool) { return "#", true })
		if strings.Count(out, "#") > strings.Count(s, "$(")+strings.Count(s, "#") {
			t.Fatalf("Expand(%q) = %q substituted more references than exist", s, out)
		}
	})
}
