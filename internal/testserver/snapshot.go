package testserver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Snapshot is the state of a whole mailbox as an admin would check it:
// folders, subscriptions, and per message its UID, flags, INTERNALDATE,
// size and a hash of its exact bytes.
type Snapshot struct {
	// Folders by server name (decoded from modified UTF-7, e.g.
	// "INBOX.Entwürfe").
	Folders map[string]*FolderSnap
	// Subscribed holds the subscribed folder names, sorted.
	Subscribed []string
	// Delim is the hierarchy separator of the personal namespace.
	Delim rune
	// Prefix is the personal namespace prefix, e.g. "" or "INBOX.".
	Prefix string
}

// FolderSnap is one folder of a Snapshot.
type FolderSnap struct {
	Name string
	// Attrs are the LIST attributes, sorted.
	Attrs []imap.MailboxAttr
	// UIDValidity and UIDNext are zero for a folder that cannot be
	// selected (\Noselect).
	UIDValidity uint32
	UIDNext     uint32
	// Messages are in ascending UID order.
	Messages []MessageSnap
}

// MessageSnap is one message of a FolderSnap.
type MessageSnap struct {
	UID uint32
	// Flags are sorted; \Recent is left out because merely opening a
	// mailbox elsewhere changes it.
	Flags []string
	// Date is the INTERNALDATE.
	Date time.Time
	// Size is RFC822.SIZE.
	Size int64
	// SHA256 is the hex SHA-256 of the exact bytes of BODY[].
	SHA256 string
	// MessageID (without angle brackets) and Subject (RFC 2047 decoded)
	// come from the ENVELOPE; they make failures readable.
	MessageID string
	Subject   string
}

// Take reads the whole mailbox of user at addr (plain text, LOGIN) without
// changing it: folders are opened with EXAMINE and bodies fetched with
// BODY.PEEK[], so \Seen and \Recent stay as they were. Tests take one
// before and one after a migration to prove the source untouched.
func Take(ctx context.Context, addr, user, password string) (snap *Snapshot, err error) {
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", user, err)
	}
	defer func() {
		if err = done(err); err != nil {
			snap = nil
		}
	}()

	ns, err := namespace(c)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", user, err)
	}
	snap = &Snapshot{Folders: map[string]*FolderSnap{}, Delim: ns.delim, Prefix: ns.prefix}

	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: list folders: %w", user, err)
	}
	if c.Caps().Has(imap.CapListExtended) {
		subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: list subscribed folders: %w", user, err)
		}
		for _, mb := range subs {
			snap.Subscribed = append(snap.Subscribed, mb.Mailbox)
		}
		slices.Sort(snap.Subscribed)
	}

	for _, mb := range list {
		f := &FolderSnap{Name: mb.Mailbox, Attrs: slices.Clone(mb.Attrs)}
		slices.Sort(f.Attrs)
		snap.Folders[mb.Mailbox] = f
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Folders)) {
		f := snap.Folders[name]
		if hasAttr(f.Attrs, imap.MailboxAttrNoSelect) || hasAttr(f.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		if err := examine(c, f); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", user, err)
		}
	}
	return snap, nil
}

// examine fills f from a read-only SELECT and one UID FETCH 1:* that
// streams the bodies into the hash, so multi-megabyte messages are never
// held in memory.
func examine(c *imapclient.Client, f *FolderSnap) error {
	data, err := c.Select(f.Name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine folder %q: %w", f.Name, err)
	}
	f.UIDValidity, f.UIDNext = data.UIDValidity, uint32(data.UIDNext)
	if data.NumMessages == 0 {
		return nil
	}
	cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		RFC822Size:   true,
		Envelope:     true,
		BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
	})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var m MessageSnap
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				m.UID = uint32(item.UID)
			case imapclient.FetchItemDataFlags:
				for _, fl := range item.Flags {
					if !strings.EqualFold(string(fl), `\Recent`) {
						m.Flags = append(m.Flags, string(fl))
					}
				}
			case imapclient.FetchItemDataInternalDate:
				m.Date = item.Time
			case imapclient.FetchItemDataRFC822Size:
				m.Size = item.Size
			case imapclient.FetchItemDataEnvelope:
				if item.Envelope != nil {
					m.MessageID, m.Subject = item.Envelope.MessageID, item.Envelope.Subject
				}
			case imapclient.FetchItemDataBodySection:
				h := sha256.New()
				if _, err := io.Copy(h, item.Literal); err != nil {
					cmd.Close()
					return fmt.Errorf("fetch folder %q: read body: %w", f.Name, err)
				}
				m.SHA256 = hex.EncodeToString(h.Sum(nil))
			}
		}
		slices.Sort(m.Flags)
		f.Messages = append(f.Messages, m)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("fetch folder %q: %w", f.Name, err)
	}
	slices.SortFunc(f.Messages, func(a, b MessageSnap) int { return cmp.Compare(a.UID, b.UID) })
	return nil
}

