package mailsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// tree is one server's folder list and personal namespace.
type tree struct {
	listed     []folder.Listed
	ns         folder.Namespace
	subscribed map[string]bool
	// unmappable are the folders whose names the server sent in a form
	// go-imap cannot decode (invalid modified UTF-7): they are left out of
	// listed, cannot be opened, and are reported as skipped.
	unmappable []unmappable
	// status holds each folder's STATUS figures when they were asked for
	// with the LIST (LIST-STATUS); nil otherwise.
	status map[string]*imap.StatusData
}

// unmappable is a folder listed under a name that is not valid modified
// UTF-7 (RFC 3501 section 5.1.3). imapconn hands go-imap a stand-in name
// for it (sentinel), so that the connection survives the LIST.
type unmappable struct {
	sentinel string // the name go-imap returned; never sent back
	raw      string // the name as the server sent it
}

// mapping is the plan entry that reports u as skipped: it is never
// examined, created or copied.
func (u unmappable) mapping() folder.Mapping {
	display := strings.Trim(strconv.Quote(u.raw), `"`)
	return folder.Mapping{
		Source:  u.sentinel,
		Display: display,
		Skip:    folder.SkipUnmappable,
		Note: fmt.Sprintf("the source sent the folder name %q (bytes % x), which is not valid modified UTF-7 (RFC 3501 section 5.1.3); "+
			"the folder cannot be opened, so it was not copied", u.raw, u.raw),
	}
}

// listTree lists every folder with its special-use attributes and
// subscription, and finds the personal namespace. With status, a server
// with LIST-STATUS (RFC 5819) also returns those STATUS figures of every
// folder in the same round trip.
func listTree(ctx context.Context, c *imapconn.Conn, status *imap.StatusOptions) (*tree, error) {
	caps := c.Caps()
	opts := &imap.ListOptions{}
	if caps.Has(imap.CapSpecialUse) || caps.Has(imap.CapIMAP4rev2) {
		opts.ReturnSpecialUse = true
	}
	extended := caps.Has(imap.CapListExtended) || caps.Has(imap.CapIMAP4rev2)
	if extended {
		opts.ReturnSubscribed = true
	}
	if status != nil && (caps.Has(imap.CapListStatus) || caps.Has(imap.CapIMAP4rev2)) {
		opts.ReturnStatus = status
	}
	listCmd := c.List("", "*", opts)
	var nsCmd *imapclient.NamespaceCommand // sent with the LIST: a round trip less
	if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
		nsCmd = c.Namespace()
	}
	list, err := listCmd.Collect()
	if err != nil {
		if nsCmd != nil {
			_, _ = nsCmd.Wait()
		}
		return nil, fmt.Errorf("list: %w", err)
	}
	t := &tree{subscribed: map[string]bool{}}
	for _, l := range list {
		if raw, ok := c.Unmappable(l.Mailbox); ok {
			t.unmappable = append(t.unmappable, unmappable{sentinel: l.Mailbox, raw: raw})
			continue
		}
		sub := false
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrSubscribed {
				sub = true
			}
		}
		if sub {
			t.subscribed[l.Mailbox] = true
		}
		t.listed = append(t.listed, folder.Listed{Name: l.Mailbox, Delim: l.Delim, Attrs: l.Attrs, Subscribed: sub})
		if l.Status != nil {
			if t.status == nil {
				t.status = map[string]*imap.StatusData{}
			}
			t.status[l.Mailbox] = l.Status
		}
	}
	if !extended {
		// Without LIST-EXTENDED there is no way to ask for subscriptions in
		// go-imap (it has no LSUB); treat every folder as subscribed so that
		// the destination shows them all.
		for i := range t.listed {
			t.listed[i].Subscribed = true
		}
	}
	if nsCmd != nil {
		ns, err := nsCmd.Wait()
		if err != nil {
			return nil, fmt.Errorf("namespace: %w", err)
		}
		if len(ns.Personal) > 0 {
			t.ns = folder.Namespace{Prefix: ns.Personal[0].Prefix, Delim: ns.Personal[0].Delim}
		}
	}
	if t.ns.Delim == 0 {
		for _, l := range t.listed {
			if l.Delim != 0 {
				t.ns.Delim = l.Delim
				break
			}
		}
	}
	if t.ns.Delim == 0 {
		t.ns.Delim = '/'
	}
	return t, nil
}

