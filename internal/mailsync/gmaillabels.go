package mailsync

// Gmail as a source, "All Mail only, labels as keywords" (Options.GmailLabels
// = GmailLabelsKeywords).
//
// Gmail shows each label as a folder, so one message sits in several
// folders. go-imap v2 cannot ask for X-GM-LABELS, so the labels are learnt
// from folder membership instead: every label folder is read header-only
// (the same fingerprint as reconciliation uses, package fingerprint) and
// each fingerprint gets the keywords of the folders it is in.
//
// Where each message goes, once: INBOX if it is in INBOX, else Drafts if it
// is in Drafts, else Sent if it is in Sent, else the destination's Archive
// (All Mail is planned as the source's Archive folder, so it lands in the
// destination's \Archive folder or a new "Archive"). Trash and Spam are
// copied as folders as before: Gmail keeps them out of All Mail. Starred is
// \Flagged on each message and stays skipped; Important is Gmail's own
// ranking, not a label the user set, and stays skipped with no keyword.
//
// Label folders are fully re-read on every pass (as are the folders that
// receive copies): a label change does not touch All Mail's MODSEQ, so a
// pass that read only what changed there would miss it.

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// Values of Options.GmailLabels.
const (
	// GmailLabelsFolders copies each label as a folder (the default).
	GmailLabelsFolders = "folders"
	// GmailLabelsKeywords copies All Mail once, each label a keyword.
	GmailLabelsKeywords = "keywords"
)

// skipLabel marks a Gmail label folder in keywords mode: read for its
// membership, not copied.
const skipLabel folder.SkipReason = "gmail_label"

// checkGmailLabels validates Options.GmailLabels.
func checkGmailLabels(v string) error {
	switch v {
	case "", GmailLabelsFolders, GmailLabelsKeywords:
		return nil
	}
	return fmt.Errorf("gmail labels %q: want %q or %q", v, GmailLabelsFolders, GmailLabelsKeywords)
}

// LabelKeyword is the keyword a Gmail label becomes: the label's path with
// "/" between levels, each byte that an IMAP atom cannot hold (space,
// controls, non-ASCII, `(){%*"\]`) replaced by "_". "Work/Q1 plans" becomes
// "Work/Q1_plans"; "Données" becomes "Donn__es" (é is two bytes).
func LabelKeyword(label string) imap.Flag {
	b := []byte(label)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			b[i] = '_'
		}
	}
	return imap.Flag(b)
}

// gmailListing lists the source's All Mail as its Archive folder, so that
// the folder plan sends it to the destination's archive, and takes the
// Archive role from any other folder. It fails when the source has no All
// Mail (neither \All nor one of its known names): that is not Gmail.
func gmailListing(t *tree) error {
	found := false
	for i, l := range t.listed {
		display := strings.TrimPrefix(l.Name, t.ns.Prefix)
		if l.Delim != 0 {
			display = strings.ReplaceAll(display, string(l.Delim), "/")
		}
		attrs := slices.DeleteFunc(slices.Clone(l.Attrs), func(a imap.MailboxAttr) bool {
			return strings.EqualFold(string(a), string(imap.MailboxAttrArchive))
		})
		if !found && folder.RoleOf(l, display) == folder.RoleAll {
			found = true
			attrs = slices.DeleteFunc(attrs, func(a imap.MailboxAttr) bool {
				return strings.EqualFold(string(a), string(imap.MailboxAttrAll))
			})
			attrs = append(attrs, imap.MailboxAttrArchive)
		}
		t.listed[i].Attrs = attrs
	}
	if !found {
		return fmt.Errorf("gmail labels as keywords: the source has no All Mail folder (special-use \\All or \"[Gmail]/All Mail\")")
	}
	return nil
}

// placement is the order in which the folders that receive copies claim a
// message: the first that holds it keeps it. Roles absent (Trash, Junk)
// neither claim nor give up messages.
var placement = map[folder.Role]int{folder.RoleInbox: 1, folder.RoleDrafts: 2, folder.RoleSent: 3, folder.RoleArchive: 4}

// gmailPlan marks every folder that is neither copied (INBOX, Drafts, Sent,
// Trash, Junk, All Mail as Archive) nor already skipped as a label.
func gmailPlan(plan []folder.Mapping) {
	for i := range plan {
		m := &plan[i]
		switch {
		case m.Skip != folder.SkipNone:
		case m.Role == folder.RoleInbox, m.Role == folder.RoleDrafts, m.Role == folder.RoleSent,
			m.Role == folder.RoleTrash, m.Role == folder.RoleJunk:
		case m.Role == folder.RoleArchive:
			m.Note = joinNote(m.Note, "Gmail's All Mail: each message copied once, its labels as keywords; messages also in INBOX, Drafts or Sent go there instead")
		default:
			m.Skip = skipLabel
			m.Note = joinNote(m.Note, fmt.Sprintf("Gmail label: read, not copied; its messages carry the keyword %q", LabelKeyword(m.Display)))
		}
	}
}

