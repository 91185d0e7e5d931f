package adminauth

import "testing"

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
	if New().Enabled() || !New(a).Enabled() {
		t.Fatal("Enabled")
	}
}