// rooted narrows a tree to the folders under root, for an admin login
// that sees every user's mailbox (the batch CSV's UserRoot): root itself is
// the user's INBOX, the folders below it are named relative to it, and
// the rest (other users' mail, the admin's own) is not the user's.
func (t *tree) rooted(root string) (*tree, error) {
	delim := string(t.ns.Delim)
	root = strings.TrimSuffix(root, delim)
	out := &tree{subscribed: t.subscribed, status: t.status, ns: folder.Namespace{Prefix: root + delim, Delim: t.ns.Delim, RootIsInbox: true}}
	for _, l := range t.listed {
		if l.Name == root || strings.HasPrefix(l.Name, root+delim) {
			out.listed = append(out.listed, l)
		}
	}
	for _, u := range t.unmappable {
		// Raw bytes: this holds for roots in plain ASCII, as user roots are.
		if strings.HasPrefix(u.raw, root+delim) {
			out.unmappable = append(out.unmappable, u)
		}
	}
	if len(out.listed) == 0 {
		return nil, fmt.Errorf("no folder %q (the user root) at the source", root)
	}
	return out, nil
}

// planFolders lists both folder trees and maps the source folders onto
// the destination's. A source folder whose name cannot be decoded is in the
// plan as skipped (unmappable). Sync and Verify both start here, so that
// they speak of the same folders. With figures, Sync's, the LISTs also
// carry the STATUS figures that let unchanged folders be skipped (see
// unchanged.go), on servers with LIST-STATUS.
func planFolders(ctx context.Context, src, dst *imapconn.Conn, opts Options, log *slog.Logger, figures bool) (plan []folder.Mapping, srcTree, dstTree *tree, err error) {
	var srcStatus, dstStatus *imap.StatusOptions
	if figures {
		srcStatus, dstStatus = sourceFigures(src), destFigures
	}
	// Both sides at once.
	var dstErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		dstTree, dstErr = listTree(ctx, dst, dstStatus)
	}()
	srcTree, err = listTree(ctx, src, srcStatus)
	if err == nil && opts.SourceRoot != "" {
		srcTree, err = srcTree.rooted(opts.SourceRoot)
	}
	<-listed
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list source folders of %s: %w", opts.Source.User, err)
	}
	if dstErr != nil {
		return nil, nil, nil, fmt.Errorf("list destination folders of %s: %w", opts.Dest.User, dstErr)
	}
	if opts.GmailLabels == GmailLabelsKeywords {
		if err := gmailListing(srcTree); err != nil {
			return nil, nil, nil, err
		}
	}
	plan = folder.Plan(srcTree.listed, srcTree.ns, dstTree.listed, dstTree.ns, opts.Folders)
	if opts.GmailLabels == GmailLabelsKeywords {
		gmailPlan(plan)
	}
	for _, u := range srcTree.unmappable {
		log.Warn("Source folder name is not valid modified UTF-7; folder skipped.", "folder", u.mapping().Display)
		plan = append(plan, u.mapping())
	}
	for _, u := range dstTree.unmappable {
		log.Warn("Destination folder name is not valid modified UTF-7; folder ignored.", "folder", u.raw)
	}
	return plan, srcTree, dstTree, nil
}

// srcMsg is what the scan learnt of one source message: 24 bytes, held
// in its folder's list by value, since a full pass holds one per message
// of the mailbox (the item cap ranks them all by date).
type srcMsg struct {
	uid    imap.UID
	octets uint32 // RFC822.SIZE (see octetsOf)
	date   stamp
	set    *flagSet // its flags, cleaned (see cleanFlags), shared by the folder's messages alike
}

