package mailsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// Source folders deleted or renamed between runs (RELIABILITY §3 rows 17
// and 18).
//
// A folder the state knows that the source no longer lists is gone from
// the source. Nothing is ever deleted at the destination: the folder and
// what was copied into it stay, and every report lists it with the status
// StatusSourceGone; it is not an error.
//
// A rename is told apart from a delete plus a create: a new source folder
// (one the state does not know) that has the UIDVALIDITY of a gone one and
// the same messages, checked by the fingerprints of up to renameSample of
// the recorded messages under the same UIDs (a rename keeps UIDVALIDITY
// and UIDs on Dovecot and the servers we know; a new folder gets a new
// UIDVALIDITY). Such a folder takes over the gone folder's state, and its
// destination folder is renamed to follow (RENAME at the destination,
// which deletes nothing), so that nothing is copied twice and the
// destination names keep matching the source's. Sub-folders follow their
// parent: a destination RENAME moves them too (RFC 9051 section 6.3.6),
// which the next folders notice by UIDVALIDITY. When the new name is
// taken at the destination by another folder, the copy goes on into the
// old destination folder instead (keepStateDest).
//
// The other way, copying the renamed folder afresh under its new name and
// matching by content, was not chosen: content is only matched within one
// destination folder, so the messages would be at the destination twice,
// under both names.

// StatusSourceGone is the FolderReport.Status of a folder the state knows
// that the source no longer has.
const StatusSourceGone = "source folder gone"

// renameSample bounds the messages compared to recognise a renamed folder.
const renameSample = 20

// findVanished returns the folders the state knows for this mailbox that
// are not in the plan: gone from the source since an earlier run.
func (s *run) findVanished(ctx context.Context, plan []folder.Mapping) ([]store.Folder, error) {
	known, err := s.opts.State.Folders(ctx, s.opts.Mailbox)
	if err != nil {
		return nil, stateErr{err}
	}
	planned := make(map[string]bool, len(plan))
	for _, m := range plan {
		planned[m.Source] = true
	}
	var gone []store.Folder
	for _, f := range known {
		if !planned[f.SourceName] {
			gone = append(gone, f)
		}
	}
	return gone, nil
}

// renamedFrom returns the state of a gone folder that fr, a source folder
// the state does not know, was renamed from, or nil. src has fr examined.
func (s *run) renamedFrom(ctx context.Context, src *imapconn.Conn, fr *folderRun) (*store.Folder, error) {
	have := make(map[imap.UID]bool, len(fr.msgs))
	for _, m := range fr.msgs {
		have[m.uid] = true
	}
	for i := range s.vanished {
		cand := s.vanished[i]
		if cand.SourceUIDValidity != fr.uidValidity || s.adopted[cand.ID] {
			continue
		}
		recorded, err := s.opts.State.Messages(ctx, cand.ID)
		if err != nil {
			return nil, stateErr{err}
		}
		want := map[imap.UID]string{}
		var sample imap.UIDSet
		for _, r := range recorded {
			if uid := imap.UID(r.SourceUID); have[uid] && len(want) < renameSample {
				want[uid] = r.Fingerprint
				sample.AddNum(uid)
			}
		}
		if len(want) == 0 {
			continue
		}
		same := 0
		err = fetchHeaders(src, sample, func(h header) {
			if want[h.uid] == h.fp {
				same++
			}
		})
		if err != nil {
			return nil, fmt.Errorf("compare with %q of the last run: %w", cand.SourceName, err)
		}
		if same != len(want) {
			continue
		}
		s.adopted[cand.ID] = true
		fr.renamedFrom = cand.SourceName
		fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("renamed at the source from %q since the last run", cand.SourceName))
		s.log.Info("Source folder renamed since the last run.", "folder", fr.m.Display, "was", cand.SourceName)
		return &cand, nil
	}
	return nil, nil
}

