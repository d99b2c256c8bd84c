package mailsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// Folder statuses of a verification (FolderCheck.Status), besides
// "skipped: <reason>".
const (
	checkCompared = "compared"
	checkMissing  = "missing"
	checkError    = "error"
)

// Verify compares a destination mailbox with its source without changing
// either, and grades it (see GradeOf). It takes the Options of Sync and
// reads them the same way: the same folder mapping (planFolders), the same
// policy (policySkip over the mailbox newest first) and the same content
// identity (package fingerprint, matched as a multiset per folder), so that
// "missing" means what the policy says should be at the destination and is
// not. State, Mailbox, Connections, DryRun, Progress and Refused are not
// used: verification looks at the servers, not at what the state database
// believes, and needs one connection per side.
//
// Both connections are read-only (imapconn's guard refuses anything but
// EXAMINE, STATUS, LIST, SEARCH and FETCH with .PEEK, on both sides). Per
// folder it fetches UID, FLAGS, INTERNALDATE, RFC822.SIZE and the header
// section at both ends, never whole messages, with two exceptions that it
// settles by fetching the bodies of just the messages concerned (counted
// in BodiesFetched):
//
//   - a source and a destination message with the same header but
//     different sizes: the server may report sizes its own way (Exchange
//     estimates RFC822.SIZE), or the bodies really differ;
//   - identical fingerprints on several messages that cannot be paired
//     one to one by date and flags: the bodies say which is which.
//
// Flags are compared without \Recent and without flags the destination
// folder cannot store (see storableFlags). It returns an error only when
// the comparison could not run at all (connection, TLS or authentication
// failure, a connection lost, cancellation); a folder that cannot be read
// is reported and grades the mailbox Poor.
func Verify(ctx context.Context, opts Options) (*Verification, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Source.ReadOnly, opts.Dest.ReadOnly = true, true
	opts.Source.Side, opts.Dest.Side = "source", "destination"
	vr := &verifier{
		ctx:  ctx,
		opts: opts,
		log:  opts.Logger.With("user", opts.Source.User),
		v: &Verification{
			Source:      opts.Source.User + "@" + opts.Source.Addr,
			Destination: opts.Dest.User + "@" + opts.Dest.Addr,
			Started:     time.Now(),
			Missing:     []Difference{},
			Extra:       []Difference{},
			FlagsDiffer: []FlagsDiff{},
			DatesDiffer: []DateDiff{},
			Skipped:     []Difference{},
		},
	}

	// 1. Connect to both servers, read-only.
	var err error
	if vr.src, err = vr.dial(opts.Source); err != nil {
		return nil, err
	}
	defer vr.src.Close()
	if vr.dst, err = vr.dial(opts.Dest); err != nil {
		return nil, err
	}
	defer vr.dst.Close()

	// 2. List both folder trees and map them as Sync does.
	plan, _, _, err := planFolders(ctx, vr.src, vr.dst, opts, vr.log, false)
	if err != nil {
		return nil, err
	}

	// 3. Read each source folder: UIDs, sizes, dates, flags and
	// fingerprints. Folders the rules leave out are only counted.
	vr.v.Folders = make([]FolderCheck, len(plan))
	checks := make([]*folderCheck, len(plan))
	for i, m := range plan {
		fc := newFolderCheck(m, &vr.v.Folders[i])
		checks[i] = fc
		if m.Skip != folder.SkipNone {
			continue
		}
		if err := vr.readSource(fc); err != nil {
			if err := vr.fatal(err); err != nil {
				return nil, err
			}
			fc.fail(fmt.Errorf("read source folder %q: %w", m.Display, err))
		}
	}
	vr.countSkippedFolders(checks)

	// 4. The policy, newest first across the mailbox, as Sync chooses.
	vr.applyPolicy(checks)

	// 5. Compare each folder with its destination folder.
	for _, fc := range checks {
		if !fc.active() {
			continue
		}
		if err := vr.compare(fc); err != nil {
			if err := vr.fatal(err); err != nil {
				return nil, err
			}
			fc.fail(err)
		}
	}

	// 6. Totals and grade.
	vr.v.Finished = time.Now()
	vr.v.total()
	return vr.v, nil
}