// msgDate is m's date, by which sortNewestFirst and newestFirst order.
func msgDate(m *srcMsg) stamp { return m.date }

// size returns m's size in bytes as the source reports it.
func (m *srcMsg) size() int64 { return int64(m.octets) }

// octetsOf keeps a message size in 32 bits, the range of RFC 3501's
// RFC822.SIZE; a larger one (IMAP4rev2 allows 63 bits) is kept as the
// largest, still far over any size cap. Only ranking and reports read it:
// an APPEND takes its size from the body fetched.
func octetsOf(n int64) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

// flags returns m's flags, shared: never to be changed in place.
func (m *srcMsg) flags() []imap.Flag { return m.set.flags }

// stamp is an internal date in 8 bytes rather than time.Time's 24: the
// seconds since 1970 and, in the low zoneBits, the offset from UTC in
// minutes, all an IMAP date holds (its zone is +HHMM).
type stamp int64

const zoneBits = 14 // minutes east of UTC, signed: up to +-99:59 and more

func stampOf(t time.Time) stamp {
	_, off := t.Zone()
	return stamp(t.Unix()<<zoneBits | int64(off/60)&(1<<zoneBits-1))
}

// unix returns the date's seconds since 1970.
func (d stamp) unix() int64 { return int64(d) >> zoneBits }

// zone returns the date's offset from UTC in seconds.
func (d stamp) zone() int {
	return int(int64(d)<<(64-zoneBits)>>(64-zoneBits)) * 60
}

// itemDate is d for a report's Item: none for a stamp of zero, the date
// of a message known by its UID alone (see bare).
func (d stamp) itemDate() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return d.time()
}

// time returns the date in its own zone. The zero stamp, the date of a
// message whose date the pass did not read (a recorded one, in an
// incremental pass), is 1970 in UTC.
func (d stamp) time() time.Time {
	t := time.Unix(d.unix(), 0)
	if d.zone() == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", d.zone()))
}

// folderRun is one source folder during a run.
type folderRun struct {
	m   folder.Mapping
	rep *FolderReport

	uidValidity uint32
	// msgs are the folder's messages, in UID order until choose sorts
	// them newest first with those to copy at the front: toCopy.
	msgs        []srcMsg
	st          *store.Folder
	toCopy      []srcMsg
	planned     int  // len(toCopy) when the copy began (see copyAll)
	dropped     int  // invalid keywords left out
	reset       bool // the recorded messages are void (a UIDVALIDITY changed)
	destMissing bool // dry run: the destination folder does not exist yet
	// listStatus is the source folder's STATUS as the pass's LIST gave it
	// (see figures), nil if none.
	listStatus *imap.StatusData
	// destClean says the look-ahead (see lookAhead) found every message
	// of the destination folder accounted for by the state, so that the
	// reconciliation before the copy has nothing to look for.
	destClean bool

	// seen are the source folder's figures as EXAMINE showed them before
	// the scan (zero without CONDSTORE); unchanged says the folder was
	// skipped because its figures are those a complete pass recorded
	// (see unchanged.go).
	seen      store.Figures
	unchanged bool
	// destIntact says the destination folder's LIST-STATUS showed the
	// name and UIDVALIDITY the state records, which lets a changed folder
	// be read by its changes; partial says it was (its recorded messages
	// have no date or size), so that the state's copies must stay valid.
	destIntact, partial bool
	// late are the messages the scan listed but has yet to fetch in full
	// (see changes).
	late imap.UIDSet

	// labels are the Gmail labels gmailLabels adds to messages as
	// keywords, by UID, for the copy to add them again (see copyFetched).
	labels map[imap.UID][]imap.Flag

	// renamedFrom is the name the state knew this folder by, when it was
	// renamed at the source since (see sourcechange.go).
	renamedFrom string

	mu sync.Mutex // guards mapped, rep counters and done
	// mapped holds the copies the state recorded before the copy, and
	// those a reconciliation found before it. The copy's own are in the
	// state only (see copied): a large mailbox's copies would otherwise
	// be held to the end of the pass.
	mapped copies
	// flagSets shares the flag slices of msgs and mapped between the
	// messages that have the same flags.
	flagSets flagSets
	done     int
	failed   bool
}

