package mailsync

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// Unchanged folders (issue 6: incremental passes that cost almost nothing).
//
// A pass that leaves a source folder complete (every message at the
// destination, nothing failed, skipped or deferred, no note) records the
// folder's figures as its EXAMINE showed them before the folder was read:
// HIGHESTMODSEQ, UIDNEXT, MESSAGES (store.SettleFolders). The next pass
// gets every folder's figures in the LIST it needs anyway (LIST-STATUS),
// or with STATUS commands sent all at once, and skips a folder whose
// figures, UIDVALIDITY and destination folder (name, UIDVALIDITY) are
// those recorded: no EXAMINE, no FETCH, no SELECT at the destination.
//
// This needs CONDSTORE at the source. HIGHESTMODSEQ grows with every flag
// change and every expunge, UIDNEXT with every new message, so equal
// figures mean nothing happened. Without CONDSTORE a flag change leaves
// UIDNEXT and MESSAGES as they were, so every folder is read in full on
// every pass: carrying flag changes over matters more than the round
// trips saved.
//
// Messages deleted at the destination by its user are not looked for in
// a skipped folder; a scanned folder does not look for them either (the
// state says they were copied, and they are not copied again).

// sourceFigures is what the LIST asks of every source folder: nil (no
// STATUS at all) when the source has no CONDSTORE, since the figures could
// then not let any folder be skipped.
func sourceFigures(c *imapconn.Conn) *imap.StatusOptions {
	if !c.Caps().Has(imap.CapCondStore) {
		return nil
	}
	return &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: true}
}

// destFigures is what the LIST asks of every destination folder: its
// UIDVALIDITY, which says whether it is still the folder the state
// records copies into.
var destFigures = &imap.StatusOptions{UIDValidity: true}

// figures fills in, with STATUS commands sent at once (one round trip per
// side), the figures the LISTs did not carry because the server has no
// LIST-STATUS. Folders that are not copied are not asked about.
func figures(src, dst *imapconn.Conn, plan []folder.Mapping, srcTree, dstTree *tree) error {
	srcOpts := sourceFigures(src)
	if srcOpts == nil {
		return nil
	}
	type pending struct {
		t    *tree
		name string
		cmd  *imapclient.StatusCommand
	}
	var cmds []pending
	ask := func(c *imapconn.Conn, t *tree, name string, opts *imap.StatusOptions) {
		if t.status[name] != nil {
			return
		}
		cmds = append(cmds, pending{t, name, c.Status(name, opts)})
	}
	for _, m := range plan {
		if m.Skip != folder.SkipNone {
			continue
		}
		ask(src, srcTree, m.Source, srcOpts)
		if m.DestExists {
			ask(dst, dstTree, m.Dest, destFigures)
		}
	}
	var firstErr error
	for _, p := range cmds {
		st, err := p.cmd.Wait()
		if err != nil {
			// A folder that cannot be STATUSed is scanned; a lost
			// connection shows again at the next command.
			if firstErr == nil {
				firstErr = fmt.Errorf("status of %q: %w", p.name, err)
			}
			continue
		}
		if p.t.status == nil {
			p.t.status = map[string]*imap.StatusData{}
		}
		p.t.status[p.name] = st
	}
	return firstErr
}

// skipUnchanged tells whether fr can be skipped as unchanged since the
// pass that settled it, and if so fills its report from the state:
// every source message is recorded as at the destination. Not when the
// item cap could bite this pass (see capAllowsSkip).
func (s *run) skipUnchanged(ctx context.Context, fr *folderRun, srcTree, dstTree *tree) (bool, error) {
	if !s.capOK || s.opts.DryRun {
		return false, nil
	}
	srcSt, dstSt := srcTree.status[fr.m.Source], dstTree.status[fr.m.Dest]
	if srcSt == nil || dstSt == nil || srcSt.HighestModSeq == 0 || srcSt.NumMessages == nil || !fr.m.DestExists {
		return false, nil
	}
	st := s.folderState(fr.m.Source)
	if st == nil {
		return false, nil
	}
	if st.DestName != fr.m.Dest || st.DestUIDValidity != dstSt.UIDValidity {
		return false, nil
	}
	// The destination folder is the one the state records copies into:
	// a changed source folder can be read by its changes (see scan).
	fr.destIntact = true
	now := store.Figures{ModSeq: srcSt.HighestModSeq, UIDNext: uint32(srcSt.UIDNext), Messages: *srcSt.NumMessages}
	if st.Settled.UIDNext == 0 || st.Settled != now || st.SourceUIDValidity != srcSt.UIDValidity {
		return false, nil
	}
	recorded, err := s.opts.State.CountMessages(ctx, st.ID)
	if err != nil {
		return false, err
	}
	fr.st = st
	fr.unchanged = true
	fr.rep.Unchanged = true
	fr.rep.SourceCount = int(now.Messages)
	fr.rep.Present = int(now.Messages)
	fr.rep.DeletedAtSource = recorded - int(now.Messages)
	return true, nil
}

// capAllowsSkip reports whether skipping folders leaves the item cap's
// choice as it is: the cap ranks every message of the mailbox by date, so
// a folder left unread could let others' messages rank higher than they
// should, unless the whole mailbox (by STATUS) is within the cap.
func (s *run) capAllowsSkip(plan []folder.Mapping, srcTree *tree) bool {
	if s.opts.MaxItems <= 0 {
		return true
	}
	total := 0
	for _, m := range plan {
		if m.Skip != folder.SkipNone {
			continue
		}
		st := srcTree.status[m.Source]
		if st == nil || st.NumMessages == nil {
			return false
		}
		total += int(*st.NumMessages)
	}
	return total <= s.opts.MaxItems
}

// settleFolders records the figures of each folder this pass read and left
// complete, so that the next pass can skip it while it stays unchanged.
func (s *run) settleFolders(ctx context.Context, folders []*folderRun) error {
	figs := map[int64]store.Figures{}
	for _, fr := range folders {
		if !fr.active() || fr.unchanged || fr.seen.ModSeq == 0 || fr.st == nil || fr.st.ID == 0 || fr.reset {
			continue
		}
		r := fr.rep
		complete := r.Present+r.Copied == r.SourceCount && r.Failed == 0 && r.Deferred == 0 &&
			len(r.Skipped) == 0 && fr.dropped == 0 && r.Note == fr.m.Note && r.Status == "synced"
		if !complete {
			continue
		}
		figs[fr.st.ID] = fr.seen
	}
	if err := s.opts.State.SettleFolders(ctx, figs); err != nil {
		return stateErr{err}
	}
	return nil
}