// verifier holds what one Verify call shares between its steps.
type verifier struct {
	ctx      context.Context
	opts     Options
	log      *slog.Logger
	v        *Verification
	src, dst *imapconn.Conn
}

// vmsg is one message as verification sees it, at either end.
type vmsg struct {
	*srcMsg        // UID, size, date and cleaned flags, as the scan records them (at both ends)
	fp      string // the engine's identity (fingerprint.Sum); "" when the server sent no header
	header  string // the header alone (fingerprint.HeaderSum)
	// reason and detail say why the policy leaves a source message out
	// ("" when it should be at the destination).
	reason, detail string
	content        string // SHA-256 of the whole message, when fetched to settle a doubt
	twin           *vmsg  // the message it is paired with at the other end
	note           string // what settling a doubt found, for the report
}

// folderCheck is one source folder during a verification.
type folderCheck struct {
	m      folder.Mapping
	rep    *FolderCheck
	msgs   []*vmsg // ascending UID
	failed bool
}

func newFolderCheck(m folder.Mapping, rep *FolderCheck) *folderCheck {
	*rep = FolderCheck{Source: m.Display, Destination: m.Dest, Status: checkCompared, Note: m.Note, Skipped: map[string]int{}}
	if m.Skip != folder.SkipNone {
		rep.Status = "skipped: " + string(m.Skip)
		rep.Destination = ""
	}
	return &folderCheck{m: m, rep: rep}
}

func (fc *folderCheck) active() bool { return fc.m.Skip == folder.SkipNone && !fc.failed }

func (fc *folderCheck) fail(err error) {
	fc.failed = true
	fc.rep.Status = checkError
	fc.rep.Error = err.Error()
}

// dial connects and ties the connection to the verification's context, as
// Sync's dial does: go-imap commands take no context.
func (vr *verifier) dial(cfg imapconn.Config) (*imapconn.Conn, error) {
	c, err := imapconn.Dial(vr.ctx, cfg)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(vr.ctx, c.Abort)
	return c, nil
}

// fatal returns err when it stops the whole verification rather than one
// folder: cancellation or a lost connection.
func (vr *verifier) fatal(err error) error {
	switch {
	case vr.ctx.Err() != nil:
		return vr.ctx.Err()
	case isConnLost(err, vr.src, vr.dst):
		return err
	}
	return nil
}

// readSource examines a source folder and reads its messages.
func (vr *verifier) readSource(fc *folderCheck) error {
	sel, err := vr.src.Select(fc.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine: %w", err)
	}
	msgs, notes, err := listMessages(vr.src, sel.NumMessages)
	if err != nil {
		return err
	}
	fc.msgs = msgs
	fc.rep.SourceCount = len(msgs)
	fc.rep.Note = joinNote(fc.rep.Note, notes.String("source"))
	return nil
}

// countSkippedFolders counts the messages of the folders the rules leave
// out (one pipelined STATUS each), so that the report says how much mail
// stays behind and why. A folder whose name could not be decoded cannot be
// opened at all: it is reported as not readable.
func (vr *verifier) countSkippedFolders(checks []*folderCheck) {
	cmds := make([]*imapclient.StatusCommand, len(checks))
	for i, fc := range checks {
		switch fc.m.Skip {
		case folder.SkipExcluded, folder.SkipNonMail, folder.SkipVirtual:
			cmds[i] = vr.src.Status(fc.m.Source, &imap.StatusOptions{NumMessages: true})
		case folder.SkipUnmappable:
			fc.fail(fmt.Errorf("the source folder %q cannot be opened: its name is not valid modified UTF-7", fc.m.Display))
		}
	}
	for i, fc := range checks {
		if cmds[i] == nil {
			continue
		}
		st, err := cmds[i].Wait()
		if err != nil || st.NumMessages == nil {
			fc.rep.Note = joinNote(fc.rep.Note, fmt.Sprintf("could not count its messages: %v", err))
			continue
		}
		n := int(*st.NumMessages)
		fc.rep.SourceCount = n
		if n > 0 {
			fc.rep.Skipped["folder_"+string(fc.m.Skip)] = n
		}
	}
}

