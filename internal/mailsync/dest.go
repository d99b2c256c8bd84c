package mailsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// openDest makes sure the destination folder exists (and is subscribed when
// the source folder is), and checks that the recorded state still describes
// it. In a dry run it only looks.
func (s *run) openDest(ctx context.Context, dst *imapconn.Conn, fr *folderRun, dt *tree) error {
	if fr.renamedFrom != "" {
		if err := s.followRename(ctx, dst, fr); err != nil {
			return err
		}
	}
	if fr.st != nil && !fr.reset && fr.st.DestName != fr.m.Dest {
		s.keepStateDest(dst, fr)
	}
	m := fr.m
	if !m.DestExists {
		if s.opts.DryRun {
			fr.destMissing = true
			fr.rep.Note = joinNote(fr.rep.Note, "destination folder would be created")
			return nil
		}
		if err := createFolder(dst, m); err != nil {
			return fmt.Errorf("create destination folder %q: %w", m.Dest, err)
		}
	}
	if m.Subscribed && !dt.subscribed[m.Dest] && !s.opts.DryRun {
		if err := dst.Subscribe(m.Dest).Wait(); err != nil {
			fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("subscribe at the destination failed: %v", err))
		}
	}
	uidValidity, err := s.destUIDValidity(dst, fr, dt)
	if err != nil {
		return err
	}
	if st := fr.st; st != nil && !fr.reset && (st.DestName != m.Dest || st.DestUIDValidity != uidValidity) {
		// The destination folder is not the one the state speaks of
		// (recreated, renamed, or the mapping rules changed): recognise what
		// is there by content instead.
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("destination folder changed since the last run (was %q UIDVALIDITY %d, now %q UIDVALIDITY %d): messages already copied were recognised by content",
			st.DestName, st.DestUIDValidity, m.Dest, uidValidity))
		fr.reset = true
	}
	if fr.reset && fr.partial {
		// Changed between the LIST and this SELECT: the scan read only
		// the source's changes, which is not enough to copy again.
		return fmt.Errorf("destination folder %q changed during the pass; the next pass recognises what it holds", m.Dest)
	}
	if fr.reset {
		fr.rep.DeletedAtSource = 0
		fr.mapped.reset()
	}
	if s.opts.DryRun {
		return nil
	}
	if fr.st == nil {
		fr.st = &store.Folder{Mailbox: s.opts.Mailbox, SourceName: m.Source}
	} else if fr.reset {
		if err := s.opts.State.ResetFolder(ctx, fr.st.ID); err != nil {
			return stateErr{err}
		}
	}
	fr.st.SourceUIDValidity, fr.st.DestName, fr.st.DestUIDValidity = fr.uidValidity, m.Dest, uidValidity
	s.unsaved = append(s.unsaved, fr.st)
	return nil
}

// saveDest saves the states of the folders openDest opened and the flags
// syncFlags carried over since the last call, in one transaction rather
// than two per folder. Nothing is recorded of a folder's messages before
// its state is saved; flags stored at the destination but not recorded
// yet, should the pass stop first, are stored again by the next one,
// which is harmless. A state that cannot be written stops the pass (see
// fatal): the folders are not in error, the database is, and the next
// pass goes on.
func (s *run) saveDest(ctx context.Context) error {
	err := s.opts.State.SaveFolders(ctx, s.unsaved, s.flagged)
	s.unsaved, s.flagged = nil, nil
	if err != nil {
		return stateErr{err}
	}
	return nil
}

// destUIDValidity is the UIDVALIDITY of fr's destination folder: as the
// pass's LIST reported it (LIST-STATUS or STATUS, see figures) for a folder
// that existed then, which saves a SELECT per folder, or from a SELECT.
func (s *run) destUIDValidity(dst *imapconn.Conn, fr *folderRun, dt *tree) (uint32, error) {
	if st := dt.status[fr.m.Dest]; st != nil && st.UIDValidity != 0 && fr.m.DestExists && fr.renamedFrom == "" {
		return st.UIDValidity, nil
	}
	sel, err := s.selectDest(dst, fr)
	if err != nil {
		return 0, err
	}
	return sel.UIDValidity, nil
}