// newFolderRun starts a folder's run and its report (rep).
func newFolderRun(m folder.Mapping, rep *FolderReport) *folderRun {
	*rep = FolderReport{Source: m.Display, Destination: m.Dest, Role: string(m.Role), Note: m.Note, Skipped: map[string]int{}, DestCount: -1, Status: "synced"}
	if m.Skip != folder.SkipNone {
		rep.Status = "skipped: " + string(m.Skip)
		if m.Skip != folder.SkipNoSelect {
			rep.Destination = ""
		}
	}
	fr := &folderRun{m: m, rep: rep}
	fr.mapped = newCopies(&fr.flagSets)
	return fr
}

// active reports whether the folder takes part in the copy.
func (fr *folderRun) active() bool {
	return fr.m.Skip == folder.SkipNone && !fr.failed
}

func (fr *folderRun) fail(err error) {
	fr.failed = true
	fr.rep.Status = "error"
	fr.rep.Error = err.Error()
}

// scanning is a source folder whose scan is on the wire: its EXAMINE sent
// and, when the LIST's figures say that the folder is read by its changes,
// those asked too. Then every command of the folder is out, and scanAll
// sends the next folder's before it reads these answers: the server works
// on one folder while we read the other.
type scanning struct {
	fr       *folderRun
	st       *store.Folder
	recorded []store.Message
	loaded   bool
	exam     *imapconn.Selection
	early    *changes
}

// errRescan says that a folder's EXAMINE contradicted the LIST's figures
// (it changed in between) while the next folder's scan was already on
// the wire: the folder is scanned again, in full, at the end.
var errRescan = errors.New("folder changed since the LIST")

// scan examines a source folder and reads every message's UID, flags,
// INTERNALDATE and size, then loads the folder's state. A folder a
// complete pass settled is read by its changes only (see changes).
func (s *run) scan(ctx context.Context, src *imapconn.Conn, fr *folderRun) error {
	sc, err := s.startScan(ctx, src, fr)
	if err != nil {
		return err
	}
	return s.endScan(ctx, src, sc, false)
}

// byChanges says whether a folder whose EXAMINE (or LIST) shows
// uidValidity and modSeq can be read by its changes since what the state
// st recorded.
func (s *run) byChanges(fr *folderRun, st *store.Folder, uidValidity uint32, modSeq uint64) bool {
	return st != nil && st.SourceUIDValidity == uidValidity && st.Settled.ModSeq != 0 && modSeq != 0 && s.capOK && fr.destIntact
}

// startScan sends a folder's EXAMINE and, when the LIST's figures say that
// the folder is read by its changes, asks for them with it rather than
// after it: a round trip less per folder.
func (s *run) startScan(ctx context.Context, src *imapconn.Conn, fr *folderRun) (*scanning, error) {
	// What the state says is at the destination, by the folder's name.
	st := s.folderState(fr.m.Source)
	sc := &scanning{fr: fr, st: st}
	sc.exam = src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true, CondStore: src.Caps().Has(imap.CapCondStore)})
	if l := fr.listStatus; l != nil && s.byChanges(fr, st, l.UIDValidity, l.HighestModSeq) {
		sc.early = askChanges(src, st.Settled, l.UIDNext)
		var err error
		if sc.recorded, err = s.opts.State.Recorded(ctx, st.ID); err != nil {
			sc.early.drop()
			_, _ = sc.exam.Wait()
			return nil, stateErr{err}
		}
		sc.loaded = true
	}
	return sc, nil
}

// complete reports whether every command of the folder's scan is out, so
// that the connection may go on to the next folder before the answers are
// read.
func (sc *scanning) complete() bool { return sc.early != nil }

