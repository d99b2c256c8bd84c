package mailsync

import (
	"context"
	"fmt"
	"log/slog"
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
	list, err := c.List("", "*", opts).Collect()
	if err != nil {
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
	if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
		ns, err := c.Namespace().Wait()
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
	srcTree, err = listTree(ctx, src, srcStatus)
	if err == nil && opts.SourceRoot != "" {
		srcTree, err = srcTree.rooted(opts.SourceRoot)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list source folders of %s: %w", opts.Source.User, err)
	}
	dstTree, err = listTree(ctx, dst, dstStatus)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list destination folders of %s: %w", opts.Dest.User, err)
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

// srcMsg is what the scan learnt of one source message.
type srcMsg struct {
	uid   imap.UID
	size  int64
	date  time.Time
	flags []imap.Flag // cleaned: see cleanFlags
	fr    *folderRun
}

// folderRun is one source folder during a run.
type folderRun struct {
	m   folder.Mapping
	rep *FolderReport

	uidValidity uint32
	msgs        []*srcMsg // ascending UID
	st          *store.Folder
	toCopy      []*srcMsg
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

	// renamedFrom is the name the state knew this folder by, when it was
	// renamed at the source since (see sourcechange.go).
	renamedFrom string

	// appendMu is held shared by every APPEND into this folder until its
	// result is in mapped, and exclusively while reconciling, so that a
	// reconciliation never sees a copy that is stored but not yet recorded.
	appendMu sync.RWMutex
	mu       sync.Mutex // guards mapped, rep counters and done
	mapped   map[imap.UID]store.Message
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
	return &folderRun{m: m, rep: rep, mapped: map[imap.UID]store.Message{}}
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

// scan examines a source folder and reads every message's UID, flags,
// INTERNALDATE and size, then loads the folder's state. A folder a
// complete pass settled is read by its changes only (see changes).
func (s *run) scan(ctx context.Context, src *imapconn.Conn, fr *folderRun) error {
	condStore := src.Caps().Has(imap.CapCondStore)
	// What the state says is at the destination, by the folder's name.
	st, err := s.opts.State.Folder(ctx, s.opts.Mailbox, fr.m.Source)
	if err != nil {
		return stateErr{err}
	}
	byChanges := func(uidValidity uint32, modSeq uint64) bool {
		return st != nil && st.SourceUIDValidity == uidValidity && st.Settled.ModSeq != 0 && modSeq != 0 && s.capOK && fr.destIntact
	}
	var recorded []store.Message
	loaded := false
	exam := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true, CondStore: condStore})
	// When the LIST's figures say that the folder is read by its changes,
	// they are asked for with the EXAMINE rather than after it: a round
	// trip less per folder. Should the EXAMINE say otherwise (the folder
	// changed since the LIST), the answers are dropped.
	var early *changes
	if l := fr.listStatus; l != nil && byChanges(l.UIDValidity, l.HighestModSeq) {
		if recorded, err = s.opts.State.Messages(ctx, st.ID); err != nil {
			_, _ = exam.Wait()
			return stateErr{err}
		}
		loaded = true
		early = askChanges(src, st.Settled.ModSeq)
	}
	sel, err := exam.Wait()
	if err != nil {
		early.drop()
		return fmt.Errorf("examine: %w", err)
	}
	fr.uidValidity = sel.UIDValidity
	if condStore {
		fr.seen = store.Figures{ModSeq: sel.HighestModSeq, UIDNext: uint32(sel.UIDNext), Messages: sel.NumMessages}
	}
	incremental := byChanges(sel.UIDValidity, sel.HighestModSeq)
	fr.partial = incremental
	if incremental && !loaded {
		if recorded, err = s.opts.State.Messages(ctx, st.ID); err != nil {
			early.drop()
			return stateErr{err}
		}
		loaded = true
	}
	switch {
	case sel.NumMessages == 0:
		early.drop()
	case incremental:
		if early == nil {
			early = askChanges(src, st.Settled.ModSeq)
		}
		err = early.read(src, fr, recorded)
	default:
		early.drop()
		err = fetchAll(src, fr)
	}
	if err != nil {
		return fmt.Errorf("fetch message list: %w", err)
	}
	sort.Slice(fr.msgs, func(i, j int) bool { return fr.msgs[i].uid < fr.msgs[j].uid })
	fr.rep.SourceCount = len(fr.msgs)
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
	if !loaded {
		if recorded, err = s.opts.State.Messages(ctx, st.ID); err != nil {
			return stateErr{err}
		}
	}
	present := make(map[imap.UID]bool, len(fr.msgs))
	for _, m := range fr.msgs {
		present[m.uid] = true
	}
	for _, r := range recorded {
		uid := imap.UID(r.SourceUID)
		fr.mapped[uid] = r
		if !present[uid] {
			fr.rep.DeletedAtSource++
		}
	}
	return nil
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
	fr.msgs = append(fr.msgs, &srcMsg{uid: buf.UID, size: buf.RFC822Size, date: buf.InternalDate, flags: fr.flagSets.flags(flags), fr: fr})
}

// changes reads a folder that a complete pass left at HIGHESTMODSEQ
// since (CONDSTORE, RFC 7162) without fetching what did not change: the
// UIDs present now (UID SEARCH ALL: one line with ESEARCH), which give the
// expunges by difference with the state (go-imap has no QRESYNC), the
// flags of the messages changed since (CHANGEDSINCE), and all of the
// messages the state does not record. A recorded message whose flags did
// not change keeps its recorded flags, which are what the source had, and
// no date or size: it is not copied, and the item cap cannot rank it
// (Sync reads this way only when the whole mailbox is within the cap).
//
// The CHANGEDSINCE FETCH is consumed in its own goroutine while the
// SEARCH is waited for: go-imap stalls on a FETCH nobody reads.
type changes struct {
	since   uint64
	changed map[imap.UID][]imap.Flag
	fetched chan error
	search  *imapclient.SearchCommand
}

// askChanges sends the CHANGEDSINCE FETCH and the SEARCH.
func askChanges(src *imapconn.Conn, since uint64) *changes {
	c := &changes{since: since, changed: map[imap.UID][]imap.Flag{}, fetched: make(chan error, 1)}
	cmd := src.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: since})
	go func() {
		c.fetched <- collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
			if buf.UID != 0 {
				c.changed[buf.UID] = buf.Flags
			}
		})
	}()
	c.search = src.UIDSearch(&imap.SearchCriteria{}, searchAll(src))
	return c
}