// createFolder creates a destination folder, with its special use where the
// server lets us say it. A folder that exists already is fine.
func createFolder(dst *imapconn.Conn, m folder.Mapping) error {
	var opts *imap.CreateOptions
	if attr := roleAttr[m.Role]; attr != "" && dst.Caps().Has(imap.CapCreateSpecialUse) {
		opts = &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{attr}}
	}
	err := dst.Create(m.Dest, opts).Wait()
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil && opts != nil {
		// Some servers advertise CREATE-SPECIAL-USE but refuse a use they
		// already have elsewhere: a plain folder is better than none.
		err = dst.Create(m.Dest, nil).Wait()
		if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
	}
	return err
}

var roleAttr = map[folder.Role]imap.MailboxAttr{
	folder.RoleSent:    imap.MailboxAttrSent,
	folder.RoleDrafts:  imap.MailboxAttrDrafts,
	folder.RoleTrash:   imap.MailboxAttrTrash,
	folder.RoleJunk:    imap.MailboxAttrJunk,
	folder.RoleArchive: imap.MailboxAttrArchive,
}

// destSelection sends the SELECT of fr's destination folder unless it is
// the last one sent on dst, answered or not: commands sent after it act
// on that folder, so they go out without waiting for its answer, and an
// incremental pass, which works folder after folder on one connection,
// selects each folder once.
func (s *run) destSelection(dst *imapconn.Conn, fr *folderRun) *imapconn.Selection {
	if sel := dst.Selection(fr.m.Dest, s.opts.DryRun); sel != nil {
		return sel
	}
	return dst.SelectAlone(fr.m.Dest, &imap.SelectOptions{ReadOnly: s.opts.DryRun})
}

// selectDest selects fr's destination folder (see destSelection) and
// returns the SELECT's answer.
func (s *run) selectDest(dst *imapconn.Conn, fr *folderRun) (*imap.SelectData, error) {
	sel, err := s.destSelection(dst, fr).Wait()
	if err != nil {
		return nil, fmt.Errorf("select destination folder %q: %w", fr.m.Dest, err)
	}
	return sel, nil
}

// reconcile finds, among the messages still to copy, those already at the
// destination although the state does not record them: copied by a run that
// was killed before it recorded them, or by a run whose state was lost.
// Destination messages that no record accounts for are matched with the
// messages to copy by fingerprint, as a multiset.
//
// It returns the candidates not found. Found ones count as already present,
// or as copied when duringCopy (a retry recognising what a failed attempt
// stored).
func (s *run) reconcileMessages(ctx context.Context, src, dst *imapconn.Conn, fr *folderRun, cands []srcMsg, duringCopy bool) ([]srcMsg, error) {
	if len(cands) == 0 || fr.destMissing || (fr.destClean && !duringCopy) {
		return cands, nil
	}
	sel, search := s.askUnaccounted(dst, fr)
	accounted := fr.recorded
	if duringCopy {
		accounted = func(fn func(store.Message)) error { return s.stateCopies(ctx, fr, fn) }
	}
	unknown, unknownUIDFPs, err := s.unaccounted(fr, sel, search, accounted)
	if err != nil || len(unknown) == 0 {
		return cands, err
	}

	// Fingerprints of the destination messages nobody accounts for.
	destFP := map[string][]header{}
	err = fetchHeaders(dst, unknown, func(h header) {
		h.flags, _ = cleanFlags(h.flags)
		destFP[h.fp] = append(destFP[h.fp], h)
	})
	if err != nil {
		return cands, fmt.Errorf("fetch destination headers in %q: %w", fr.m.Dest, err)
	}
	for _, fp := range unknownUIDFPs {
		if l := destFP[fp]; len(l) > 0 {
			destFP[fp] = l[1:]
		}
	}

	// Fingerprints of the source messages to copy.
	if _, err := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return cands, fmt.Errorf("examine source folder %q: %w", fr.m.Display, err)
	}
	var want imap.UIDSet
	for _, m := range cands {
		want.AddNum(m.uid)
	}
	srcFP := map[imap.UID]string{}
	err = fetchHeaders(src, want, func(h header) { srcFP[h.uid] = h.fp })
	if err != nil {
		return cands, fmt.Errorf("fetch source headers in %q: %w", fr.m.Display, err)
	}

	var found []store.Message
	var remaining []srcMsg
	for _, m := range cands {
		fp, ok := srcFP[m.uid]
		l := destFP[fp]
		if !ok || len(l) == 0 {
			remaining = append(remaining, m)
			continue
		}
		i := likeliest(l, &m)
		d := l[i]
		destFP[fp] = slices.Delete(l, i, i+1)
		set := fr.flagSets.get(d.flags)
		rec := store.Message{SourceUID: uint32(m.uid), DestUID: uint32(d.uid), Flags: set.strs, Fingerprint: fp}
		found = append(found, rec)
		fr.mu.Lock()
		if duringCopy {
			fr.rep.Copied++
			fr.rep.Bytes += m.size()
		} else {
			fr.mapped.put(rec, set)
			fr.rep.Present++
		}
		fr.mu.Unlock()
		if duringCopy {
			s.progress(fr, &m, m.size())
		}
	}
	if len(found) > 0 {
		s.log.Info("Recognised messages already at the destination.", "folder", fr.m.Display, "count", len(found))
	}
	if s.opts.DryRun {
		return remaining, nil
	}
	if err := s.opts.State.PutMessages(ctx, fr.st.ID, found); err != nil {
		return remaining, stateErr{err}
	}
	return remaining, nil
}

