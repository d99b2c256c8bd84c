package mailsync

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestFlagSetsShare(t *testing.T) {
	var fs flagSets
	tests := []struct {
		name  string
		flags []imap.Flag
	}{
		{"None", nil},
		{"Seen", []imap.Flag{imap.FlagSeen}},
		{"SeenAnswered", []imap.Flag{imap.FlagAnswered, imap.FlagSeen}},
		{"Keyword", []imap.Flag{"$Label1", imap.FlagSeen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fs.get(slices.Clone(tt.flags))
			if b := fs.get(slices.Clone(tt.flags)); a != b {
				t.Errorf("get(%v) twice gave two sets; want one shared", tt.flags)
			}
			if !slices.Equal(a.flags, tt.flags) {
				t.Errorf("get(%v).flags = %v", tt.flags, a.flags)
			}
			if len(a.strs) != len(tt.flags) {
				t.Fatalf("get(%v).strs = %q", tt.flags, a.strs)
			}
			for i := range a.strs {
				if a.strs[i] != string(tt.flags[i]) {
					t.Errorf("get(%v).strs = %q", tt.flags, a.strs)
				}
			}
			// The state's form finds the same set.
			if c := fs.ofStrings(slices.Clone(a.strs)); c != a {
				t.Errorf("ofStrings(%q) gave another set than get(%v)", a.strs, tt.flags)
			}
		})
	}
	// A set first met in the state's form is made.
	if got := fs.ofStrings([]string{"$New", `\Flagged`}); !slices.Equal(got.flags, []imap.Flag{"$New", imap.FlagFlagged}) {
		t.Errorf("ofStrings([$New \\Flagged]).flags = %v", got.flags)
	}
	// Sets that differ only by where a flag ends must not share a key.
	if got := fs.get([]imap.Flag{"ab", "c"}); !slices.Equal(got.flags, []imap.Flag{"ab", "c"}) {
		t.Errorf("get([ab c]).flags = %v", got.flags)
	}
	if got := fs.get([]imap.Flag{"a", "bc"}); !slices.Equal(got.flags, []imap.Flag{"a", "bc"}) {
		t.Errorf("get([a bc]).flags = %v", got.flags)
	}
	// addFlag must not write into the shared slice.
	shared := fs.get([]imap.Flag{imap.FlagSeen}).flags
	_ = addFlag(shared, "$Label1")
	if again := fs.get([]imap.Flag{imap.FlagSeen}).flags; !slices.Equal(again, []imap.Flag{imap.FlagSeen}) {
		t.Errorf("after addFlag, the shared set is %v", again)
	}
}