// maxDiffsPerFolder keeps Diff readable when a whole folder went wrong.
const maxDiffsPerFolder = 20

// Diff lists how other differs from s, one human-readable line per
// difference ("folder \"Sent\": uid 7: flags [\\Seen] -> [\\Flagged \\Seen]"),
// s being the earlier or expected state. Nil means identical. It compares
// the separator, folders, subscriptions, role attributes (special-use and
// \Noselect, not the volatile \Marked or \HasChildren), UIDVALIDITY,
// UIDNEXT, the UID set and per UID flags, date, size and SHA-256. Messages
// are matched by UID, so it is meant for two snapshots of the same server;
// after a UIDVALIDITY change only the counts are compared.
func (s *Snapshot) Diff(other *Snapshot) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if s.Delim != other.Delim {
		add("separator %q -> %q", s.Delim, other.Delim)
	}
	if s.Prefix != other.Prefix {
		add("namespace prefix %q -> %q", s.Prefix, other.Prefix)
	}
	names := slices.Sorted(maps.Keys(s.Folders))
	for name := range other.Folders {
		if s.Folders[name] == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		a, b := s.Folders[name], other.Folders[name]
		switch {
		case b == nil:
			add("folder %q removed (had %d messages)", name, len(a.Messages))
		case a == nil:
			add("folder %q added (%d messages)", name, len(b.Messages))
		default:
			diffs = append(diffs, diffFolder(a, b)...)
		}
	}
	for _, name := range setDiff(s.Subscribed, other.Subscribed) {
		add("folder %q unsubscribed", name)
	}
	for _, name := range setDiff(other.Subscribed, s.Subscribed) {
		add("folder %q subscribed", name)
	}
	return diffs
}

func diffFolder(a, b *FolderSnap) []string {
	var diffs []string
	more := 0
	add := func(format string, args ...any) {
		if len(diffs) >= maxDiffsPerFolder {
			more++
			return
		}
		diffs = append(diffs, fmt.Sprintf("folder %q: ", a.Name)+fmt.Sprintf(format, args...))
	}
	defer func() {
		if more > 0 {
			diffs = append(diffs, fmt.Sprintf("folder %q: … and %d more differences", a.Name, more))
		}
	}()

	if ra, rb := roleAttrs(a.Attrs), roleAttrs(b.Attrs); !slices.Equal(ra, rb) {
		add("attributes %v -> %v", ra, rb)
	}
	if a.UIDValidity != b.UIDValidity {
		add("uidvalidity %d -> %d (%d -> %d messages)", a.UIDValidity, b.UIDValidity, len(a.Messages), len(b.Messages))
		return diffs
	}
	if a.UIDNext != b.UIDNext {
		add("uidnext %d -> %d", a.UIDNext, b.UIDNext)
	}
	i, j := 0, 0
	for i < len(a.Messages) || j < len(b.Messages) {
		switch {
		case j == len(b.Messages) || i < len(a.Messages) && a.Messages[i].UID < b.Messages[j].UID:
			m := a.Messages[i]
			add("uid %d removed (%s)", m.UID, describe(m))
			i++
		case i == len(a.Messages) || b.Messages[j].UID < a.Messages[i].UID:
			m := b.Messages[j]
			add("uid %d added (%s)", m.UID, describe(m))
			j++
		default:
			ma, mb := a.Messages[i], b.Messages[j]
			if !slices.Equal(ma.Flags, mb.Flags) {
				add("uid %d: flags %v -> %v", ma.UID, ma.Flags, mb.Flags)
			}
			if !ma.Date.Equal(mb.Date) {
				add("uid %d: date %s -> %s", ma.UID, ma.Date.Format(time.RFC3339), mb.Date.Format(time.RFC3339))
			}
			if ma.Size != mb.Size {
				add("uid %d: size %d -> %d", ma.UID, ma.Size, mb.Size)
			}
			if ma.SHA256 != mb.SHA256 {
				add("uid %d: sha256 %.12s -> %.12s", ma.UID, ma.SHA256, mb.SHA256)
			}
			i++
			j++
		}
	}
	return diffs
}

func describe(m MessageSnap) string {
	id := m.MessageID
	if id == "" {
		id = "no Message-ID"
	}
	return fmt.Sprintf("%s, %d bytes", id, m.Size)
}

// roleAttrs keeps the attributes a migration must preserve or that decide
// whether the folder holds mail: the special-use roles and \Noselect.
func roleAttrs(attrs []imap.MailboxAttr) []string {
	var out []string
	for _, a := range attrs {
		switch imap.MailboxAttr(strings.ToLower(string(a))) {
		case "\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent", "\\trash", "\\important",
			"\\noselect", "\\nonexistent":
			out = append(out, string(a))
		}
	}
	slices.Sort(out)
	return out
}

// setDiff returns the elements of a that are not in b.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
