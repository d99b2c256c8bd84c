package cli

import (
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/provider"
)

// TestRunBudget checks the per-run cap of a one-shot sync: --max-bytes
// wins, else the lower of the source's daily download and the
// destination's daily upload budget.
func TestRunBudget(t *testing.T) {
	for _, tc := range []struct {
		flag, src, dst string
		want           int64
	}{
		{"", "generic", "generic", 0},
		{"", "gmail", "generic", 2500e6},
		{"", "generic", "gmail", 500e6},
		{"", "gmail", "gmail", 500e6},
		{"10MiB", "gmail", "gmail", 10 << 20},
		{"0", "gmail", "office365", 0},
	} {
		src, err := provider.Lookup(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := provider.Lookup(tc.dst)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runBudget(tc.flag, src, dst)
		if err != nil || got != tc.want {
			t.Errorf("runBudget(%q, %s, %s) = %d, %v; want %d", tc.flag, tc.src, tc.dst, got, err, tc.want)
		}
	}
	if _, err := runBudget("lots", provider.Profile{}, provider.Profile{}); err == nil {
		t.Error(`runBudget("lots") gave no error`)
	}
}
