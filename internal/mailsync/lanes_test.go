package mailsync

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestMoreLanes: extra lanes join an incremental copy over a slow link,
// where the units left cost round trips several times a login, and never
// on loopback, where a round trip is a fraction of a millisecond.
func TestMoreLanes(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name         string
		login, rtt   time.Duration
		left, lanes  int
		conns, extra int
	}{
		{"loopback", 9 * ms, ms, 9, 1, 4, 0},
		{"2 ms link, few folders", 16 * ms, 3 * ms, 5, 1, 4, 0},
		{"2 ms link, many folders", 16 * ms, 3 * ms, 12, 1, 4, 3},
		{"WAN", 70 * ms, 21 * ms, 9, 1, 4, 3},
		{"WAN, two units left", 70 * ms, 21 * ms, 2, 1, 4, 0},
		{"WAN, six units left", 70 * ms, 21 * ms, 6, 1, 4, 3},
		{"WAN, connections capped", 70 * ms, 21 * ms, 9, 1, 2, 1},
		{"WAN, lanes at the cap", 70 * ms, 21 * ms, 9, 4, 4, 0},
		{"no EXAMINE measured", 70 * ms, 0, 9, 1, 4, 0},
		{"nothing left", 70 * ms, 21 * ms, 0, 1, 4, 0},
	} {
		s := &run{loginTime: tc.login, opts: Options{Connections: tc.conns}}
		if got := s.moreLanes(tc.rtt, tc.left, tc.lanes); got != tc.extra {
			t.Errorf("%s: moreLanes(%v, %d left, %d lanes) = %d; want %d", tc.name, tc.rtt, tc.left, tc.lanes, got, tc.extra)
		}
	}
}

// TestUnitQueueTake: a lane that takes its next unit ahead (fetchAhead)
// gets one of its own folder first when that is among the next few, never
// one of a folder another lane copies, and nothing rather than waiting.
func TestUnitQueueTake(t *testing.T) {
	a, b, c := &folderRun{}, &folderRun{}, &folderRun{}
	name := map[*folderRun]string{a: "a", b: "b", c: "c"}
	for _, tc := range []struct {
		name  string
		units []*folderRun // the queue, in order
		busy  []*folderRun // folders being copied: mine (a) and others'
		want  string       // the folder of the unit taken, "" for none
		left  int
	}{
		{"next in order", []*folderRun{b, c}, []*folderRun{a}, "b", 1},
		{"mine first, when near", []*folderRun{b, c, a}, []*folderRun{a}, "a", 2},
		{"skips a folder another lane copies", []*folderRun{b, c}, []*folderRun{a, b}, "c", 1},
		{"every folder busy elsewhere", []*folderRun{b, b}, []*folderRun{a, b}, "", 2},
		{"empty", nil, []*folderRun{a}, "", 0},
	} {
		q := &unitQueue{busy: map[*folderRun]bool{}}
		for _, fr := range tc.units {
			q.units = append(q.units, unit{fr: fr})
		}
		for _, fr := range tc.busy {
			q.busy[fr] = true
		}
		u, ok := q.take(a)
		got := ""
		if ok {
			got = name[u.fr]
			if !q.busy[u.fr] {
				t.Errorf("%s: folder %s taken but not marked busy", tc.name, got)
			}
		}
		if got != tc.want || q.left() != tc.left {
			t.Errorf("%s: take = %q, %d left; want %q, %d left", tc.name, got, q.left(), tc.want, tc.left)
		}
	}
}

