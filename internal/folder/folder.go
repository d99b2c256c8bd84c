// Package folder plans how the folder tree of a source mailbox is laid out at
// the destination. Everything here is pure: the engine lists both servers,
// calls Plan, and creates and fills folders from the result.
//
// Implementation notes:
//   - Names arrive already decoded from modified UTF-7 (RFC 3501 section
//     5.1.3); go-imap does that on both sides.
//   - INBOX is case-insensitive (RFC 9051 section 5.1), and it always exists,
//     so it is never created. Every other name is compared exactly, except
//     when looking for clashes (see Plan).
//   - The personal namespace prefix (RFC 2342) is removed from source names
//     and the destination's is added, so Courier's "INBOX.Sent" becomes
//     "Sent" on Dovecot and back.
//   - Special folders are found by their SPECIAL-USE attributes (RFC 6154)
//     and Gmail's \Important (RFC 8457), else by well-known names in several
//     languages, and are mapped onto the destination's own special folders.
package folder

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Role is what a folder is for, as far as mail clients care.
type Role string

const (
	RoleNone    Role = ""
	RoleInbox   Role = "inbox"
	RoleSent    Role = "sent"
	RoleDrafts  Role = "drafts"
	RoleTrash   Role = "trash"
	RoleJunk    Role = "junk"
	RoleArchive Role = "archive"
	// RoleAll, RoleFlagged and RoleImportant are Gmail's views (All Mail,
	// Starred, Important): their messages also sit in other folders.
	RoleAll       Role = "all"
	RoleFlagged   Role = "flagged"
	RoleImportant Role = "important"
)

// Listed is one LIST entry as the server sent it.
type Listed struct {
	Name       string
	Delim      rune // 0 means the server has no hierarchy
	Attrs      []imap.MailboxAttr
	Subscribed bool
}

// Namespace is the personal namespace (RFC 2342): a prefix such as "" or
// "INBOX." and its delimiter. A prefix without its trailing delimiter is
// taken as if it had one.
type Namespace struct {
	Prefix string
	Delim  rune
	// RootIsInbox makes the folder named by Prefix without its delimiter
	// the INBOX: an admin's view of a user's mailbox, where "user/alice"
	// is alice's INBOX and "user/alice/Sent" her Sent (Cyrus, and the
	// UserRoot column of a batch CSV).
	RootIsInbox bool
}

// SkipReason says why a source folder is not copied.
type SkipReason string

const (
	SkipNone SkipReason = ""
	// SkipExcluded: matched by Rules.Exclude, or not matched by Rules.Include.
	SkipExcluded SkipReason = "excluded"
	// SkipNonMail: a calendar, contacts or tasks folder (Exchange, Zimbra).
	SkipNonMail SkipReason = "non_mail"
	// SkipVirtual: Gmail's All Mail, Starred or Important, which would
	// copy every message a second time.
	SkipVirtual SkipReason = "virtual"
	// SkipNoSelect: a container that holds no messages. It is not created
	// at the destination on its own; creating a kept child creates it.
	SkipNoSelect SkipReason = "noselect"
	// SkipUnmappable: the name cannot be represented at the destination.
	SkipUnmappable SkipReason = "unmappable"
)