// endScan reads the answers of a folder's scan. When the connection has
// gone on to the next folder (ahead), what needs this folder selected
// again is left for lateScan: fr.late, or errRescan.
func (s *run) endScan(ctx context.Context, src *imapconn.Conn, sc *scanning, ahead bool) error {
	fr, st := sc.fr, sc.st
	sel, err := sc.exam.Wait()
	if err != nil {
		sc.early.drop()
		return fmt.Errorf("examine: %w", err)
	}
	incremental := s.byChanges(fr, st, sel.UIDValidity, sel.HighestModSeq)
	if !incremental && ahead {
		sc.early.drop()
		return errRescan
	}
	fr.uidValidity = sel.UIDValidity
	if src.Caps().Has(imap.CapCondStore) {
		fr.seen = store.Figures{ModSeq: sel.HighestModSeq, UIDNext: uint32(sel.UIDNext), Messages: sel.NumMessages}
	}
	fr.partial = incremental
	recorded := sc.recorded
	if incremental && !sc.loaded {
		if recorded, err = s.opts.State.Recorded(ctx, st.ID); err != nil {
			sc.early.drop()
			return stateErr{err}
		}
		sc.loaded = true
	}
	fr.msgs = slices.Grow(fr.msgs, int(sel.NumMessages))
	switch {
	case sel.NumMessages == 0:
		sc.early.drop()
	case incremental:
		if sc.early == nil {
			sc.early = askChanges(src, st.Settled, 0)
		}
		if fr.late, err = sc.early.read(fr, recorded); err == nil && !ahead {
			err = fetchLate(src, fr)
		}
	default:
		sc.early.drop()
		err = fetchAll(src, fr)
	}
	if err != nil {
		return fmt.Errorf("fetch message list: %w", err)
	}
	fr.listed()
	if fr.dropped > 0 {
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("%d keywords that are not valid IMAP atoms were left out", fr.dropped))
	}

	if st == nil {
		if st, err = s.renamedFrom(ctx, src, fr); err != nil {
			return err
		}
	}
	fr.st = st
	if st == nil {
		return nil
	}
	if st.SourceUIDValidity != fr.uidValidity {
		// The source renumbered the folder: the recorded UIDs mean nothing
		// now. Forget them; reconciliation by content finds what is already
		// at the destination, so nothing is copied twice.
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("source UIDVALIDITY changed from %d to %d: messages already copied were recognised by content", st.SourceUIDValidity, fr.uidValidity))
		s.log.Warn("Source UIDVALIDITY changed.", "folder", fr.m.Display, "old", st.SourceUIDValidity, "new", fr.uidValidity)
		fr.reset = true
		return nil
	}
	if !sc.loaded {
		if recorded, err = s.opts.State.Recorded(ctx, st.ID); err != nil {
			return stateErr{err}
		}
	}
	present := make(map[imap.UID]bool, len(fr.msgs))
	for _, m := range fr.msgs {
		present[m.uid] = true
	}
	fr.mapped.reserve(len(recorded))
	for _, r := range recorded {
		uid := imap.UID(r.SourceUID)
		fr.mapped.put(r, fr.flagSets.ofStrings(r.Flags))
		if !present[uid] {
			fr.rep.DeletedAtSource++
		}
	}
	return nil
}

// uncopied reports whether the folder has messages the state does not
// record: candidates to copy.
func (fr *folderRun) uncopied() bool {
	for _, m := range fr.msgs {
		if !fr.mapped.has(m.uid) {
			return true
		}
	}
	return false
}

// listed sorts the folder's messages by UID and counts them.
func (fr *folderRun) listed() {
	sort.Slice(fr.msgs, func(i, j int) bool { return fr.msgs[i].uid < fr.msgs[j].uid })
	fr.rep.SourceCount = len(fr.msgs)
}

