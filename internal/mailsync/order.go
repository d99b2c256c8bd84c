package mailsync

import (
	"cmp"
	"container/heap"
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
	h := &heads[T]{lists: lists, date: date, next: make([]int, len(lists))}
	for l := range lists {
		if len(lists[l]) > 0 {
			h.ls = append(h.ls, l)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		l := h.ls[0]
		if !yield(l, h.next[l]) {
			return
		}
		if h.next[l]++; h.next[l] == len(lists[l]) {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
}

// heads is a heap of the lists not yet walked through (ls), by the date
// of their next message, then by list.
type heads[T any] struct {
	lists [][]T
	date  func(*T) stamp
	next  []int
	ls    []int
}

func (h *heads[T]) Len() int { return len(h.ls) }

func (h *heads[T]) Less(i, j int) bool {
	a, b := h.ls[i], h.ls[j]
	da, db := h.date(&h.lists[a][h.next[a]]).unix(), h.date(&h.lists[b][h.next[b]]).unix()
	return da > db || da == db && a < b
}

func (h *heads[T]) Swap(i, j int) { h.ls[i], h.ls[j] = h.ls[j], h.ls[i] }

func (h *heads[T]) Push(x any) { h.ls = append(h.ls, x.(int)) }

func (h *heads[T]) Pop() any {
	l := h.ls[len(h.ls)-1]
	h.ls = h.ls[:len(h.ls)-1]
	return l
}