// TestMakeUnits: the folders' lists are cut, in the mailbox's newest-first
// order, into units of one folder, at most unitMessages messages and
// unitBytes bytes each (a larger message alone), regrouped by folder only
// within a window; every message lands in exactly one unit, the units of
// a folder following its list.
func TestMakeUnits(t *testing.T) {
	// folders makes n messages alternating between nf folders, newest
	// first, UIDs counting from 1 per folder, each of size bytes.
	folders := func(n int, size int64, nf int) []*folderRun {
		frs := make([]*folderRun, nf)
		for i := range frs {
			frs[i] = &folderRun{}
		}
		for i := range n {
			fr := frs[i%nf]
			fr.toCopy = append(fr.toCopy, srcMsg{uid: imap.UID(len(fr.toCopy) + 1), octets: uint32(size), date: stamp(int64(n-i) << zoneBits)})
		}
		return frs
	}
	for _, tc := range []struct {
		name    string
		folders []*folderRun
		want    []string // each unit as folder:count
	}{
		{"one small folder", folders(3, 10, 1), []string{"0:3"}},
		{"cut at unitMessages", folders(unitMessages+1, 10, 1), []string{"0:100", "0:1"}},
		{"cut at unitBytes", folders(3, unitBytes/2, 1), []string{"0:2", "0:1"}},
		{"a message over unitBytes goes alone", folders(2, unitBytes+1, 1), []string{"0:1", "0:1"}},
		{"regrouped by folder within a window", folders(6, 10, 2), []string{"0:3", "1:3"}},
		{"not across windows", folders(windowSize+2, 10, 2), []string{
			"0:100", "0:100", "0:100", "0:100", "0:100", "1:100", "1:100", "1:100", "1:100", "1:100", "0:1", "1:1"}},
	} {
		index := map[*folderRun]int{}
		for i, fr := range tc.folders {
			index[fr] = i
		}
		units := makeUnits(tc.folders)
		var got []string
		next := make([]int, len(tc.folders)) // where each folder's next unit must start
		for _, u := range units {
			f := index[u.fr]
			uids, _ := u.uids.Nums()
			got = append(got, fmt.Sprintf("%d:%d", f, len(uids)))
			for i, uid := range uids {
				if want := u.fr.toCopy[next[f]+i].uid; uid != want {
					t.Errorf("%s: folder %d's unit holds UID %d where its list has %d", tc.name, f, uid, want)
					break
				}
			}
			next[f] += len(uids)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: units %v; want %v", tc.name, got, tc.want)
		}
		for f, fr := range tc.folders {
			if next[f] != len(fr.toCopy) {
				t.Errorf("%s: folder %d's units hold %d messages; want %d", tc.name, f, next[f], len(fr.toCopy))
			}
		}
	}
}

// TestNewestFirst: the merge of the folders' lists walks the mailbox by
// date, newest first, equal dates in folder order, then in list order.
func TestNewestFirst(t *testing.T) {
	at := func(dates ...int64) []srcMsg {
		var l []srcMsg
		for i, d := range dates {
			l = append(l, srcMsg{uid: imap.UID(i + 1), date: stamp(d << zoneBits)})
		}
		return l
	}
	for _, tc := range []struct {
		name  string
		lists [][]srcMsg
		want  string // folder.uid in the order walked
	}{
		{"one list", [][]srcMsg{at(3, 2, 1)}, "0.1 0.2 0.3"},
		{"interleaved", [][]srcMsg{at(5, 3, 1), at(4, 2)}, "0.1 1.1 0.2 1.2 0.3"},
		{"ties in folder order", [][]srcMsg{at(2, 2), at(2, 1), at(2)}, "0.1 0.2 1.1 2.1 1.2"},
		{"empty lists", [][]srcMsg{nil, at(1), nil}, "1.1"},
		{"none", nil, ""},
	} {
		var got []string
		newestFirst(tc.lists, msgDate, func(l, i int) bool {
			got = append(got, fmt.Sprintf("%d.%d", l, tc.lists[l][i].uid))
			return true
		})
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%s: walked %q; want %q", tc.name, s, tc.want)
		}
	}
	// sortNewestFirst keeps equal dates in their order.
	l := at(1, 3, 2, 3, 1)
	sortNewestFirst(l, msgDate)
	var uids []imap.UID
	for _, m := range l {
		uids = append(uids, m.uid)
	}
	if want := []imap.UID{2, 4, 3, 1, 5}; !slices.Equal(uids, want) {
		t.Errorf("sortNewestFirst: UIDs %v; want %v", uids, want)
	}
}
