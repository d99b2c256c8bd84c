package mailsync

import (
	"sync"

	"github.com/emersion/go-imap/v2"
)

// flagSets hands out one shared copy of each distinct flag set of a
// folder, in the two forms the engine keeps: a mailbox holds a few dozen
// distinct sets (\Seen, \Seen \Answered, a keyword or two) across tens of
// thousands of messages, and a slice of its own per message was, with its
// strings, about a fifth of the heap a full pass holds per message.
//
// The slices handed out are shared and must never be changed in place;
// code that adds a flag appends to a clipped copy (see addFlag).
type flagSets struct {
	mu   sync.Mutex
	sets map[string]*flagSet
	list []*flagSet // by id
	key  []byte     // reused to look sets up without allocating
}

type flagSet struct {
	flags []imap.Flag
	strs  []string // the same flags, as the state records them
	id    uint32   // its index in flagSets.list: 4 bytes where a pointer takes 8
}

// get returns the shared set equal to flags (same flags, same order).
func (fs *flagSets) get(flags []imap.Flag) *flagSet {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.key = setKey(fs.key, flags)
	if set, ok := fs.sets[string(fs.key)]; ok {
		return set
	}
	if fs.sets == nil {
		fs.sets = map[string]*flagSet{}
	}
	set := &flagSet{id: uint32(len(fs.list))}
	fs.list = append(fs.list, set)
	for _, f := range flags {
		set.flags = append(set.flags, f)
		set.strs = append(set.strs, string(f))
	}
	fs.sets[string(fs.key)] = set
	return set
}

// ofStrings returns the shared set equal to flags as the state records
// them.
func (fs *flagSets) ofStrings(flags []string) *flagSet {
	fs.mu.Lock()
	fs.key = setKey(fs.key, flags)
	set, ok := fs.sets[string(fs.key)]
	fs.mu.Unlock()
	if ok {
		return set
	}
	return fs.get(imapFlags(flags))
}

// setKey writes into key[:0] the key of flags in flagSets.sets. Flags are
// atoms or \-names, which hold no space: a space-separated key is
// unambiguous, and the same for a set as imap.Flag and as strings.
func setKey[F ~string](key []byte, flags []F) []byte {
	key = key[:0]
	for _, f := range flags {
		key = append(key, f...)
		key = append(key, ' ')
	}
	return key
}

// byID returns the set whose id is id.
func (fs *flagSets) byID(id uint32) *flagSet {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.list[id]
}