// wait waits for both answers.
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
	if c != nil {
		_, _ = c.wait()
	}
}

// read fills fr in from the answers, and fetches the messages the state
// does not record.
func (c *changes) read(src *imapconn.Conn, fr *folderRun, recorded []store.Message) error {
	changed := c.changed
	search, err := c.wait()
	if err != nil {
		return err
	}
	rec := make(map[imap.UID]*store.Message, len(recorded))
	for i := range recorded {
		rec[imap.UID(recorded[i].SourceUID)] = &recorded[i]
	}
	var unknown imap.UIDSet
	for _, uid := range search.AllUIDs() {
		r := rec[uid]
		if r == nil {
			unknown.AddNum(uid)
			continue
		}
		flags, dropped := cleanFlags(changed[uid])
		if _, ok := changed[uid]; !ok {
			flags = imapFlags(r.Flags)
		}
		fr.dropped += dropped
		fr.msgs = append(fr.msgs, &srcMsg{uid: uid, flags: fr.flagSets.flags(flags), fr: fr})
	}
	if len(unknown) == 0 {
		return nil
	}
	cmd := src.Fetch(unknown, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true})
	return collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
		if buf.UID != 0 {
			fr.addMsg(buf)
		}
	})
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
	seen := map[imap.Flag]bool{}
	for _, f := range in {
		switch {
		case strings.EqualFold(string(f), `\Recent`) || f == imap.FlagWildcard:
			continue
		case strings.HasPrefix(string(f), `\`):
			if !systemFlags[imap.Flag(strings.ToLower(string(f)))] {
				dropped++
				continue
			}
		case !isAtom(string(f)):
			dropped++
			continue
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, dropped
}

var systemFlags = map[imap.Flag]bool{`\seen`: true, `\answered`: true, `\flagged`: true, `\deleted`: true, `\draft`: true}

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

// choose decides, newest first across all folders, which messages to copy.
func (s *run) choose(folders []*folderRun) {
	var all []*srcMsg
	for _, fr := range folders {
		if fr.active() {
			all = append(all, fr.msgs...)
		}
	}
	sortNewestFirst(all)
	for rank, m := range all {
		fr := m.fr
		if _, ok := fr.mapped[m.uid]; ok {
			fr.rep.Present++
			continue
		}
		switch reason, detail := s.opts.policySkip(m, rank); reason {
		case "":
			if s.overAppendLimit(fr, m) {
				continue
			}
			fr.toCopy = append(fr.toCopy, m)
		case ReasonTooLarge:
			fr.rep.Skipped[reason]++
			s.addSkipped(Item{Folder: fr.m.Display, UID: uint32(m.uid), Size: m.size, Date: m.date, Reason: reason, Detail: detail})
		default:
			fr.rep.Skipped[reason]++
		}
	}
}

// sortNewestFirst orders the mailbox's messages by INTERNALDATE, newest
// first; equal dates keep their folder and UID order. It is the order in
// which the item cap counts.
func sortNewestFirst(all []*srcMsg) {
	sort.SliceStable(all, func(i, j int) bool { return all[i].date.After(all[j].date) })
}

// policySkip says why the options leave m out, m being the mailbox's
// rank-th newest message (from 0), with a detail for the report; "" when
// m is to be copied. Sync and Verify both ask it, so that what
// verification calls missing is what the policy means to copy.
func (o *Options) policySkip(m *srcMsg, rank int) (reason, detail string) {
	switch {
	case !o.ReceivedAfter.IsZero() && m.date.Before(o.ReceivedAfter):
		return ReasonReceivedBefore, ""
	case o.MaxItems > 0 && rank >= o.MaxItems:
		return ReasonOverMaxItems, ""
	case o.MaxMessageSize > 0 && m.size > o.MaxMessageSize:
		return ReasonTooLarge, fmt.Sprintf("%d bytes is over the limit of %d bytes", m.size, o.MaxMessageSize)
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