// Rules are the user's choices about which folders go.
type Rules struct {
	// Include holds Match patterns on the display path. Empty means all
	// folders; otherwise only folders that match one pattern go, INBOX
	// included.
	Include []string
	// Exclude holds Match patterns on the display path. Exclude wins over
	// Include.
	Exclude []string
	// KeepNonMail copies calendar, contacts and similar folders too.
	// Defaults to false.
	KeepNonMail bool
	// KeepVirtual copies Gmail's All Mail, Starred and Important too, which
	// duplicates their messages. Defaults to false.
	KeepVirtual bool

	// The fields below describe the two servers rather than the user's
	// choices; package provider fills them from a profile.

	// NoGroupware says the source keeps no calendars, contacts or tasks in
	// IMAP folders (Dovecot, Gmail, ...), so the names IsNonMail knows are
	// ordinary mail folders there: a Dovecot user's "Notes" or "Agenda" is
	// mail and goes.
	NoGroupware bool
	// NonMail holds Match patterns of source folders that hold something
	// other than mail on that server, beyond the names IsNonMail knows
	// (Gmail's "[Gmail]/Chats" holds chat transcripts). They are skipped as
	// SkipNonMail unless KeepNonMail.
	NonMail []string
	// Reserved holds top-level folder names that the destination keeps for
	// itself (Exchange's Calendar, Files, ...), compared case-insensitively.
	// A source folder that would land on one goes to "NAME (imported)"
	// instead, with a note, so that mail never lands in a calendar or in a
	// system folder the server hides or empties.
	Reserved []string
	// DestCaseSensitive says the destination tells "Foo" and "foo" apart
	// (Dovecot, Cyrus, Courier). By default names are compared without
	// case: of two source folders that differ only in case the second gets
	// " (2)", and a folder that the destination already has under another
	// case is used as it is spelt there.
	DestCaseSensitive bool
	// SpecialNames are the names to create for Sent, Drafts, Trash, Junk
	// and Archive when the destination has no such folder yet, e.g.
	// Exchange's "Sent Items". Missing roles get the English name.
	SpecialNames map[Role]string
}

// Mapping is the plan for one source folder.
type Mapping struct {
	// Source is the source name as listed, to EXAMINE.
	Source string
	// Display is the path shown to users: the namespace prefix removed and
	// the components joined with "/", e.g. "Archive/2019". INBOX is "INBOX".
	Display string
	// Dest is the destination name to CREATE and APPEND to, with the
	// destination's prefix and delimiter. Empty when Skip is SkipUnmappable.
	Dest string
	Role Role
	// Selectable is false for \Noselect and \NonExistent folders.
	Selectable bool
	Subscribed bool
	// DestExists reports that Dest is already listed at the destination
	// (always true for INBOX).
	DestExists bool
	Skip       SkipReason
	// Note explains, in words for an admin, anything surprising about this
	// mapping; several notes are joined with "; ".
	Note string
}

// RoleOf reports the role of a listed folder whose display path is display.
// INBOX comes first, because INBOX stays INBOX whatever attributes it
// carries; then the SPECIAL-USE attributes; then the well-known names, which
// are compared case-insensitively with the whole display path, so "Sent"
// counts but "Work/Sent" does not.
func RoleOf(l Listed, display string) Role {
	if strings.EqualFold(l.Name, "INBOX") || strings.EqualFold(display, "INBOX") {
		return RoleInbox
	}
	for _, ar := range attrRoles {
		if hasAttr(l.Attrs, ar.attr) {
			return ar.role
		}
	}
	return wellKnownRole[strings.ToLower(display)]
}

// IsNonMail reports whether the display path lies in a folder that holds
// calendars, contacts, tasks and the like rather than mail: its top-level
// component is one of the names Exchange, Outlook and Zimbra use for them in
// English, German, French, Spanish, Italian or Dutch, compared
// case-insensitively.
func IsNonMail(display string) bool {
	top, _, _ := strings.Cut(display, "/")
	return nonMailSet[strings.ToLower(top)]
}