// lateScan finishes a folder that endScan left for later: it examines the
// folder again and fetches what the changes did not bring (fr.late), or
// scans it anew after errRescan.
func (s *run) lateScan(ctx context.Context, src *imapconn.Conn, fr *folderRun, rescan bool) error {
	if rescan {
		fr.listStatus = nil
		return s.scan(ctx, src, fr)
	}
	sel, err := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine: %w", err)
	}
	if sel.UIDValidity != fr.uidValidity {
		return fmt.Errorf("source UIDVALIDITY changed during the pass (from %d to %d); the next pass recognises what was copied", fr.uidValidity, sel.UIDValidity)
	}
	if err := fetchLate(src, fr); err != nil {
		return fmt.Errorf("fetch message list: %w", err)
	}
	fr.listed()
	return nil
}

// fetchLate fetches, in the selected folder, the messages that the
// changes listed but did not bring (fr.late).
func fetchLate(src *imapconn.Conn, fr *folderRun) error {
	if len(fr.late) == 0 {
		return nil
	}
	cmd := src.Fetch(fr.late, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true})
	fr.late = nil
	return collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
		if buf.UID != 0 {
			fr.addMsg(buf)
		}
	})
}

// fetchAll reads every message's UID, flags, INTERNALDATE and size.
func fetchAll(src *imapconn.Conn, fr *folderRun) error {
	cmd := src.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
	})
	noUID := 0
	err := collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
		if buf.UID == 0 {
			noUID++ // a server bug; without a UID nothing can be fetched
			return
		}
		fr.addMsg(buf)
	})
	if noUID > 0 {
		fr.rep.Failed += noUID
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("%d messages were listed by the source without a UID and cannot be copied", noUID))
	}
	return err
}

// addMsg adds a message the scan fetched in full.
func (fr *folderRun) addMsg(buf *imapclient.FetchMessageBuffer) {
	flags, dropped := cleanFlags(buf.Flags)
	fr.dropped += dropped
	fr.msgs = append(fr.msgs, srcMsg{uid: buf.UID, octets: octetsOf(buf.RFC822Size), date: stampOf(buf.InternalDate), set: fr.flagSets.get(flags)})
}

// changes reads a folder that a complete pass left at HIGHESTMODSEQ and
// UIDNEXT (settled) without fetching what did not change: the UIDs present
// now (UID SEARCH ALL: one line with ESEARCH), which give the expunges by
// difference with the state (go-imap has no QRESYNC), the flags of the
// older messages changed since (CHANGEDSINCE), and the messages new since
// (UIDs from the settled UIDNEXT on) in full, asked at once when the LIST
// showed a higher UIDNEXT. A message the state does not record and that
// none of these brought (one skipped or failed by an earlier pass, or new
// after the LIST) is fetched in full after (fr.late). A recorded message
// whose flags did not change keeps its recorded flags, which are what the
// source had, and no date or size: it is not copied, and the item cap
// cannot rank it (Sync reads this way only when the whole mailbox is
// within the cap).
//
// The two FETCHes ask for disjoint UID ranges, so that go-imap, which
// hands a FETCH answer to the first pending command whose set holds its
// UID, cannot give one command's answer to the other. The CHANGEDSINCE
// FETCH is consumed in its own goroutine while the SEARCH is waited for:
// go-imap stalls on a FETCH nobody reads.
type changes struct {
	since   uint64
	changed map[imap.UID][]imap.Flag
	fetched chan error
	search  *imapclient.SearchCommand
	// fresh fetches the messages from UID from on (nil: not asked).
	fresh *imapclient.FetchCommand
	from  imap.UID
}

// askChanges sends the CHANGEDSINCE FETCH, the SEARCH, and the FETCH of
// the new messages when listed (the LIST's UIDNEXT; 0 when unknown) says
// there are some.
func askChanges(src *imapconn.Conn, settled store.Figures, listed imap.UID) *changes {
	c := &changes{since: settled.ModSeq, changed: map[imap.UID][]imap.Flag{}, fetched: make(chan error, 1), from: imap.UID(settled.UIDNext)}
	if c.from > 1 {
		cmd := src.Fetch(imap.UIDSet{{Start: 1, Stop: c.from - 1}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: c.since})
		go func() {
			c.fetched <- collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
				if buf.UID != 0 {
					c.changed[buf.UID] = buf.Flags
				}
			})
		}()
	} else {
		c.fetched <- nil
	}
	c.search = src.UIDSearch(&imap.SearchCriteria{}, searchAll(src))
	if c.from > 0 && listed > c.from {
		c.fresh = src.Fetch(imap.UIDSet{{Start: c.from, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true})
	}
	return c
}

