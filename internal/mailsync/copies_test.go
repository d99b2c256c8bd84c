package mailsync

import (
	"math"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/store"
)

// TestCopies: what a pass records of a copy comes back as the state holds
// it; a fingerprint is kept only for a copy without a destination UID, and
// dropped once the copy has one.
func TestCopies(t *testing.T) {
	var sets flagSets
	seen := sets.ofStrings([]string{`\Seen`})
	c := newCopies(&sets)
	c.reserve(3)
	c.put(store.Message{SourceUID: 1, DestUID: 11, Flags: seen.strs, Fingerprint: "fp1"}, seen)
	c.put(store.Message{SourceUID: 2, DestUID: 0, Flags: nil, Fingerprint: "fp2"}, sets.get(nil))
	flagged := sets.ofStrings([]string{`\Flagged`, "$label1"})
	c.put(store.Message{SourceUID: 4, DestUID: 14, Flags: flagged.strs, Fingerprint: "fp4"}, flagged)
	for _, tc := range []struct {
		uid  imap.UID
		want store.Message
		ok   bool
	}{
		{1, store.Message{SourceUID: 1, DestUID: 11, Flags: []string{`\Seen`}}, true},
		{2, store.Message{SourceUID: 2, Fingerprint: "fp2"}, true},
		{3, store.Message{}, false},
		{4, store.Message{SourceUID: 4, DestUID: 14, Flags: []string{`\Flagged`, "$label1"}}, true},
	} {
		got, ok := c.get(tc.uid)
		if ok != tc.ok || got.SourceUID != tc.want.SourceUID || got.DestUID != tc.want.DestUID ||
			!slices.Equal(got.Flags, tc.want.Flags) || got.Fingerprint != tc.want.Fingerprint {
			t.Errorf("get(%d) = %+v, %v; want %+v, %v", tc.uid, got, ok, tc.want, tc.ok)
		}
		if c.has(tc.uid) != tc.ok {
			t.Errorf("has(%d) = %v; want %v", tc.uid, !tc.ok, tc.ok)
		}
	}
	// The copy without a UID gets one (a reconciliation found it).
	c.put(store.Message{SourceUID: 2, DestUID: 12, Flags: seen.strs, Fingerprint: "fp2"}, seen)
	if got, _ := c.get(2); got.DestUID != 12 || got.Fingerprint != "" || len(c.fps) != 0 {
		t.Errorf("after the UID came: %+v, %d fingerprints kept; want UID 12 and none", got, len(c.fps))
	}
	n := 0
	c.each(func(store.Message) { n++ })
	if n != 3 {
		t.Errorf("each saw %d; want 3", n)
	}
	c.reset()
	n = 0
	c.each(func(store.Message) { n++ })
	if n != 0 || c.has(1) {
		t.Errorf("after reset: each saw %d, has(1) %v; want empty", n, c.has(1))
	}
}

// TestStamp: an internal date kept as a stamp gives back the same instant
// and UTC offset, which is what the APPEND of the copy states.
func TestStamp(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   time.Time
	}{
		{"UTC", time.Date(2024, 3, 1, 12, 30, 5, 0, time.UTC)},
		{"east", time.Date(2024, 3, 1, 12, 30, 5, 0, time.FixedZone("", 5*3600+30*60))},
		{"west", time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -8*3600))},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 0, 0, time.FixedZone("", 3600))},
		{"before 1970, west", time.Date(1969, 7, 20, 20, 17, 0, 0, time.FixedZone("", -3*3600-30*60))},
		{"the widest zone IMAP writes, east", time.Date(2024, 3, 1, 0, 0, 0, 0, time.FixedZone("", 99*3600+59*60))},
		{"the widest zone IMAP writes, west", time.Date(2024, 3, 1, 0, 0, 0, 0, time.FixedZone("", -99*3600-59*60))},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", 14*3600))},
	} {
		got := stampOf(tc.in).time()
		_, wantOff := tc.in.Zone()
		_, gotOff := got.Zone()
		if !got.Equal(tc.in) || gotOff != wantOff {
			t.Errorf("%s: stampOf(%v).time() = %v; want the same instant and offset", tc.name, tc.in, got)
		}
		if u := stampOf(tc.in).unix(); u != tc.in.Unix() {
			t.Errorf("%s: unix() = %d; want %d", tc.name, u, tc.in.Unix())
		}
		if f, want := got.Format("02-Jan-2006 15:04:05 -0700"), tc.in.Format("02-Jan-2006 15:04:05 -0700"); f != want {
			t.Errorf("%s: as IMAP writes it %q; want %q", tc.name, f, want)
		}
	}
	if z := stamp(0).time(); z.Unix() != 0 || z.Location() != time.UTC {
		t.Errorf("zero stamp = %v; want 1970-01-01 UTC", z)
	}
}

// TestSrcMsg: the scan's record of a message stays in 32 bytes (a full
// pass holds one per message of the mailbox), and its size survives the
// squeeze into 32 bits up to the largest RFC 3501 can state.
func TestSrcMsg(t *testing.T) {
	if n := unsafe.Sizeof(srcMsg{}); n > 24 {
		t.Errorf("srcMsg takes %d bytes; want at most 24", n)
	}
	for _, tc := range []struct{ in, want int64 }{
		{0, 0},
		{35 << 20, 35 << 20},
		{math.MaxUint32, math.MaxUint32},
		{math.MaxUint32 + 1, math.MaxUint32},
		{-1, 0},
	} {
		if got := (&srcMsg{octets: octetsOf(tc.in)}).size(); got != tc.want {
			t.Errorf("size of a message of %d bytes = %d; want %d", tc.in, got, tc.want)
		}
	}
}