// Plan maps every source folder onto the destination and returns one
// Mapping per entry of src, INBOX and its children first, then parents
// before children ordered by path components, so "a", "a/b", "a b".
//
// The source's personal namespace prefix is removed, each component is
// joined with the destination's delimiter (a component that contains that
// delimiter gets "_" in its place, or "-" when the delimiter is "_"), and
// the destination's prefix is added. Children of INBOX stay under INBOX.
//
// Sent, Drafts, Trash, Junk and Archive go to the destination folder with
// the matching SPECIAL-USE attribute, else to one with a well-known name,
// else to a new folder with the English name at the top level; their
// children follow them. When two source folders claim the same role, the one
// with the attribute (else the first by path) wins and the other maps by
// name.
//
// No two mappings get the same Dest: a later one gets " (2)", " (3)", ...
// added and a Note. Clashes are found case-insensitively because some
// servers (Exchange) fold case, and merging two folders silently is worse
// than a renamed one; rules.DestCaseSensitive says the destination does not.
// The folder whose name needed no change keeps it. A top-level name the
// destination reserves (rules.Reserved) gets " (imported)" added.
//
// Plan never panics and depends only on its arguments.
func Plan(src []Listed, srcNS Namespace, dst []Listed, dstNS Namespace, rules Rules) []Mapping {
	p := &planner{
		rules:     rules,
		dstPrefix: normPrefix(dstNS),
		sep:       "/",
		used:      map[string]*entry{},
		byPath:    map[string]*entry{},
	}
	if dstNS.Delim != 0 {
		p.sep = string(dstNS.Delim)
		p.repl = "_"
		if p.sep == "_" {
			p.repl = "-"
		}
	}

	srcPrefix := normPrefix(srcNS)
	es := make([]*entry, len(src))
	for i, l := range src {
		es[i] = newEntry(l, srcPrefix, srcNS)
	}
	slices.SortStableFunc(es, compareEntries)
	// A server lists INBOX once; should it list "INBOX" and "Inbox", only
	// the first is the real one.
	for i, e := range es {
		if i > 0 && e.inbox {
			e.inbox = false
			e.note("INBOX is listed more than once")
		}
	}

	for _, e := range es {
		e.classify(rules)
		p.prepare(e)
	}
	p.chooseRoleHolders(es)
	p.indexDest(dst, dstNS)
	p.assign(es)

	out := make([]Mapping, len(es))
	for i, e := range es {
		if e.Skip == SkipNoSelect {
			p.noteContainer(e, es)
		}
		e.Note = strings.Join(e.notes, "; ")
		out[i] = e.Mapping
	}
	return out
}

// entry is a Mapping under construction.
type entry struct {
	Mapping
	listed    Listed
	comps     []string // path components after the prefix; "INBOX" spelled so
	destComps []string // comps made fit for the destination
	inbox     bool     // the source INBOX itself
	outside   bool     // not in the personal namespace
	bad       bool     // a component no IMAP server will take
	altered   bool     // a component was dropped or changed for the destination
	holder    bool     // takes its role's folder at the destination
	notes     []string
}

func (e *entry) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// normPrefix returns the namespace prefix ending in its delimiter.
func normPrefix(ns Namespace) string {
	if ns.Prefix != "" && ns.Delim != 0 && !strings.HasSuffix(ns.Prefix, string(ns.Delim)) {
		return ns.Prefix + string(ns.Delim)
	}
	return ns.Prefix
}

// hasPrefixInbox is strings.HasPrefix, except that a prefix starting with
// INBOX matches that part in any case, as Courier's "INBOX." must.
func hasPrefixInbox(s, prefix string) bool {
	if strings.HasPrefix(s, prefix) {
		return true
	}
	const n = len("INBOX")
	return len(prefix) >= n && len(s) >= len(prefix) &&
		strings.EqualFold(prefix[:n], "INBOX") && strings.EqualFold(s[:n], "INBOX") &&
		s[n:len(prefix)] == prefix[n:]
}