// wait waits for the answers of the CHANGEDSINCE FETCH and the SEARCH.
func (c *changes) wait() (*imap.SearchData, error) {
	search, err := c.search.Wait()
	if ferr := <-c.fetched; err == nil && ferr != nil {
		err = fmt.Errorf("flags changed since modseq %d: %w", c.since, ferr)
	}
	return search, err
}

// drop waits for the answers of changes not wanted after all (nil: none
// asked), so that the connection is ready for the next command.
func (c *changes) drop() {
	if c == nil {
		return
	}
	_, _ = c.wait()
	if c.fresh != nil {
		_ = c.fresh.Close()
	}
}

// read fills fr in from the answers, and returns the UIDs it still has to
// fetch in full.
func (c *changes) read(fr *folderRun, recorded []store.Message) (late imap.UIDSet, err error) {
	search, err := c.wait()
	if err != nil {
		if c.fresh != nil {
			_ = c.fresh.Close()
		}
		return nil, err
	}
	fresh := map[imap.UID]bool{}
	if c.fresh != nil {
		err := collectEach(c.fresh, func(buf *imapclient.FetchMessageBuffer) {
			// "from:*" names the last message when none is at from or
			// above (RFC 3501, 6.4.8): that one is not new.
			if buf.UID >= c.from {
				fr.addMsg(buf)
				fresh[buf.UID] = true
			}
		})
		if err != nil {
			return nil, fmt.Errorf("new messages from uid %d: %w", c.from, err)
		}
	}
	rec := make(map[imap.UID]*store.Message, len(recorded))
	for i := range recorded {
		rec[imap.UID(recorded[i].SourceUID)] = &recorded[i]
	}
	for _, uid := range search.AllUIDs() {
		if fresh[uid] {
			continue
		}
		r := rec[uid]
		if r == nil {
			late.AddNum(uid)
			continue
		}
		flags, dropped := cleanFlags(c.changed[uid])
		if _, ok := c.changed[uid]; !ok {
			flags = imapFlags(r.Flags)
		}
		fr.dropped += dropped
		fr.msgs = append(fr.msgs, srcMsg{uid: uid, set: fr.flagSets.get(flags)})
	}
	return late, nil
}

// searchAll asks for the result of UID SEARCH ALL as ranges (ESEARCH,
// RFC 4731) where the server can: a few bytes for a folder whose UIDs
// follow each other, instead of one number per message.
func searchAll(c *imapconn.Conn) *imap.SearchOptions {
	if c.Caps().Has(imap.CapESearch) || c.Caps().Has(imap.CapIMAP4rev2) {
		return &imap.SearchOptions{ReturnAll: true}
	}
	return nil
}

func imapFlags(in []string) []imap.Flag {
	out := make([]imap.Flag, len(in))
	for i, f := range in {
		out[i] = imap.Flag(f)
	}
	return out
}

// collectEach collects each message of a FETCH and hands it to fn. It
// always consumes the whole command: go-imap's reader stalls on an
// unconsumed response.
func collectEach(cmd *imapclient.FetchCommand, fn func(*imapclient.FetchMessageBuffer)) error {
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return err
		}
		fn(buf)
	}
	return cmd.Close()
}