// followRename makes the destination follow a folder renamed at the
// source (see renamedFrom): the destination folder fr.st names is renamed
// to fr.m.Dest, and the state takes the new source name. In a dry run it
// only says so.
func (s *run) followRename(ctx context.Context, dst *imapconn.Conn, fr *folderRun) error {
	st := fr.st
	old := st.DestName
	if old != fr.m.Dest {
		newUV, newExists := uidValidityOf(dst, fr.m.Dest)
		_, oldExists := uidValidityOf(dst, old)
		switch {
		case newExists && newUV == st.DestUIDValidity:
			// Already moved, with its parent folder.
			fr.m.DestExists = true
			st.DestName = fr.m.Dest
		case newExists, !oldExists, strings.EqualFold(old, "INBOX"):
			// Another folder has the new name, or the old destination
			// folder is gone too, or it is the INBOX, which RENAME would
			// empty rather than move: keepStateDest decides.
		case s.opts.DryRun:
			fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("destination folder %q would be renamed to %q", old, fr.m.Dest))
			fr.m.Dest, fr.m.DestExists = old, true
			fr.rep.Destination = old
		default:
			if err := dst.Rename(old, fr.m.Dest, nil).Wait(); err != nil {
				return fmt.Errorf("rename destination folder %q to %q: %w", old, fr.m.Dest, err)
			}
			fr.m.DestExists = true
			st.DestName = fr.m.Dest
			fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("destination folder %q renamed to %q", old, fr.m.Dest))
		}
	}
	if s.opts.DryRun {
		return nil
	}
	if err := s.opts.State.RenameFolder(ctx, st.ID, fr.m.Source); err != nil {
		return stateErr{err}
	}
	st.SourceName = fr.m.Source
	return nil
}

// keepStateDest handles a folder whose plan names another destination
// folder than the one its messages were copied into (a folder that
// appeared at the destination since and now takes the name, or a rename
// at the source whose new name was taken): while that folder is still
// there, unchanged (same UIDVALIDITY), the copy goes on into it, since
// switching would copy every message again into a second folder. When it
// is gone or renumbered, the planned folder is used and what is already
// in it is recognised by content (openDest).
func (s *run) keepStateDest(dst *imapconn.Conn, fr *folderRun) {
	old := fr.st.DestName
	if uv, ok := uidValidityOf(dst, old); !ok || uv != fr.st.DestUIDValidity {
		return
	}
	fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("copying on into %q, which holds this folder's earlier copies, rather than into %q", old, fr.m.Dest))
	fr.m.Dest, fr.m.DestExists = old, true
	fr.rep.Destination = old
}

// uidValidityOf returns a destination folder's UIDVALIDITY, and whether it
// exists.
func uidValidityOf(dst *imapconn.Conn, name string) (uint32, bool) {
	data, err := dst.Status(name, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		return 0, false
	}
	return data.UIDValidity, true
}

// reportGone adds to the report the folders gone from the source that no
// renamed folder took over: with their destination folder, kept, and how
// many messages it holds.
func (s *run) reportGone(ctx context.Context, dst *imapconn.Conn) error {
	for _, f := range s.vanished {
		if s.adopted[f.ID] {
			continue
		}
		recorded, err := s.opts.State.Messages(ctx, f.ID)
		if err != nil {
			return stateErr{err}
		}
		count := -1
		if data, err := dst.Status(f.DestName, &imap.StatusOptions{NumMessages: true}).Wait(); err == nil && data.NumMessages != nil {
			count = int(*data.NumMessages)
		}
		s.rep.Folders = append(s.rep.Folders, FolderReport{
			Source: f.SourceName, Destination: f.DestName, Status: StatusSourceGone, DestCount: count, Skipped: map[string]int{},
			Note: fmt.Sprintf("the source no longer has this folder (deleted, or renamed with other contents); "+
				"the destination folder and the %d messages copied into it are kept", len(recorded)),
		})
	}
	return nil
}
