package fingerprint

import (
	"strings"
	"testing"
)

// FuzzAppendCollapsed holds appendCollapsed to the definition it replaced,
// strings.Join(strings.Fields(s), " "): fingerprints stored in state
// databases by earlier versions must still match.
func FuzzAppendCollapsed(f *testing.F) {
	for _, s := range []string{"", " ", "a", "  a  b\t\tc \r\n", "\u00a0x\u0085y\u2003z\u3000", "\xff \xfe\u00a0\xc2", "<id@example.com>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.Join(strings.Fields(s), " ")
		if got := string(appendCollapsed([]byte("k:"), []byte(s))); got != "k:"+want {
			t.Errorf("appendCollapsed(%q) = %q; want %q", s, got, "k:"+want)
		}
	})
}
