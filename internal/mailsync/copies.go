package mailsync

import (
	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/store"
)

// copies is what a pass knows of a folder's copies at the destination
// before its copy, by source UID: the destination UID and the flags the
// state records (see store.Message), in 12 bytes a record with its key,
// where store.Message takes 48 and a map slot holding a pointer 24. A
// pass over a large mailbox copied before holds one per message. The
// flags are the id of one of the folder's shared sets (flagSets); a
// fingerprint is kept only for a copy without a destination UID (no
// UIDPLUS), the one a reconciliation has to recognise by content.
type copies struct {
	recs map[imap.UID]copyRec
	fps  map[imap.UID]string
	sets *flagSets
}

type copyRec struct {
	dest imap.UID
	set  uint32 // a flagSet's id
}

func newCopies(sets *flagSets) copies {
	return copies{recs: map[imap.UID]copyRec{}, fps: map[imap.UID]string{}, sets: sets}
}

// put records r, whose flags are set.
func (c copies) put(r store.Message, set *flagSet) {
	uid := imap.UID(r.SourceUID)
	c.recs[uid] = copyRec{dest: imap.UID(r.DestUID), set: set.id}
	if r.DestUID == 0 {
		c.fps[uid] = r.Fingerprint
	} else {
		delete(c.fps, uid)
	}
}

// get returns the record of the source message uid. Its Flags are shared
// and must not be changed in place.
func (c copies) get(uid imap.UID) (store.Message, bool) {
	r, ok := c.recs[uid]
	if !ok {
		return store.Message{}, false
	}
	return c.message(uid, r), true
}

func (c copies) message(uid imap.UID, r copyRec) store.Message {
	return store.Message{SourceUID: uint32(uid), DestUID: uint32(r.dest), Flags: c.sets.byID(r.set).strs, Fingerprint: c.fps[uid]}
}

func (c copies) has(uid imap.UID) bool {
	_, ok := c.recs[uid]
	return ok
}

// reserve makes room for n records in an empty c at once, rather than
// in the doublings of a growing map: for the records the state holds.
func (c *copies) reserve(n int) {
	if len(c.recs) == 0 && n > 0 {
		c.recs = make(map[imap.UID]copyRec, n)
	}
}

// each calls fn with every record, in no order.
func (c copies) each(fn func(store.Message)) {
	for uid, r := range c.recs {
		fn(c.message(uid, r))
	}
}

func (c copies) reset() {
	clear(c.recs)
	clear(c.fps)
}
