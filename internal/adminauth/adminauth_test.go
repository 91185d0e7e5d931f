package adminauth

import (
	"slices"
	"testing"
)

func TestTokens(t *testing.T) {
	const a, b = "first-admin-token-0123456789", "second-admin-token-0123456789"
	var zero Tokens
	for _, tc := range []struct {
		name string
		t    *Tokens
		tok  string
		want bool
	}{
		{"nil accepts nothing", nil, a, false},
		{"zero accepts nothing", &zero, a, false},
		{"no tokens accepts the empty one neither", New(""), "", false},
		{"the token", New(a), a, true},
		{"another", New(a), b, false},
		{"a prefix", New(a), a[:10], false},
		{"with a space", New(a), a + " ", false},
		{"either of two", New(a, b), b, true},
		{"empty given", New(a, b), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.Check(tc.tok); got != tc.want {
				t.Fatalf("Check(%q) = %v, want %v", tc.tok, got, tc.want)
			}
		})
	}
	if New().Enabled() || !New(a).Enabled() || zero.Enabled() {
		t.Fatal("Enabled")
	}
}

// TestTokensSet: Set replaces the accepted tokens at once; an overlap of
// old and new, then the new alone, is a rotation without a restart.
func TestTokensSet(t *testing.T) {
	const old, next = "old-admin-token-0123456789", "next-admin-token-0123456789"
	tk := New(old)
	tk.Set(old, next)
	if !tk.Check(old) || !tk.Check(next) || tk.Len() != 2 {
		t.Fatal("during the overlap both tokens must be accepted")
	}
	tk.Set(next)
	if tk.Check(old) || !tk.Check(next) {
		t.Fatal("after the rotation only the new token may be accepted")
	}
	tk.Set()
	if tk.Enabled() {
		t.Fatal("an empty set must disable admin access")
	}
}

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{" a , b ,,c ", []string{"a", "b", "c"}},
		{"a\nb\r\n\n  c  \n", []string{"a", "b", "c"}},
		{"# new token first\na\n  # old, until Friday\nb\n", []string{"a", "b"}},
		{"a,b\nc", []string{"a", "b", "c"}},
	} {
		if got := ParseList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