// lookAhead starts, as the folder's flags are about to be carried over on
// the same connection, the first step of the reconciliation that comes
// before the copy: whether the destination folder holds any message the
// state does not account for. Almost always it holds none (destClean), and
// the reconciliation then costs no SELECT and no SEARCH later. Only for a
// folder with messages the state does not record (candidates to copy).
// It sends the SELECT and the SEARCH and returns what reads their answers
// (nil: nothing sent), so that they share a round trip with the flags'.
func (s *run) lookAhead(dst *imapconn.Conn, fr *folderRun) func() error {
	if fr.destMissing || s.opts.DryRun || fr.reset {
		return nil
	}
	if !fr.uncopied() {
		return nil
	}
	sel, search := s.askUnaccounted(dst, fr)
	return func() error {
		unknown, _, err := s.unaccounted(fr, sel, search, fr.recorded)
		fr.destClean = err == nil && len(unknown) == 0
		return err
	}
}

// askUnaccounted selects fr's destination folder and lists its UIDs, for
// unaccounted.
func (s *run) askUnaccounted(dst *imapconn.Conn, fr *folderRun) (*imapconn.Selection, *imapclient.SearchCommand) {
	sel := s.destSelection(dst, fr)
	return sel, dst.UIDSearch(&imap.SearchCriteria{}, nil)
}

