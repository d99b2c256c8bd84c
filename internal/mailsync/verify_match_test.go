package mailsync

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestStorableFlags(t *testing.T) {
	t.Parallel()
	system := []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}
	tests := []struct {
		name string
		sel  imap.SelectData
		flag imap.Flag
		want bool
	}{
		{"WildcardKeepsAnyKeyword", imap.SelectData{PermanentFlags: append(system, imap.FlagWildcard)}, "$Label9", true},
		{"NoWildcardDropsKeyword", imap.SelectData{PermanentFlags: system}, "$Label9", false},
		{"NoWildcardListedKeyword", imap.SelectData{PermanentFlags: append(system, "$MDNSent")}, "$mdnsent", true},
		{"NoWildcardSystemFlag", imap.SelectData{PermanentFlags: system}, `\seen`, true},
		// EXAMINE: "PERMANENTFLAGS ()", so FLAGS speaks.
		{"ReadOnlyKeywordInFlags", imap.SelectData{Flags: append(system, "$Forwarded")}, "$Forwarded", true},
		{"ReadOnlyKeywordNotInFlags", imap.SelectData{Flags: system}, "$Forwarded", false},
		{"ReadOnlySystemFlag", imap.SelectData{Flags: system}, imap.FlagDraft, true},
		{"NothingSaidKeepsAll", imap.SelectData{}, "$Forwarded", true},
	}
	for _, tc := range tests {
		if got := storableFlags(&tc.sel)(tc.flag); got != tc.want {
			t.Errorf("%s: storableFlags(PERMANENTFLAGS %v, FLAGS %v)(%q) = %v; want %v", tc.name, tc.sel.PermanentFlags, tc.sel.Flags, tc.flag, got, tc.want)
		}
	}
}

// TestPairByFingerprint checks which messages are paired from headers and
// sizes alone and which are left for their bodies to settle.
func TestPairByFingerprint(t *testing.T) {
	t.Parallel()
	day := func(n int) time.Time { return time.Date(2024, 1, n, 0, 0, 0, 0, time.UTC) }
	m := func(uid imap.UID, fp, header string, date time.Time, flags ...imap.Flag) *vmsg {
		return &vmsg{srcMsg: &srcMsg{uid: uid, date: stampOf(date), set: &flagSet{flags: flags}}, fp: fp, header: header}
	}
	tests := []struct {
		name     string
		src, dst []*vmsg
		paired   map[imap.UID]imap.UID // source UID -> destination UID
		doubtful int                   // groups left to the bodies
	}{
		{"OneToOne", []*vmsg{m(1, "a", "A", day(1)), m(2, "b", "B", day(2))}, []*vmsg{m(7, "b", "B", day(2)), m(8, "a", "A", day(1))},
			map[imap.UID]imap.UID{1: 8, 2: 7}, 0},
		{"MissingAndExtra", []*vmsg{m(1, "a", "A", day(1))}, []*vmsg{m(9, "c", "C", day(1))}, map[imap.UID]imap.UID{}, 0},
		{"TwinsPairedByFlags", []*vmsg{m(1, "t", "T", day(1), imap.FlagSeen), m(2, "t", "T", day(1))},
			[]*vmsg{m(5, "t", "T", day(1)), m(6, "t", "T", day(1), imap.FlagSeen)}, map[imap.UID]imap.UID{1: 6, 2: 5}, 0},
		{"TwinsThatDoNotPair", []*vmsg{m(1, "t", "T", day(1), imap.FlagSeen), m(2, "t", "T", day(1))},
			[]*vmsg{m(5, "t", "T", day(1)), m(6, "t", "T", day(1))}, map[imap.UID]imap.UID{}, 1},
		{"TwinOneGone", []*vmsg{m(1, "t", "T", day(1)), m(2, "t", "T", day(1))}, []*vmsg{m(5, "t", "T", day(1))}, map[imap.UID]imap.UID{}, 1},
		{"SameHeaderOtherSize", []*vmsg{m(1, "a1", "A", day(1))}, []*vmsg{m(5, "a2", "A", day(1))}, map[imap.UID]imap.UID{}, 1},
		{"SameHeaderButPaired", []*vmsg{m(1, "a1", "A", day(1))}, []*vmsg{m(5, "a1", "A", day(1)), m(6, "a2", "A", day(1))},
			map[imap.UID]imap.UID{1: 5}, 0},
		{"NoHeaderNeverPaired", []*vmsg{m(1, "", "", day(1))}, []*vmsg{m(5, "", "", day(1))}, map[imap.UID]imap.UID{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := matcher{keep: func(imap.Flag) bool { return true }}
			doubtful := mt.pairByFingerprint(tc.src, tc.dst)
			got := map[imap.UID]imap.UID{}
			for _, s := range tc.src {
				if s.twin != nil {
					got[s.uid] = s.twin.uid
				}
			}
			if len(got) != len(tc.paired) || len(doubtful) != tc.doubtful {
				t.Fatalf("pairByFingerprint paired %v with %d doubtful groups; want %v and %d", got, len(doubtful), tc.paired, tc.doubtful)
			}
			for s, d := range tc.paired {
				if got[s] != d {
					t.Errorf("source UID %d paired with %d; want %d", s, got[s], d)
				}
			}
		})
	}
}

// TestPairByContent checks how bodies settle a doubt.
func TestPairByContent(t *testing.T) {
	t.Parallel()
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := func(uid imap.UID, size int64, content, reason string) *vmsg {
		return &vmsg{srcMsg: &srcMsg{uid: uid, octets: octetsOf(size), date: stampOf(date), set: &flagSet{}}, content: content, reason: reason}
	}
	mt := matcher{keep: func(imap.Flag) bool { return true }}

	t.Run("SizeReportedDifferently", func(t *testing.T) {
		s, d := m(1, 100, "x", ""), m(5, 104, "x", "")
		mt.pairByContent([]*vmsg{s}, []*vmsg{d})
		if s.twin != d || s.note != "the source reports 100 bytes and the destination 104 for identical bytes" {
			t.Errorf("paired %v, note %q; want paired with a note on the sizes", s.twin != nil, s.note)
		}
	})
	t.Run("OtherContent", func(t *testing.T) {
		s, d := m(1, 100, "x", ""), m(5, 104, "y", "")
		mt.pairByContent([]*vmsg{s}, []*vmsg{d})
		if s.twin != nil || s.note != "the destination holds a message with the same header but other content (UID 5, 104 bytes)" ||
			d.note != "the source holds a message with the same header but other content (UID 1, 100 bytes)" {
			t.Errorf("paired %v, notes %q, %q", s.twin != nil, s.note, d.note)
		}
	})
	t.Run("KeptBeforeSkipped", func(t *testing.T) {
		// Two identical copies at the source, one at the destination: the
		// copy the policy keeps is the one matched, so the other is a
		// policy skip and not missing.
		skipped, kept, d := m(1, 100, "x", ReasonOverMaxItems), m(2, 100, "x", ""), m(5, 100, "x", "")
		mt.pairByContent([]*vmsg{skipped, kept}, []*vmsg{d})
		if kept.twin != d || skipped.twin != nil || skipped.note != "identical copies: 2 at the source, 1 at the destination" {
			t.Errorf("kept paired %v, skipped paired %v, note %q", kept.twin != nil, skipped.twin != nil, skipped.note)
		}
	})
}