func newEntry(l Listed, prefix string, ns Namespace) *entry {
	nsDelim := ns.Delim
	e := &entry{listed: l}
	e.Source = l.Name
	e.Subscribed = l.Subscribed
	e.Selectable = !hasAttr(l.Attrs, imap.MailboxAttrNoSelect) && !hasAttr(l.Attrs, imap.MailboxAttrNonExistent)

	name := l.Name
	first := name
	if l.Delim != 0 {
		first, _, _ = strings.Cut(name, string(l.Delim))
	}
	root := prefix
	if nsDelim != 0 {
		root = strings.TrimSuffix(prefix, string(nsDelim))
	}
	switch {
	case strings.EqualFold(name, "INBOX") && !ns.RootIsInbox, ns.RootIsInbox && name == root:
		e.inbox = true
		e.comps = []string{"INBOX"}
	case prefix == "" || hasPrefixInbox(name, prefix):
		rest := name[len(prefix):]
		if rest == "" && name != "" {
			e.note("the personal namespace prefix %q itself, without a folder name", prefix)
		}
		e.setPath(rest)
	case strings.EqualFold(first, "INBOX"):
		// INBOX belongs to the personal namespace whatever the prefix says.
		e.setPath(name)
	case name == root:
		e.note("the root of the personal namespace %q itself; its path is kept", prefix)
		e.setPath(name)
	default:
		e.outside = true
		e.note("outside the personal namespace %q; its path is kept as listed", prefix)
		e.setPath(name)
	}
	e.Display = strings.Join(e.comps, "/")
	return e
}

// setPath splits a name below the namespace prefix into components.
func (e *entry) setPath(s string) {
	if s == "" {
		return
	}
	parts := []string{s}
	if e.listed.Delim != 0 {
		parts = strings.Split(s, string(e.listed.Delim))
	}
	for _, c := range parts {
		if c == "" {
			continue
		}
		e.comps = append(e.comps, c)
	}
	if len(e.comps) != len(parts) && len(e.comps) > 0 {
		e.altered = true
		e.note("empty parts of the name dropped")
	}
	if len(e.comps) > 0 && strings.EqualFold(e.comps[0], "INBOX") {
		e.comps[0] = "INBOX"
	}
	for _, c := range e.comps {
		if !utf8.ValidString(c) || strings.ContainsFunc(c, unicode.IsControl) {
			e.bad = true
		}
	}
}

// mappable reports whether e has a name the destination can take, even if
// it is skipped for another reason.
func (e *entry) mappable() bool {
	return len(e.comps) > 0 && !e.bad
}

// inInboxTree reports whether e is INBOX or lies below it.
func (e *entry) inInboxTree() bool {
	return !e.outside && len(e.comps) > 0 && e.comps[0] == "INBOX"
}

func compareEntries(a, b *entry) int {
	if c := compareFirst(a.inbox, b.inbox); c != 0 {
		return c
	}
	if c := compareFirst(a.inInboxTree(), b.inInboxTree()); c != 0 {
		return c
	}
	if c := compareFirst(!a.outside, !b.outside); c != 0 {
		return c
	}
	if c := slices.Compare(a.comps, b.comps); c != 0 {
		return c
	}
	return strings.Compare(a.Source, b.Source)
}

// compareFirst orders true before false.
func compareFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	default:
		return 1
	}
}

// classify sets Role and Skip.
func (e *entry) classify(rules Rules) {
	e.Role = RoleOf(e.listed, e.Display)
	switch {
	case e.inbox:
		e.Role = RoleInbox
	case e.Role == RoleInbox:
		e.Role = RoleNone // a folder named INBOX inside Courier's INBOX
	}

	if pat, ok := excludedBy(rules, e.Display); ok {
		e.Skip = SkipExcluded
		if pat == "" {
			e.note("not matched by any include pattern")
		} else {
			e.note("excluded by pattern %q", pat)
		}
		return
	}
	switch {
	case len(e.comps) == 0:
		e.Skip = SkipUnmappable
		e.note("no folder name left to create at the destination")
	case e.bad:
		e.Skip = SkipUnmappable
		e.note("the name has control characters or invalid UTF-8, which the destination cannot take")
	case !rules.KeepNonMail && e.Role == RoleNone && !e.inbox && !e.outside && !rules.NoGroupware && IsNonMail(e.Display):
		e.Skip = SkipNonMail
		e.note("holds calendar, contacts, tasks or similar items, not mail")
	case !rules.KeepNonMail && !e.inbox && matchAny(rules.NonMail, e.Display) != "":
		e.Skip = SkipNonMail
		e.note("holds items that are not mail on this server (pattern %q of its profile)", matchAny(rules.NonMail, e.Display))
	case !rules.KeepVirtual && e.Role == RoleAll:
		e.Skip = SkipVirtual
		e.note(`All Mail holds every message of the other folders; skipped so that nothing is copied twice`)
	case !rules.KeepVirtual && e.Role == RoleFlagged:
		e.Skip = SkipVirtual
		e.note(`Starred only shows the flagged messages of the other folders; the \Flagged flag is copied with each message`)
	case !rules.KeepVirtual && e.Role == RoleImportant:
		e.Skip = SkipVirtual
		e.note(`Important is Gmail's view of messages it ranks important, which also sit in other folders; skipped so that nothing is copied twice`)
	case !e.Selectable:
		e.Skip = SkipNoSelect
	}
}

