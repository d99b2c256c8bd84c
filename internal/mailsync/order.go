package mailsync

import (
	"cmp"
	"slices"
)

// The mailbox's newest-first order is by INTERNALDATE across all its
// folders, equal dates in folder order, then in UID order. The item cap
// counts in it, and the copy moves mail in it. A pass holds each folder's
// messages in its own list, sorted newest first (sortNewestFirst), and
// walks the mailbox's order by merging the lists (newestFirst), rather
// than by sorting one list of the whole mailbox: that list would take
// 8 bytes a message more at the pass's peak.

// sortNewestFirst sorts one folder's messages, in UID order, newest first;
// equal dates keep their UID order.
func sortNewestFirst[T any](msgs []T, date func(*T) stamp) {
	slices.SortStableFunc(msgs, func(a, b T) int { return cmp.Compare(date(&b).unix(), date(&a).unix()) })
}

// newestFirst calls yield with the list and the index of each message of
// lists, each sorted by sortNewestFirst, in the mailbox's newest-first
// order, the lists being the folders' in folder order. It stops when
// yield returns false.
func newestFirst[T any](lists [][]T, date func(*T) stamp, yield func(list, i int) bool) {
	// heads is a binary heap of the lists not yet walked through, by the
	// date of their next message, then by list.
	next := make([]int, len(lists))
	var heads []int
	before := func(a, b int) bool {
		da, db := date(&lists[a][next[a]]).unix(), date(&lists[b][next[b]]).unix()
		return da > db || da == db && a < b
	}
	down := func(i int) {
		for {
			least := i
			if c := 2*i + 1; c < len(heads) && before(heads[c], heads[least]) {
				least = c
			}
			if c := 2*i + 2; c < len(heads) && before(heads[c], heads[least]) {
				least = c
			}
			if least == i {
				return
			}
			heads[i], heads[least] = heads[least], heads[i]
			i = least
		}
	}
	for l := range lists {
		if len(lists[l]) > 0 {
			heads = append(heads, l)
		}
	}
	for i := len(heads)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(heads) > 0 {
		l := heads[0]
		if !yield(l, next[l]) {
			return
		}
		next[l]++
		if next[l] == len(lists[l]) {
			heads[0] = heads[len(heads)-1]
			heads = heads[:len(heads)-1]
		}
		down(0)
	}
}