// applyPolicy ranks the mailbox's messages newest first and asks the
// engine's policySkip about each, exactly as Sync's choose does.
func (vr *verifier) applyPolicy(checks []*folderCheck) {
	var lists [][]*vmsg
	for _, fc := range checks {
		if fc.active() {
			l := slices.Clone(fc.msgs)
			sortNewestFirst(l, vmsgDate)
			lists = append(lists, l)
		}
	}
	rank := 0
	newestFirst(lists, vmsgDate, func(l, i int) bool {
		m := lists[l][i]
		m.reason, m.detail = vr.opts.policySkip(m.srcMsg, rank)
		rank++
		return true
	})
}

func vmsgDate(m **vmsg) stamp { return (*m).date }

// compare reads the destination folder, pairs its messages with the
// source's, settles doubts with bodies, and reports the differences.
func (vr *verifier) compare(fc *folderCheck) error {
	var dst []*vmsg
	keep := func(imap.Flag) bool { return true }
	if fc.m.DestExists {
		sel, err := vr.dst.Select(fc.m.Dest, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return fmt.Errorf("examine destination folder %q: %w", fc.m.Dest, err)
		}
		var notes listNotes
		dst, notes, err = listMessages(vr.dst, sel.NumMessages)
		if err != nil {
			return fmt.Errorf("read destination folder %q: %w", fc.m.Dest, err)
		}
		fc.rep.DestCount = len(dst)
		fc.rep.Note = joinNote(fc.rep.Note, notes.String("destination"))
		keep = storableFlags(sel)
	} else {
		fc.rep.Status = checkMissing
		fc.rep.Note = joinNote(fc.rep.Note, fmt.Sprintf("the destination folder %q does not exist", fc.m.Dest))
	}

	mt := matcher{keep: keep}
	doubtful := mt.pairByFingerprint(fc.msgs, dst)
	if len(doubtful) > 0 {
		if err := vr.settle(fc, mt, doubtful); err != nil {
			return err
		}
	}
	return vr.report(fc, dst, keep)
}

// settle fetches the bodies of the doubtful messages at both ends and
// pairs them by content.
func (vr *verifier) settle(fc *folderCheck, mt matcher, doubtful [][2][]*vmsg) error {
	var srcUIDs, dstUIDs imap.UIDSet
	srcByUID, dstByUID := map[imap.UID]*vmsg{}, map[imap.UID]*vmsg{}
	for _, g := range doubtful {
		for _, m := range g[0] {
			srcUIDs.AddNum(m.uid)
			srcByUID[m.uid] = m
		}
		for _, m := range g[1] {
			dstUIDs.AddNum(m.uid)
			dstByUID[m.uid] = m
		}
	}
	if _, err := vr.src.Select(fc.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fmt.Errorf("examine source folder %q: %w", fc.m.Display, err)
	}
	n, err := hashBodies(vr.src, srcUIDs, func(uid imap.UID, sum string) {
		if m := srcByUID[uid]; m != nil {
			m.content = sum
		}
	})
	vr.v.BodiesFetched += n
	if err != nil {
		return fmt.Errorf("fetch source messages %s in %q: %w", srcUIDs, fc.m.Display, err)
	}
	// The destination folder is still the selected one there.
	n, err = hashBodies(vr.dst, dstUIDs, func(uid imap.UID, sum string) {
		if m := dstByUID[uid]; m != nil {
			m.content = sum
		}
	})
	vr.v.BodiesFetched += n
	if err != nil {
		return fmt.Errorf("fetch destination messages %s in %q: %w", dstUIDs, fc.m.Dest, err)
	}
	for _, g := range doubtful {
		mt.pairByContent(g[0], g[1])
	}
	return nil
}