// matchAny returns the first of patterns that matches display, or "".
func matchAny(patterns []string, display string) string {
	for _, pat := range patterns {
		if Match(pat, display) {
			return pat
		}
	}
	return ""
}

// excludedBy reports whether rules keep display from going, and the
// Exclude pattern that did it ("" when no Include pattern matched).
func excludedBy(rules Rules, display string) (string, bool) {
	for _, pat := range rules.Exclude {
		if Match(pat, display) {
			return pat, true
		}
	}
	if len(rules.Include) == 0 {
		return "", false
	}
	for _, pat := range rules.Include {
		if Match(pat, display) {
			return "", false
		}
	}
	return "", true
}

// planner holds the state of one Plan call.
type planner struct {
	rules     Rules
	dstPrefix string
	sep       string // destination delimiter, "/" when the destination is flat
	repl      string // stands in for sep inside a component; "" when flat

	dstNames map[string]bool
	dstKeys  map[string]string // destKey of each destination name → the name
	roleDest map[Role]string   // existing destination folder per role
	used     map[string]*entry // destKey of a Dest → the entry holding it
	byPath   map[string]*entry // components → first entry with them
}

// reservedSuffix is added to a top-level name the destination reserves.
const reservedSuffix = " (imported)"

// prepare computes the destination components and indexes e by path.
func (p *planner) prepare(e *entry) {
	e.destComps = e.comps
	if p.repl != "" && slices.ContainsFunc(e.comps, func(c string) bool { return strings.Contains(c, p.sep) }) {
		e.destComps = make([]string, len(e.comps))
		for i, c := range e.comps {
			e.destComps[i] = strings.ReplaceAll(c, p.sep, p.repl)
		}
		e.altered = true
		e.note("%q in a name replaced by %q for the destination", p.sep, p.repl)
	}
	if len(e.destComps) > 0 && !e.inInboxTree() && !e.outside {
		if i := slices.IndexFunc(p.rules.Reserved, func(r string) bool { return strings.EqualFold(r, e.destComps[0]) }); i >= 0 {
			e.destComps = slices.Clone(e.destComps)
			e.destComps[0] += reservedSuffix
			e.altered = true
			e.note("the destination keeps %q for itself, so this folder goes to %q", p.rules.Reserved[i], e.destComps[0])
		}
	}
	if e.mappable() {
		k := pathKey(e.comps)
		if p.byPath[k] == nil {
			p.byPath[k] = e
		}
	}
}

func pathKey(comps []string) string {
	return strings.Join(comps, "\x00")
}

// rerooted are the roles whose folder is looked up at the destination.
var rerooted = []Role{RoleSent, RoleDrafts, RoleTrash, RoleJunk, RoleArchive}

