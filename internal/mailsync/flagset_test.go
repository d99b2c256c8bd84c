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
			a := fs.flags(slices.Clone(tt.flags))
			b := fs.flags(slices.Clone(tt.flags))
			if !slices.Equal(a, tt.flags) {
				t.Errorf("flags(%v) = %v", tt.flags, a)
			}
			if len(a) > 0 && &a[0] != &b[0] {
				t.Errorf("flags(%v) twice gave two copies; want one shared", tt.flags)
			}
			s := fs.strings(tt.flags)
			if len(s) != len(tt.flags) {
				t.Fatalf("strings(%v) = %q", tt.flags, s)
			}
			for i := range s {
				if s[i] != string(tt.flags[i]) {
					t.Errorf("strings(%v) = %q", tt.flags, s)
				}
			}
		})
	}
	// Sets that differ only by where a flag ends must not share a key.
	if got := fs.flags([]imap.Flag{"ab", "c"}); !slices.Equal(got, []imap.Flag{"ab", "c"}) {
		t.Errorf("flags([ab c]) = %v", got)
	}
	if got := fs.flags([]imap.Flag{"a", "bc"}); !slices.Equal(got, []imap.Flag{"a", "bc"}) {
		t.Errorf("flags([a bc]) = %v", got)
	}
	// addFlag must not write into the shared slice.
	shared := fs.flags([]imap.Flag{imap.FlagSeen})
	_ = addFlag(shared, "$Label1")
	if again := fs.flags([]imap.Flag{imap.FlagSeen}); !slices.Equal(again, []imap.Flag{imap.FlagSeen}) {
		t.Errorf("after addFlag, the shared set is %v", again)
	}
}