// gmailLabels reads the label folders, gives each message to copy the
// keywords of its labels, and leaves out of a folder the messages a folder
// earlier in placement keeps. It runs after the scan and openDest, before
// the choice of what to copy.
func (s *run) gmailLabels(src, dst *imapconn.Conn, folders []*folderRun) error {
	labels := map[string][]imap.Flag{} // fingerprint → keywords
	for _, fr := range folders {
		if fr.m.Skip != skipLabel || !fr.m.Selectable {
			continue
		}
		kw := LabelKeyword(fr.m.Display)
		if _, err := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return fmt.Errorf("examine label folder %q of %s: %w", fr.m.Display, s.opts.Source.User, err)
		}
		cmd := src.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
		})
		n := 0
		err := collectEach(cmd, func(buf *imapclient.FetchMessageBuffer) {
			if len(buf.BodySection) > 0 {
				n++
				fp := fingerprint.Of(buf.RFC822Size, buf.BodySection[0].Bytes)
				if !slices.Contains(labels[fp], kw) {
					labels[fp] = append(labels[fp], kw)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("read label folder %q of %s: %w", fr.m.Display, s.opts.Source.User, err)
		}
		fr.rep.SourceCount = n
	}

	receivers := slices.DeleteFunc(slices.Clone(folders), func(fr *folderRun) bool { return !fr.active() })
	sort.SliceStable(receivers, func(i, j int) bool {
		return rank(receivers[i].m.Role) < rank(receivers[j].m.Role)
	})
	placed := map[string]int{} // fingerprint → copies kept by earlier folders
	for _, fr := range receivers {
		fps, err := s.fingerprints(src, fr)
		if err != nil {
			return err
		}
		accepts, err := s.destAccepts(dst, fr)
		if err != nil {
			return err
		}
		claims := placement[fr.m.Role] > 0
		avail := map[string]int{}
		for fp, n := range placed {
			avail[fp] = n
		}
		kept := fr.msgs[:0]
		lost := map[imap.Flag]bool{}
		for _, m := range fr.msgs {
			fp, ok := fps[m.uid]
			if claims && ok && avail[fp] > 0 {
				avail[fp]--
				continue // a folder earlier in placement keeps it
			}
			if claims && ok {
				placed[fp]++
			}
			for _, kw := range labels[fp] {
				if !accepts(kw) {
					lost[kw] = true
					continue
				}
				m.set = fr.flagSets.get(addFlag(m.flags(), kw))
				if fr.labels == nil {
					fr.labels = map[imap.UID][]imap.Flag{}
				}
				fr.labels[m.uid] = append(fr.labels[m.uid], kw)
			}
			kept = append(kept, m)
		}
		if n := len(fr.msgs) - len(kept); n > 0 {
			fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("%d messages also in INBOX, Drafts or Sent were copied there only", n))
		}
		clear(fr.msgs[len(kept):])
		fr.msgs = kept
		fr.rep.SourceCount = len(kept)
		if len(lost) > 0 {
			names := make([]string, 0, len(lost))
			for kw := range lost {
				names = append(names, string(kw))
			}
			sort.Strings(names)
			fr.rep.Note = joinNote(fr.rep.Note, fmt.Sprintf("labels not kept: the destination folder does not accept these keywords (no \\* in PERMANENTFLAGS): %s", strings.Join(names, ", ")))
			s.log.Warn("Gmail labels not kept: the destination folder does not accept new keywords.", "folder", fr.m.Display, "labels", len(names))
		}
	}
	return nil
}

// rank orders the receiving folders by placement; Trash and Junk last.
func rank(r folder.Role) int {
	if p := placement[r]; p > 0 {
		return p
	}
	return len(placement) + 1
}

// fingerprints reads the fingerprint of each scanned message of fr.
func (s *run) fingerprints(src *imapconn.Conn, fr *folderRun) (map[imap.UID]string, error) {
	fps := make(map[imap.UID]string, len(fr.msgs))
	if len(fr.msgs) == 0 {
		return fps, nil
	}
	if _, err := src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("examine folder %q of %s: %w", fr.m.Display, s.opts.Source.User, err)
	}
	var uids imap.UIDSet
	for _, m := range fr.msgs {
		uids.AddNum(m.uid)
	}
	err := fetchHeaders(src, uids, func(h header) { fps[h.uid] = h.fp })
	if err != nil {
		return nil, fmt.Errorf("fetch headers in folder %q of %s: %w", fr.m.Display, s.opts.Source.User, err)
	}
	return fps, nil
}

// destAccepts says which keywords fr's destination folder keeps, from its
// PERMANENTFLAGS. A folder a dry run has not created yet is assumed to keep
// them all.
func (s *run) destAccepts(dst *imapconn.Conn, fr *folderRun) (func(imap.Flag) bool, error) {
	if fr.destMissing {
		return func(imap.Flag) bool { return true }, nil
	}
	sel, err := s.selectDest(dst, fr)
	if err != nil {
		return nil, err
	}
	return func(kw imap.Flag) bool { return acceptsKeyword(sel.PermanentFlags, kw) }, nil
}

// addFlag adds kw to the sorted flags unless it is there in any case.
func addFlag(flags []imap.Flag, kw imap.Flag) []imap.Flag {
	if slices.ContainsFunc(flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(kw)) }) {
		return flags
	}
	flags = append(slices.Clip(flags), kw)
	sort.Slice(flags, func(i, j int) bool { return flags[i] < flags[j] })
	return flags
}