// chooseRoleHolders lets one kept folder per role take the destination's
// folder for that role; the others lose the role and map by name.
func (p *planner) chooseRoleHolders(es []*entry) {
	for _, r := range rerooted {
		var cands []*entry
		for _, e := range es {
			if e.Role == r && e.Skip == SkipNone && !e.outside {
				cands = append(cands, e)
			}
		}
		if len(cands) == 0 {
			continue
		}
		win := cands[0]
		if i := slices.IndexFunc(cands, func(e *entry) bool { return hasAttr(e.listed.Attrs, roleAttr(r)) }); i >= 0 {
			win = cands[i]
		}
		win.holder = true
		for _, e := range cands {
			if e != win {
				e.Role = RoleNone
				e.note("also looks like a %s folder, but %q takes that role; mapped by name", roleTitle[r], win.Source)
			}
		}
	}
}

// indexDest records the destination's names and finds its folder for each
// rerooted role: by SPECIAL-USE attribute first, then by well-known name.
// Only selectable folders in the personal namespace qualify, and a folder
// with the attribute of another role is never taken by name.
func (p *planner) indexDest(dst []Listed, ns Namespace) {
	p.dstNames = make(map[string]bool, len(dst))
	p.dstKeys = make(map[string]string, len(dst))
	p.roleDest = map[Role]string{}
	sorted := slices.Clone(dst)
	slices.SortStableFunc(sorted, func(a, b Listed) int { return strings.Compare(a.Name, b.Name) })

	type cand struct {
		l       Listed
		display string
	}
	var cands []cand
	for _, l := range sorted {
		p.dstNames[l.Name] = true
		if k := p.destKey(l.Name); p.dstKeys[k] == "" {
			p.dstKeys[k] = l.Name
		}
		if l.Name == "" || strings.EqualFold(l.Name, "INBOX") ||
			hasAttr(l.Attrs, imap.MailboxAttrNoSelect) || hasAttr(l.Attrs, imap.MailboxAttrNonExistent) ||
			!hasPrefixInbox(l.Name, p.dstPrefix) {
			continue
		}
		rest := l.Name[len(p.dstPrefix):]
		if rest == "" {
			continue
		}
		display := rest
		if l.Delim != 0 {
			display = strings.Join(strings.Split(rest, string(l.Delim)), "/")
		}
		cands = append(cands, cand{l, display})
	}

	for _, r := range rerooted {
		for _, c := range cands {
			if hasAttr(c.l.Attrs, roleAttr(r)) {
				p.roleDest[r] = c.l.Name
				break
			}
		}
	}
	for _, wk := range wellKnown {
		if !slices.Contains(rerooted, wk.role) || p.roleDest[wk.role] != "" {
			continue
		}
	names:
		for _, n := range wk.names {
			for _, c := range cands {
				if strings.EqualFold(c.display, n) && !hasRoleAttr(c.l.Attrs) {
					p.roleDest[wk.role] = c.l.Name
					break names
				}
			}
		}
	}
}

