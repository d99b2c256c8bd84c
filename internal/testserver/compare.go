package testserver

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// CompareFolders checks that each source folder (by server name, the keys
// of mapping) is mirrored in its destination folder (the values): every
// message as many times as at the source, with the same bytes, flags and
// INTERNALDATE, and nothing else. Messages whose SHA-256 is in skip are
// expected to be absent. It returns the differences in words; none means
// the destination is right.
func CompareFolders(src, dst *Snapshot, mapping map[string]string, skip map[string]bool) []string {
	var diffs []string
	names := make([]string, 0, len(mapping))
	for s := range mapping {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, sName := range names {
		dName := mapping[sName]
		sf, df := src.Folders[sName], dst.Folders[dName]
		if sf == nil {
			diffs = append(diffs, fmt.Sprintf("source folder %q does not exist", sName))
			continue
		}
		if df == nil {
			diffs = append(diffs, fmt.Sprintf("destination folder %q (for source %q) does not exist", dName, sName))
			continue
		}
		key := func(m MessageSnap) string {
			return fmt.Sprint(m.Flags, " ", m.Date.UTC().Format(time.RFC3339), " ", m.Size, " bytes")
		}
		want := map[string][]string{}
		for _, m := range sf.Messages {
			if !skip[m.SHA256] {
				want[m.SHA256] = append(want[m.SHA256], key(m))
			}
		}
		got := map[string][]string{}
		for _, m := range df.Messages {
			got[m.SHA256] = append(got[m.SHA256], key(m))
		}
		shas := make([]string, 0, len(want)+len(got))
		for sha := range want {
			shas = append(shas, sha)
		}
		for sha := range got {
			if _, ok := want[sha]; !ok {
				shas = append(shas, sha)
			}
		}
		sort.Strings(shas)
		for _, sha := range shas {
			w, g := want[sha], got[sha]
			sort.Strings(w)
			sort.Strings(g)
			if !slices.Equal(w, g) {
				diffs = append(diffs, fmt.Sprintf("%q -> %q: message %.12s: destination has %d %v; want %d %v", sName, dName, sha, len(g), g, len(w), w))
			}
		}
	}
	return diffs
}