// unaccounted lists, from the answers to askUnaccounted, the messages of
// fr's destination folder that no record (as listed by records) accounts
// for by UID, and the fingerprints of the records without a destination
// UID (copies to a server without UIDPLUS).
func (s *run) unaccounted(fr *folderRun, sel *imapconn.Selection, search *imapclient.SearchCommand, records func(func(store.Message)) error) (unknown imap.UIDSet, noUIDFPs []string, err error) {
	_, selErr := sel.Wait()
	found, err := search.Wait()
	if selErr != nil {
		return nil, nil, fmt.Errorf("select destination folder %q: %w", fr.m.Dest, selErr)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list destination uids in %q: %w", fr.m.Dest, err)
	}
	accounted := map[imap.UID]bool{}
	err = records(func(r store.Message) {
		if r.DestUID != 0 {
			accounted[imap.UID(r.DestUID)] = true
		} else {
			noUIDFPs = append(noUIDFPs, r.Fingerprint)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	for _, uid := range found.AllUIDs() {
		if !accounted[uid] {
			unknown.AddNum(uid)
		}
	}
	return unknown, noUIDFPs, nil
}

// recorded calls fn with each of the folder's copies the pass knows of
// before its copy (mapped).
func (fr *folderRun) recorded(fn func(store.Message)) error {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.mapped.each(fn)
	return nil
}

// stateCopies calls fn with each of the folder's copies the state
// records, the copy's own included, for a reconciliation during the copy.
func (s *run) stateCopies(ctx context.Context, fr *folderRun, fn func(store.Message)) error {
	recs, err := s.opts.State.Recorded(ctx, fr.st.ID)
	if err != nil {
		return stateErr{err}
	}
	for _, r := range recs {
		fn(r)
	}
	return nil
}

// likeliest picks, among destination copies of one fingerprint, the one
// most likely to be m's copy: the same INTERNALDATE (a copy keeps its
// message's) and flags, else the same INTERNALDATE, else the first.
// Identical twins of one folder differ by nothing else, and a copy
// recorded as its twin's would get the twin's flag changes.
func likeliest(l []header, m *srcMsg) int {
	best, score := 0, -1
	for i, d := range l {
		s := 0
		if d.date.Unix() == m.date.unix() {
			s = 2
			if slices.Equal(d.flags, m.flags()) {
				s = 3
			}
		}
		if s > score {
			best, score = i, s
		}
	}
	return best
}

// header is what fetchHeaders reads of a message.
type header struct {
	uid   imap.UID
	flags []imap.Flag
	date  time.Time
	fp    string // see fingerprint.Of
}

// fetchHeaders fetches UID, FLAGS, INTERNALDATE, RFC822.SIZE and the
// header section of the messages in uids (in the selected folder) and
// calls fn with each.
func fetchHeaders(c *imapconn.Conn, uids imap.UIDSet, fn func(header)) error {
	nums, _ := uids.Nums()
	const batch = 500
	for i := 0; i < len(nums); i += batch {
		set := imap.UIDSetNum(nums[i:min(i+batch, len(nums))]...)
		cmd := c.Fetch(set, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
		})
		err := collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
			if buf.UID != 0 && len(buf.BodySection) > 0 {
				fn(header{uid: buf.UID, flags: buf.Flags, date: buf.InternalDate, fp: fingerprint.Of(buf.RFC822Size, buf.BodySection[0].Bytes)})
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// syncFlags carries flag changes made at the source since the last run over
// to the destination. Only the difference is applied (+FLAGS and -FLAGS
// against what was last written), so flags set by the user at the
// destination after cut-over stay.
func (s *run) syncFlags(ctx context.Context, dst *imapconn.Conn, fr *folderRun) error {
	end, err := s.sendFlags(dst, fr)
	if err != nil || end == nil {
		return err
	}
	err = end(ctx)
	if serr := s.saveDest(ctx); serr != nil {
		return serr
	}
	return err
}

// sendFlags sends the STOREs of syncFlags and returns what reads their
// answers and keeps what they stored for saveDest (nil: nothing sent).
func (s *run) sendFlags(dst *imapconn.Conn, fr *folderRun) (func(context.Context) error, error) {
	type change struct {
		add, del []imap.Flag
		uids     imap.UIDSet
		recs     []store.Message
	}
	changes := map[string]*change{}
	var keys []string
	noUID := 0
	for _, m := range fr.msgs {
		r, ok := fr.mapped.get(m.uid)
		if !ok {
			continue
		}
		add, del := diffFlags(r.Flags, m.flags())
		if len(add) == 0 && len(del) == 0 {
			continue
		}
		if r.DestUID == 0 {
			noUID++
			continue
		}
		key := fmt.Sprint(add, "|", del)
		c := changes[key]
		if c == nil {
			c = &change{add: add, del: del}
			changes[key] = c
			keys = append(keys, key)
		}
		c.uids.AddNum(imap.UID(r.DestUID))
		r.Flags = m.set.strs
		c.recs = append(c.recs, r)
	}
	if noUID > 0 {
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("flags of %d messages changed at the source but cannot be updated: the destination did not report their UIDs (no UIDPLUS)", noUID))
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if s.opts.DryRun {
		for _, c := range changes {
			fr.rep.FlagsUpdated += len(c.recs)
		}
		return nil, nil
	}
	sel := s.destSelection(dst, fr)
	if !sel.Alone {
		if _, err := s.selectDest(dst, fr); err != nil {
			return nil, err
		}
	}
	// Every STORE goes out at once, with the SELECT if it is Alone, and the
	// answers are read after: one round trip for the folder rather than
	// one per kind of change.
	sort.Strings(keys)
	type sent struct {
		cmd   *imapclient.FetchCommand
		c     *change
		flags []imap.Flag
	}
	var stores []sent
	for _, key := range keys {
		c := changes[key]
		for _, op := range []struct {
			op    imap.StoreFlagsOp
			flags []imap.Flag
		}{{imap.StoreFlagsAdd, c.add}, {imap.StoreFlagsDel, c.del}} {
			if len(op.flags) > 0 {
				cmd := dst.Store(c.uids, &imap.StoreFlags{Op: op.op, Silent: true, Flags: op.flags}, nil)
				stores = append(stores, sent{cmd, c, op.flags})
			}
		}
	}
	return func(ctx context.Context) error {
		if _, err := sel.Wait(); err != nil {
			for _, st := range stores {
				_ = st.cmd.Close() // they failed too: no folder was selected
			}
			return fmt.Errorf("select destination folder %q: %w", fr.m.Dest, err)
		}
		var firstErr error
		failed := map[*change]bool{}
		for _, st := range stores {
			if err := st.cmd.Close(); err != nil {
				failed[st.c] = true
				if firstErr == nil {
					firstErr = fmt.Errorf("update flags %v of uids %s in %q: %w", st.flags, st.c.uids, fr.m.Dest, err)
				}
			}
		}
		// What was stored is recorded; a change that failed is tried again by
		// the next pass (adding or removing a flag twice is harmless).
		var recs []store.Message
		for _, key := range keys {
			c := changes[key]
			if failed[c] {
				continue
			}
			recs = append(recs, c.recs...)
			for _, r := range c.recs {
				fr.mapped.put(r, fr.flagSets.ofStrings(r.Flags))
			}
			fr.rep.FlagsUpdated += len(c.recs)
		}
		if len(recs) > 0 {
			if s.flagged == nil {
				s.flagged = map[*store.Folder][]store.Message{}
			}
			s.flagged[fr.st] = append(s.flagged[fr.st], recs...)
		}
		return firstErr
	}, nil
}

// diffFlags returns the flags to add and to remove to go from have to want.
func diffFlags(have []string, want []imap.Flag) (add, del []imap.Flag) {
	if slices.EqualFunc(have, want, func(h string, w imap.Flag) bool { return h == string(w) }) {
		return nil, nil // most messages: no change, both sorted the same way
	}
	h := map[string]bool{}
	for _, f := range have {
		h[strings.ToLower(f)] = true
	}
	w := map[string]bool{}
	for _, f := range want {
		w[strings.ToLower(string(f))] = true
		if !h[strings.ToLower(string(f))] {
			add = append(add, f)
		}
	}
	for _, f := range have {
		if !w[strings.ToLower(f)] {
			del = append(del, imap.Flag(f))
		}
	}
	return add, del
}

// finish counts every destination folder and settles its status. The
// STATUS commands are pipelined: one round trip for the mailbox, not one
// per folder.
func (s *run) finish(dst *imapconn.Conn, folders []*folderRun) {
	cmds := make([]*imapclient.StatusCommand, len(folders))
	for i, fr := range folders {
		if fr.m.Skip == folder.SkipNone && !fr.destMissing && !fr.failed {
			cmds[i] = dst.Status(fr.m.Dest, &imap.StatusOptions{NumMessages: true})
		}
	}
	for i, fr := range folders {
		if cmds[i] != nil {
			st, err := cmds[i].Wait()
			if err == nil && st.NumMessages != nil {
				fr.rep.DestCount = int(*st.NumMessages)
			}
		}
		if fr.rep.Status == "synced" && fr.rep.Failed > 0 {
			fr.rep.Status = "synced with errors"
		}
	}
}