// assign gives every mappable entry its Dest. INBOX goes first, then the
// role holders, whose folders are fixed; then the rest by depth so that each
// child can follow its parent's final Dest, and within a depth kept folders
// before skipped ones, unchanged names before changed ones and names the
// destination has as spelt before others, so that the folder that really
// has a name keeps it.
func (p *planner) assign(es []*entry) {
	order := slices.Clone(es)
	class := func(e *entry) int {
		switch {
		case e.inbox:
			return 0
		case e.holder:
			return 1
		}
		return 2
	}
	skipRank := func(e *entry) int {
		switch e.Skip {
		case SkipNone:
			return 0
		case SkipNoSelect:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(order, func(a, b *entry) int {
		if c := class(a) - class(b); c != 0 {
			return c
		}
		if c := len(a.comps) - len(b.comps); c != 0 {
			return c
		}
		if c := skipRank(a) - skipRank(b); c != 0 {
			return c
		}
		if c := compareFirst(!a.altered, !b.altered); c != 0 {
			return c
		}
		// Of "Travel" and "TRAVEL", the one the destination has as spelt.
		return compareFirst(p.dstNames[p.natural(a)], p.dstNames[p.natural(b)])
	})

	for _, e := range order {
		if !e.mappable() {
			continue
		}
		want := p.natural(e)
		switch {
		case e.inbox:
			want = "INBOX"
		case e.holder:
			natural := want
			want = p.roleDest[e.Role]
			if want == "" {
				title := roleTitle[e.Role]
				if n := p.rules.SpecialNames[e.Role]; n != "" {
					title = n
				}
				want = p.dstPrefix + title
				if want != natural {
					e.note("mapped onto a new %s folder %q at the destination", roleTitle[e.Role], want)
				}
			} else if want != natural {
				e.note("mapped onto the destination's own %s folder %q", roleTitle[e.Role], want)
			}
		default:
			want = p.existingSpelling(e, want)
		}
		e.Dest = p.reserve(e, want)
		e.DestExists = e.inbox || p.dstNames[e.Dest]
	}
}

// natural is the destination name of e by its path: below the Dest of its
// nearest listed ancestor, else below INBOX or the destination prefix.
func (p *planner) natural(e *entry) string {
	for k := len(e.comps) - 1; k >= 1; k-- {
		if a := p.byPath[pathKey(e.comps[:k])]; a != nil && a != e && a.Dest != "" {
			return a.Dest + p.sep + strings.Join(e.destComps[k:], p.sep)
		}
	}
	if e.inInboxTree() {
		return strings.Join(append([]string{"INBOX"}, e.destComps[1:]...), p.sep)
	}
	return p.dstPrefix + strings.Join(e.destComps, p.sep)
}

// destKey is the form in which two destination names are the same folder:
// the name itself on a case-sensitive destination (with INBOX, which is
// case-insensitive everywhere, spelt so), else the name lower-cased.
func (p *planner) destKey(name string) string {
	if !p.rules.DestCaseSensitive {
		return strings.ToLower(name)
	}
	if head, rest, found := strings.Cut(name, p.sep); strings.EqualFold(head, "INBOX") {
		if found {
			return "INBOX" + p.sep + rest
		}
		return "INBOX"
	}
	return name
}

// existingSpelling returns the destination's own spelling of want when the
// destination does not tell case apart and already has want under another
// case, so that the report names the folder the server really uses. Only
// a valid UTF-8 name in the destination's namespace qualifies: lower-casing
// turns any invalid byte into U+FFFD, which would match unrelated names.
func (p *planner) existingSpelling(e *entry, want string) string {
	if p.rules.DestCaseSensitive || p.dstNames[want] {
		return want
	}
	have := p.dstKeys[p.destKey(want)]
	if have != "" && utf8.ValidString(have) && utf8.ValidString(want) && strings.EqualFold(have, want) &&
		hasPrefixInbox(have, p.dstPrefix) && p.used[p.destKey(have)] == nil {
		e.note("the destination already has %q, which it does not tell apart from %q; that folder is used", have, want)
		return have
	}
	return want
}

// reserve returns want, or want with " (2)", " (3)", ... when another entry
// already has that name.
func (p *planner) reserve(e *entry, want string) string {
	dest := want
	first := p.used[p.destKey(want)]
	for n := 2; p.used[p.destKey(dest)] != nil; n++ {
		dest = fmt.Sprintf("%s (%d)", want, n)
	}
	if first != nil {
		e.note("%q also maps to %q at the destination, so this folder becomes %q", first.Source, want, dest)
	}
	p.used[p.destKey(dest)] = e
	return dest
}

// noteContainer explains a \Noselect folder: whether the engine will need it
// as a parent.
func (p *planner) noteContainer(e *entry, es []*entry) {
	if e.Dest == "" {
		return
	}
	below := strings.ToLower(e.Dest + p.sep)
	parent := slices.ContainsFunc(es, func(c *entry) bool {
		return c.Skip == SkipNone && strings.HasPrefix(strings.ToLower(c.Dest), below)
	})
	if parent {
		e.note("container only, holds no messages: created at the destination as the parent of the folders kept below it")
	} else {
		e.note("container only, holds no messages, and no kept folder lies below it: nothing to create")
	}
}