// report counts and lists the folder's differences, with the subjects of
// the messages listed.
func (vr *verifier) report(fc *folderCheck, dst []*vmsg, keep func(imap.Flag) bool) error {
	var missing, extra, skipped []Difference
	var flagDiffs []FlagsDiff
	var dateDiffs []DateDiff
	notStored := map[string]bool{}
	at := func(m *vmsg) Difference {
		return Difference{Folder: fc.m.Display, UID: uint32(m.uid), Size: m.size(), Date: m.date.time(), Detail: m.note}
	}
	for _, m := range fc.msgs {
		if d := m.twin; d != nil {
			fc.rep.Matched++
			srcFlags, dstFlags := storedFlags(m.flags(), keep, notStored), storedFlags(d.flags(), keep, nil)
			if vr.opts.DisarmReadReceipts {
				dstFlags = withoutAdded(dstFlags, srcFlags, string(imap.FlagMDNSent))
			}
			if !sameFlags(srcFlags, dstFlags) {
				fc.rep.FlagsDiffer++
				flagDiffs = append(flagDiffs, FlagsDiff{Difference: at(m), DestUID: uint32(d.uid), SourceFlags: srcFlags, DestFlags: dstFlags})
			}
			if m.date.unix() != d.date.unix() {
				fc.rep.DatesDiffer++
				dateDiffs = append(dateDiffs, DateDiff{Difference: at(m), DestUID: uint32(d.uid), DestDate: d.date.time()})
			}
			continue
		}
		switch {
		case m.reason == "":
			fc.rep.Missing++
			missing = append(missing, at(m))
		case m.reason == ReasonTooLarge:
			fc.rep.Skipped[m.reason]++
			it := at(m)
			it.Reason, it.Detail = m.reason, m.detail
			if m.note != "" {
				it.Detail = joinNote(it.Detail, m.note)
			}
			skipped = append(skipped, it)
		default:
			fc.rep.Skipped[m.reason]++
		}
	}
	for _, d := range dst {
		if d.twin == nil {
			fc.rep.Extra++
			extra = append(extra, at(d))
		}
	}
	if len(notStored) > 0 {
		fc.rep.Note = joinNote(fc.rep.Note, fmt.Sprintf("flags not compared, as the destination folder does not list them as flags it keeps: %s",
			strings.Join(sortedSet(notStored), " ")))
	}

	// Subjects, so that the admin finds the messages by what users see.
	var srcUIDs, dstUIDs imap.UIDSet
	for _, l := range [][]Difference{missing, skipped} {
		for _, d := range l {
			srcUIDs.AddNum(imap.UID(d.UID))
		}
	}
	for _, d := range flagDiffs {
		srcUIDs.AddNum(imap.UID(d.UID))
	}
	for _, d := range dateDiffs {
		srcUIDs.AddNum(imap.UID(d.UID))
	}
	for _, d := range extra {
		dstUIDs.AddNum(imap.UID(d.UID))
	}
	var srcSubjects, dstSubjects map[imap.UID]string
	var err error
	if len(srcUIDs) > 0 {
		if _, err = vr.src.Select(fc.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err == nil {
			srcSubjects, err = subjects(vr.src, srcUIDs)
		}
		if err != nil {
			return fmt.Errorf("fetch subjects in source folder %q: %w", fc.m.Display, err)
		}
	}
	if len(dstUIDs) > 0 {
		// Only a folder that exists can have extra messages, and it is the
		// one selected at the destination.
		if dstSubjects, err = subjects(vr.dst, dstUIDs); err != nil {
			return fmt.Errorf("fetch subjects in destination folder %q: %w", fc.m.Dest, err)
		}
	}
	named := func(l []Difference, subj map[imap.UID]string) []Difference {
		for i := range l {
			l[i].Subject = subj[imap.UID(l[i].UID)]
		}
		return l
	}
	vr.v.Missing = append(vr.v.Missing, named(missing, srcSubjects)...)
	vr.v.Skipped = append(vr.v.Skipped, named(skipped, srcSubjects)...)
	vr.v.Extra = append(vr.v.Extra, named(extra, dstSubjects)...)
	for _, d := range flagDiffs {
		d.Subject = srcSubjects[imap.UID(d.UID)]
		vr.v.FlagsDiffer = append(vr.v.FlagsDiffer, d)
	}
	for _, d := range dateDiffs {
		d.Subject = srcSubjects[imap.UID(d.UID)]
		vr.v.DatesDiffer = append(vr.v.DatesDiffer, d)
	}
	return nil
}

// listNotes counts what listMessages could not use.
type listNotes struct {
	noUID, noHeader, badKeywords int
}

func (n listNotes) String(side string) string {
	var parts []string
	if n.noUID > 0 {
		parts = append(parts, fmt.Sprintf("%d messages were listed by the %s without a UID and cannot be compared", n.noUID, side))
	}
	if n.noHeader > 0 {
		parts = append(parts, fmt.Sprintf("the %s sent no header for %d messages, which cannot be matched", side, n.noHeader))
	}
	if n.badKeywords > 0 {
		parts = append(parts, fmt.Sprintf("%d keywords at the %s that are not valid IMAP atoms were not compared (sync leaves them out)", n.badKeywords, side))
	}
	return strings.Join(parts, "; ")
}

// listMessages reads UID, FLAGS, INTERNALDATE, RFC822.SIZE and the header
// section (BODY.PEEK[HEADER], never the body) of the n messages of the
// selected folder, and fingerprints each header as the engine does. Only
// the fingerprints are kept, not the headers.
func listMessages(c *imapconn.Conn, n uint32) ([]*vmsg, listNotes, error) {
	var notes listNotes
	if n == 0 {
		return nil, notes, nil
	}
	var msgs []*vmsg
	var sets flagSets
	cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
	})
	err := collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
		if buf.UID == 0 {
			notes.noUID++
			return
		}
		flags, dropped := cleanFlags(buf.Flags)
		notes.badKeywords += dropped
		m := &vmsg{srcMsg: &srcMsg{uid: buf.UID, octets: octetsOf(buf.RFC822Size), date: stampOf(buf.InternalDate), set: sets.get(flags)}}
		if len(buf.BodySection) > 0 {
			h := fingerprint.New()
			h.Write(buf.BodySection[0].Bytes)
			m.fp, m.header = h.Sum(buf.RFC822Size), h.HeaderSum()
		} else {
			notes.noHeader++
			m.note = "the server sent no header for this message, so it could not be matched"
		}
		msgs = append(msgs, m)
	})
	if err != nil {
		return nil, notes, fmt.Errorf("fetch message list: %w", err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].uid < msgs[j].uid })
	return msgs, notes, nil
}