// cleanFlags keeps what can be carried over: the system flags but \Recent
// (which only the server sets) and keywords that are valid IMAP atoms (an
// invalid one breaks go-imap's connection). The result is sorted.
func cleanFlags(in []imap.Flag) (out []imap.Flag, dropped int) {
	for _, f := range in {
		switch {
		case strings.EqualFold(string(f), `\Recent`) || f == imap.FlagWildcard:
			continue
		case strings.HasPrefix(string(f), `\`):
			if !slices.ContainsFunc(systemFlags, func(sf string) bool { return strings.EqualFold(sf, string(f)) }) {
				dropped++
				continue
			}
		case !isAtom(string(f)):
			dropped++
			continue
		}
		if !slices.Contains(out, f) { // a message has a few flags: no map
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, dropped
}

var systemFlags = []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

// isAtom reports whether s is a valid IMAP atom (RFC 3501 section 9, atom).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// choose decides, newest first across the mailbox, which messages to
// copy. It sorts each folder's messages newest first and moves those to
// copy to the front of its list, in that order, as fr.toCopy: the pass's
// peak holds no other list of them.
func (s *run) choose(folders []*folderRun) {
	var active []*folderRun
	var lists [][]srcMsg
	for _, fr := range folders {
		if fr.active() {
			sortNewestFirst(fr.msgs, msgDate)
			active = append(active, fr)
			lists = append(lists, fr.msgs)
		}
	}
	toCopy := make([]int, len(active))
	rank := 0
	newestFirst(lists, msgDate, func(l, i int) bool {
		fr := active[l]
		m := &fr.msgs[i]
		r := rank
		rank++
		if fr.mapped.has(m.uid) {
			fr.rep.Present++
			return true
		}
		switch reason, detail := s.opts.policySkip(m, r); reason {
		case "":
			if s.overAppendLimit(fr, m) {
				return true
			}
			// Messages before i not moved are not to copy: the ones to
			// copy keep their order.
			fr.msgs[toCopy[l]], fr.msgs[i] = fr.msgs[i], fr.msgs[toCopy[l]]
			toCopy[l]++
		case ReasonTooLarge:
			fr.rep.Skipped[reason]++
			s.addSkipped(Item{Folder: fr.m.Display, UID: uint32(m.uid), Size: m.size(), Date: m.date.time(), Reason: reason, Detail: detail})
		default:
			fr.rep.Skipped[reason]++
		}
		return true
	})
	for l, fr := range active {
		fr.toCopy = fr.msgs[:toCopy[l]:toCopy[l]]
	}
}

// policySkip says why the options leave m out, m being the mailbox's
// rank-th newest message (from 0), with a detail for the report; "" when
// m is to be copied. Sync and Verify both ask it, so that what
// verification calls missing is what the policy means to copy.
func (o *Options) policySkip(m *srcMsg, rank int) (reason, detail string) {
	switch {
	case !o.ReceivedAfter.IsZero() && time.Unix(m.date.unix(), 0).Before(o.ReceivedAfter):
		return ReasonReceivedBefore, ""
	case o.MaxItems > 0 && rank >= o.MaxItems:
		return ReasonOverMaxItems, ""
	case o.MaxMessageSize > 0 && m.size() > o.MaxMessageSize:
		return ReasonTooLarge, fmt.Sprintf("%d bytes is over the limit of %d bytes", m.size(), o.MaxMessageSize)
	}
	return "", ""
}

// describeSkipped fetches the subjects of the listed skipped items, so that
// the report names them the way the user knows them.
func (s *run) describeSkipped(ctx context.Context, src *imapconn.Conn, folders []*folderRun) error {
	byFolder := map[string][]int{}
	for i, it := range s.rep.Skipped {
		byFolder[it.Folder] = append(byFolder[it.Folder], i)
	}
	for _, fr := range folders {
		idx := byFolder[fr.m.Display]
		if len(idx) == 0 {
			continue
		}
		if _, err := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		var uids imap.UIDSet
		for _, i := range idx {
			uids.AddNum(imap.UID(s.rep.Skipped[i].UID))
		}
		bufs, err := src.Fetch(uids, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			return err
		}
		subjects := map[uint32]string{}
		for _, b := range bufs {
			if b.Envelope != nil {
				subjects[uint32(b.UID)] = b.Envelope.Subject
			}
		}
		for _, i := range idx {
			s.rep.Skipped[i].Subject = subjects[s.rep.Skipped[i].UID]
		}
	}
	return nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