// hashBodies streams the whole of each message in uids (BODY.PEEK[]) of
// the selected folder through SHA-256, never holding one in memory, and
// returns how many it read.
func hashBodies(c *imapconn.Conn, uids imap.UIDSet, fn func(uid imap.UID, sum string)) (int, error) {
	if len(uids) == 0 {
		return 0, nil
	}
	cmd := c.Fetch(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var sum string
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				h := sha256.New()
				if _, err := io.Copy(h, item.Literal); err != nil {
					cmd.Close()
					return n, fmt.Errorf("read message: %w", err)
				}
				sum = hex.EncodeToString(h.Sum(nil))
				n++
			}
		}
		if uid != 0 && sum != "" {
			fn(uid, sum)
		}
	}
	return n, cmd.Close()
}

// subjects fetches the ENVELOPE subjects (RFC 2047 decoded by go-imap) of
// uids in the selected folder.
func subjects(c *imapconn.Conn, uids imap.UIDSet) (map[imap.UID]string, error) {
	bufs, err := c.Fetch(uids, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		return nil, err
	}
	out := make(map[imap.UID]string, len(bufs))
	for _, b := range bufs {
		if b.Envelope != nil {
			out[b.UID] = b.Envelope.Subject
		}
	}
	return out, nil
}

// storableFlags says which flags the destination folder keeps, so that a
// flag it cannot store is not called a difference. PERMANENTFLAGS says so
// (RFC 9051 section 7.1; \* allows any new keyword), but an EXAMINE gets
// "PERMANENTFLAGS ()" from servers such as Dovecot, since nothing may be
// changed in a read-only session. Then the FLAGS response stands in (the
// flags applicable in the folder, section 7.3.5): the system flags and the
// keywords the folder holds. A keyword that the destination folder holds on
// no message at all is then not compared, and the report's note names it.
func storableFlags(sel *imap.SelectData) func(imap.Flag) bool {
	list := sel.PermanentFlags
	if len(list) == 0 {
		list = sel.Flags
	}
	if len(list) == 0 {
		return func(imap.Flag) bool { return true }
	}
	set := map[string]bool{}
	anyKeyword := false
	for _, f := range list {
		if f == imap.FlagWildcard {
			anyKeyword = true
		}
		set[strings.ToLower(string(f))] = true
	}
	return func(f imap.Flag) bool {
		return set[strings.ToLower(string(f))] || anyKeyword && !strings.HasPrefix(string(f), `\`)
	}
}

// storedFlags returns the flags keep allows, and records the others in
// dropped (when not nil).
func storedFlags(flags []imap.Flag, keep func(imap.Flag) bool, dropped map[string]bool) []string {
	out := []string{}
	for _, f := range flags {
		if keep(f) {
			out = append(out, string(f))
		} else if dropped != nil {
			dropped[string(f)] = true
		}
	}
	return out
}

// withoutAdded drops flag from dst when src lacks it: the keyword the copy
// added itself (DisarmReadReceipts adds $MDNSent) is not a difference.
func withoutAdded(dst, src []string, flag string) []string {
	for _, f := range src {
		if strings.EqualFold(f, flag) {
			return dst
		}
	}
	out := dst[:0:0]
	for _, f := range dst {
		if !strings.EqualFold(f, flag) {
			out = append(out, f)
		}
	}
	return out
}

// sameFlags compares two flag lists as sets; flags are case-insensitive
// (RFC 9051 section 2.3.2).
func sameFlags(a, b []string) bool {
	set := func(l []string) string {
		low := make([]string, len(l))
		for i, f := range l {
			low[i] = strings.ToLower(f)
		}
		sort.Strings(low)
		return strings.Join(low, " ")
	}
	return set(a) == set(b)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// matcher pairs the messages of one source folder with those of its
// destination folder.
type matcher struct {
	keep func(imap.Flag) bool // see storableFlags
}

// pairByFingerprint pairs messages with the same fingerprint, as the
// engine's reconciliation would, and returns the groups ([source,
// destination]) it cannot pair without reading bodies:
//
//   - several messages with one fingerprint whose dates and flags do not
//     pair them one to one (or whose counts differ): which one is missing,
//     or which has which flags, is in doubt;
//   - unpaired messages whose headers match but whose sizes differ.
func (mt matcher) pairByFingerprint(src, dst []*vmsg) [][2][]*vmsg {
	srcBy, dstBy := groupBy(src, func(m *vmsg) string { return m.fp }), groupBy(dst, func(m *vmsg) string { return m.fp })
	var doubtful [][2][]*vmsg
	inDoubt := map[*vmsg]bool{}
	for _, fp := range sortedGroupKeys(srcBy) {
		s, d := srcBy[fp], dstBy[fp]
		switch {
		case len(d) == 0:
		case len(s) == 1 && len(d) == 1:
			link(s[0], d[0])
		case len(s) == len(d) && mt.pairAll(s, d):
		default:
			doubtful = append(doubtful, [2][]*vmsg{s, d})
			for _, m := range append(append([]*vmsg(nil), s...), d...) {
				inDoubt[m] = true
			}
		}
	}
	alone := func(m *vmsg) string {
		if m.twin != nil || m.fp == "" || inDoubt[m] {
			return ""
		}
		return m.header
	}
	srcBy, dstBy = groupBy(src, alone), groupBy(dst, alone)
	for _, h := range sortedGroupKeys(srcBy) {
		if d := dstBy[h]; len(d) > 0 {
			doubtful = append(doubtful, [2][]*vmsg{srcBy[h], d})
		}
	}
	return doubtful
}

// pairAll pairs s and d (of equal length) one to one by date and flags,
// and reports whether it could; when it cannot, nothing is paired.
func (mt matcher) pairAll(s, d []*vmsg) bool {
	var pairs [][2]*vmsg
	used := make([]bool, len(d))
	for _, a := range s {
		found := false
		for j, b := range d {
			if !used[j] && mt.sameAttrs(a, b) {
				used[j], found = true, true
				pairs = append(pairs, [2]*vmsg{a, b})
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, p := range pairs {
		link(p[0], p[1])
	}
	return true
}

// pairByContent pairs the messages of a doubtful group whose bodies are
// identical: those with the same date and flags first, then the others.
// Source messages the policy keeps are paired before those it leaves out,
// so that a missing copy is called missing rather than skipped. What stays
// unpaired is noted with the other end's look-alike.
func (mt matcher) pairByContent(s, d []*vmsg) {
	s = append([]*vmsg(nil), s...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].reason == "" && s[j].reason != "" })
	for _, strict := range []bool{true, false} {
		for _, a := range s {
			if a.twin != nil || a.content == "" {
				continue
			}
			for _, b := range d {
				if b.twin == nil && b.content == a.content && (!strict || mt.sameAttrs(a, b)) {
					link(a, b)
					if a.size() != b.size() {
						a.note = fmt.Sprintf("the source reports %d bytes and the destination %d for identical bytes", a.size(), b.size())
					}
					break
				}
			}
		}
	}
	copies := func(l []*vmsg) map[string]int {
		n := map[string]int{}
		for _, m := range l {
			n[m.content]++
		}
		return n
	}
	srcCopies, dstCopies := copies(s), copies(d)
	explain := func(m *vmsg, there string, other []*vmsg) {
		switch {
		case m.twin != nil || len(other) == 0:
		case m.content == "":
			m.note = joinNote(m.note, "its content could not be fetched to compare it")
		case srcCopies[m.content] > 0 && dstCopies[m.content] > 0:
			m.note = joinNote(m.note, fmt.Sprintf("identical copies: %d at the source, %d at the destination",
				srcCopies[m.content], dstCopies[m.content]))
		default:
			m.note = joinNote(m.note, fmt.Sprintf("the %s holds a message with the same header but other content (UID %d, %d bytes)", there, other[0].uid, other[0].size()))
		}
	}
	for _, a := range s {
		explain(a, "destination", d)
	}
	for _, b := range d {
		explain(b, "source", s)
	}
}

// sameAttrs reports whether a and b have the same INTERNALDATE (to the
// second, as IMAP gives it) and the same flags the destination keeps.
func (mt matcher) sameAttrs(a, b *vmsg) bool {
	return a.date.unix() == b.date.unix() && sameFlags(storedFlags(a.flags(), mt.keep, nil), storedFlags(b.flags(), mt.keep, nil))
}

func link(a, b *vmsg) { a.twin, b.twin = b, a }

// groupBy groups msgs by key, leaving out those whose key is "", in
// ascending UID order within a group.
func groupBy(msgs []*vmsg, key func(*vmsg) string) map[string][]*vmsg {
	out := map[string][]*vmsg{}
	for _, m := range msgs {
		if k := key(m); k != "" {
			out[k] = append(out[k], m)
		}
	}
	return out
}

func sortedGroupKeys(m map[string][]*vmsg) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
