// Package mailsync is the migration engine: it copies one mailbox from a
// source IMAP server to a destination IMAP server, and on every later run
// copies only what is new and carries flag changes over.
//
// Sync reads top-down: connect, map folders, scan the source, choose what to
// copy, prepare the destination (create folders, recognise what is already
// there, update flags), copy newest to oldest over several connections, and
// count what arrived. The one-shot `imapmigrate sync` and batch jobs both
// call it.
//
// Promises kept here:
//   - The source is never changed: it is opened with EXAMINE and read with
//     BODY.PEEK[], and imapconn's wire guard refuses anything else.
//   - No message is copied twice and none is lost across re-runs, crashes and
//     a lost state database: the state records each copy after the
//     destination's tagged OK, and whatever the state does not account for at
//     the destination is matched by content fingerprint before copying
//     (see package fingerprint) as a multiset.
//   - A message is streamed from FETCH to APPEND; a literal cut short is
//     never completed at the destination (the destination connection is
//     dropped so the server discards the partial APPEND).
//   - Every message not copied is reported with its folder, UID and reason.
package mailsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// Defaults, as in Exchange Online's IMAP migration.
const (
	DefaultMaxMessageSize = 35 << 20 // 35 MiB
	DefaultMaxItems       = 500000
	DefaultConnections    = 4
)

// Options configure one mailbox migration.
type Options struct {
	Source imapconn.Config // ReadOnly is forced on
	Dest   imapconn.Config
	// State records what was copied. Required.
	State *store.DB
	// Mailbox names this migration in State. Defaults to MailboxKey(Source, Dest).
	Mailbox string
	// Folders chooses and maps folders.
	Folders folder.Rules
	// SourceRoot, when set, is the folder under which the user's mailbox
	// is seen at the source by an admin login (the UserRoot of a batch
	// CSV, e.g. "user/alice"): that folder is the INBOX and only the
	// folders below it are the user's.
	SourceRoot string
	// MaxMessageSize skips larger messages (reported as too_large). 0 means
	// no limit; the CLI passes DefaultMaxMessageSize unless told otherwise.
	MaxMessageSize int64
	// MaxItems copies at most the newest MaxItems messages of the mailbox;
	// older ones are counted as over_max_items. 0 means no cap.
	MaxItems int
	// ReceivedAfter, when set, leaves out messages received (INTERNALDATE)
	// before it; they are counted as received_before, not listed.
	ReceivedAfter time.Time
	// Connections is the number of connections per side used for copying.
	// Defaults to DefaultConnections.
	Connections int
	// DryRun plans without writing anything: no folder created, no message
	// copied, no flag changed, no state written.
	DryRun bool
	// Progress, when set, is called as messages are handled. It must be fast
	// and safe for concurrent use.
	Progress func(Progress)
	// Refused, when set, is told of each refusal the run works around
	// rather than fails on: an extra connection that could not be opened
	// (side from the *imapconn.Error), an APPEND answered [UNAVAILABLE] or
	// [INUSE] that is retried ("destination"). Such an answer is often a
	// server's connection limit or throttling, which the service reads to
	// open fewer connections next time. Called from the copying goroutines.
	Refused func(side string, err error)
	// MaxBytes caps the bytes this run copies (0: no cap), for a
	// provider's daily budget (Gmail reads about 2.5 GB and writes 500 MB
	// a day over IMAP before refusing more). Newest first, a message is
	// started only while the bytes before it are under the cap, so a run
	// overshoots by at most one message and never cuts one; the rest is
	// deferred to the next run (Report.BudgetReached), not skipped.
	MaxBytes int64
	// DisarmReadReceipts adds the keyword $MDNSent at APPEND to messages
	// whose header asks for a read receipt (Disposition-Notification-To),
	// where the destination folder accepts that keyword, so that a mail
	// program at the destination (Outlook on Office 365) does not offer to
	// send receipts for old mail again. The message bytes are unchanged.
	DisarmReadReceipts bool
	// GmailLabels says how a Gmail source's labels travel: GmailLabelsFolders
	// ("" too) copies each label folder; GmailLabelsKeywords copies only All
	// Mail, each message once, with its labels as keywords (gmaillabels.go).
	GmailLabels string
	// Logger receives warnings and progress lines. Defaults to slog.Default().
	Logger *slog.Logger
	// ReconnectTimeout is how long the run keeps trying to reach a server
	// again after losing its connection to it (a restart, a failover, a
	// network cut), with backoff, before it stops with an error naming the
	// side and the address. Defaults to DefaultReconnectTimeout.
	ReconnectTimeout time.Duration
}

// Progress is a snapshot of one folder's copying.
type Progress struct {
	Folder     string // display name
	Total      int    // messages to copy in this folder in this run
	Done       int    // of which handled (copied, skipped or failed)
	Bytes      int64  // copied so far in this folder
	TotalBytes int64
}

// MailboxKey names the migration of one mailbox in the state database.
func MailboxKey(src, dst imapconn.Config) string {
	return src.User + "@" + src.Addr + " -> " + dst.User + "@" + dst.Addr
}

// ErrOverQuota is returned (wrapped) when the destination mailbox is full.
// The mailbox is parked: nothing more is copied until the quota is raised.
var ErrOverQuota = errors.New("destination mailbox is over quota")

// run holds what one Sync call shares between its steps.
type run struct {
	ctx  context.Context // the whole run's: see dial
	opts Options
	rep  *Report
	log  *slog.Logger

	// vanished are the folders of earlier runs that the source no longer
	// lists; adopted holds the IDs of those a renamed folder took over
	// (see sourcechange.go).
	vanished []store.Folder
	adopted  map[int64]bool
	// appendLimit is the destination's APPENDLIMIT, 0 if none (see
	// appendlimit.go).
	appendLimit int64
	// capOK says the item cap cannot bite this pass, so that folders can be
	// skipped or read by their changes only (see unchanged.go).
	capOK bool
	// loginTime is how long the pass's first logins took (both sides at
	// once): what an extra lane costs (see moreLanes).
	loginTime time.Duration
	// unsaved and flagged are what openDest and syncFlags leave for
	// saveDest to write.
	unsaved []*store.Folder
	flagged map[*store.Folder][]store.Message
	// states is the state of each source folder (by name) as the pass
	// found it, read at once before the scan (see folderState).
	states map[string]store.Folder

	mu sync.Mutex // guards rep.Skipped, rep.Failed, rep.Errors, rep.Retries
}

// syncPass is one pass of Sync, from the first connection to the report.
func syncPass(ctx context.Context, opts Options) (*Report, error) {
	if opts.State == nil {
		return nil, errors.New("mailsync: no state database")
	}
	if err := checkGmailLabels(opts.GmailLabels); err != nil {
		return nil, err
	}
	if opts.Mailbox == "" {
		opts.Mailbox = MailboxKey(opts.Source, opts.Dest)
	}
	if opts.Connections <= 0 {
		opts.Connections = DefaultConnections
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Source.ReadOnly = true
	opts.Source.Side, opts.Dest.Side = "source", "destination"
	s := &run{
		ctx:     ctx,
		opts:    opts,
		log:     opts.Logger.With("user", opts.Source.User),
		adopted: map[int64]bool{},
		rep: &Report{
			Source:      opts.Source.User + "@" + opts.Source.Addr,
			Destination: opts.Dest.User + "@" + opts.Dest.Addr,
			DryRun:      opts.DryRun,
			Started:     time.Now(),
			Skipped:     []Item{},
			Failed:      []Item{},
			Errors:      []string{},
			Retries:     []string{},
		},
	}

	// 1. Connect to both servers, at the same time: a login is a round trip
	// or three plus a new server process, a good part of an incremental
	// pass. These two connections also serve as the first copy lane.
	began := time.Now()
	var dst *imapconn.Conn
	var dstErr error
	dialed := make(chan struct{})
	go func() {
		defer close(dialed)
		dst, dstErr = s.dial(ctx, opts.Dest)
	}()
	src, err := s.dial(ctx, opts.Source)
	<-dialed
	defer func() {
		// Each LOGOUT waits for its answer: both at once.
		var wg sync.WaitGroup
		for _, c := range []*imapconn.Conn{src, dst} {
			if c != nil {
				wg.Go(func() { c.Close() })
			}
		}
		wg.Wait()
	}()
	if err != nil {
		return nil, err
	}
	if dstErr != nil {
		return nil, dstErr
	}
	s.appendLimit = appendLimitOf(dst)
	s.loginTime = time.Since(began)

	// 2. List both folder trees and map source folders onto destination ones.
	plan, srcTree, dstTree, err := planFolders(ctx, src, dst, opts, s.log, true)
	if err != nil {
		return nil, lostOr(err, src, dst)
	}
	if err := figures(src, dst, plan, srcTree, dstTree); err != nil {
		if err := s.fatal(ctx, err, src, dst); err != nil {
			return nil, err
		}
		s.log.Warn("Could not read folder figures; those folders are scanned.", "err", err)
	}
	// Labels change without touching All Mail's MODSEQ: read in full.
	s.capOK = s.capAllowsSkip(plan, srcTree) && opts.GmailLabels != GmailLabelsKeywords
	if s.vanished, err = s.findVanished(ctx, plan); err != nil {
		return nil, err
	}

	// 3. Scan each source folder: UIDs, flags, dates and sizes, and what the
	// state says is already at the destination. Meanwhile, on the
	// destination connection:
	// 4. open the destination folders: create them (empty ones too) and
	// their subscriptions, check that the state still describes them, and
	// carry the flag changes of each scanned folder over. Each side keeps
	// up to window folders' commands on the wire (see scanAll, openAll).
	s.rep.Folders = make([]FolderReport, len(plan))
	folders := make([]*folderRun, len(plan))
	scanned := make(chan *folderRun, len(plan))
	destDone := make(chan error, 1)
	go func() { destDone <- s.openAll(ctx, src, dst, scanned, dstTree) }()
	scanErr := s.scanAll(ctx, src, dst, plan, folders, srcTree, dstTree, scanned)
	if err := <-destDone; err != nil {
		return nil, err
	}
	if scanErr != nil {
		return nil, scanErr
	}

	// Gmail labels as keywords: read the label folders, tag each message,
	// and keep each message in one folder only.
	if opts.GmailLabels == GmailLabelsKeywords {
		if err := s.gmailLabels(src, dst, folders); err != nil {
			if ferr := s.fatal(ctx, err, src, dst); ferr != nil {
				return nil, ferr
			}
			return nil, err
		}
	}

	// 5. Choose what to copy: the newest MaxItems messages of the whole
	// mailbox that are not at the destination yet and not too large.
	s.choose(folders)
	if err := s.describeSkipped(ctx, src, folders); err != nil {
		if err := s.fatal(ctx, err, src, dst); err != nil {
			return nil, err
		}
		s.log.Warn("Could not fetch the subjects of skipped messages.", "err", err)
	}

	// 6. Recognise messages already at the destination that the state does
	// not know of, and carry flag changes over.
	for _, fr := range folders {
		if !fr.active() {
			continue
		}
		var err error
		fr.toCopy, err = s.reconcileMessages(ctx, src, dst, fr, fr.toCopy, false)
		if err == nil {
			err = s.syncFlags(ctx, dst, fr)
		}
		if err != nil {
			if err := s.fatal(ctx, err, src, dst); err != nil {
				return nil, err
			}
			fr.fail(err)
			continue
		}
		fr.rep.ToCopy = len(fr.toCopy)
		for _, m := range fr.toCopy {
			fr.rep.ToCopyBytes += m.size()
		}
	}

	// The scan's list of each folder's messages is not read again; those
	// to copy are its first part (see choose), which goes once the copy's
	// units are cut.
	for _, fr := range folders {
		fr.msgs = nil
	}

	// 7. Copy, newest to oldest across the mailbox, over several connections.
	if !opts.DryRun {
		first := &lane{src: src, dst: dst}
		err := s.copyAll(ctx, first, folders)
		src, dst = first.src, first.dst
		if err != nil {
			return nil, err
		}
		if dst != nil && closed(dst) {
			dst.Close()
			dst = nil
		}
		if dst == nil {
			if dst, err = s.redial(ctx, opts.Dest); err != nil {
				return nil, err
			}
		}
	}

	// 8. Count what is at the destination now, and finish the report.
	s.finish(dst, folders)
	if err := s.reportGone(ctx, dst); err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := s.settleFolders(ctx, folders); err != nil {
			return nil, err
		}
	}
	s.rep.Finished = time.Now()
	s.rep.total()
	return s.rep, nil
}

// scanAll scans each source folder of the plan into folders (skipping
// those unchanged since the last pass), hands each scanned folder on to
// scanned, and closes it. It returns what stops the pass.
//
// A folder read by its changes has all of its commands sent at once (see
// startScan), and the next folders' go out before its answers are read,
// up to window folders: the server is never idle while we read, and
// a link's latency is paid once per window rather than once per folder.
// What a folder read that way still needs (see lateScan) waits for the
// end.
func (s *run) scanAll(ctx context.Context, src, dst *imapconn.Conn, plan []folder.Mapping, folders []*folderRun, srcTree, dstTree *tree, scanned chan<- *folderRun) error {
	defer close(scanned)
	recorded, err := s.opts.State.Folders(ctx, s.opts.Mailbox)
	if err != nil {
		return stateErr{err}
	}
	s.states = make(map[string]store.Folder, len(recorded))
	for _, f := range recorded {
		s.states[f.SourceName] = f
	}
	var todo []*folderRun
	for i, m := range plan {
		fr := newFolderRun(m, &s.rep.Folders[i])
		folders[i] = fr
		if m.Skip != folder.SkipNone {
			continue
		}
		if skip, err := s.skipUnchanged(ctx, fr, srcTree, dstTree); err != nil {
			return stateErr{err}
		} else if skip {
			continue
		}
		fr.listStatus = srcTree.status[m.Source]
		todo = append(todo, fr)
	}
	// Smaller folders first: the destination's work on a folder (its
	// SELECT and flag STOREs) waits for that folder's scan, so the first
	// folders to finish should be the quick ones; the largest, last,
	// leave the destination the least to do after the scan ends.
	slices.SortStableFunc(todo, func(a, b *folderRun) int { return cmp.Compare(listedMessages(a), listedMessages(b)) })
	failed := func(fr *folderRun, err error) error {
		err = fmt.Errorf("scan source folder %q: %w", fr.m.Display, err)
		if err := s.fatal(ctx, err, src, dst); err != nil {
			return err
		}
		fr.fail(err)
		return nil
	}
	var late, rescan []*folderRun
	var queue []*scanning // folders whose commands are out, in order
	for next := 0; next < len(todo) || len(queue) > 0; {
		for next < len(todo) && len(queue) < window && (len(queue) == 0 || queue[len(queue)-1].complete()) {
			sc, err := s.startScan(ctx, src, todo[next])
			if err != nil {
				return err // the state database failed
			}
			queue = append(queue, sc)
			next++
		}
		sc := queue[0]
		queue = queue[1:]
		fr := sc.fr
		switch err := s.endScan(ctx, src, sc, len(queue) > 0); {
		case errors.Is(err, errRescan):
			rescan = append(rescan, fr)
		case err != nil:
			if err := failed(fr, err); err != nil {
				return err
			}
		case len(fr.late) > 0:
			late = append(late, fr)
		default:
			scanned <- fr
		}
	}
	finish := func(frs []*folderRun, rescan bool) error {
		for _, fr := range frs {
			if err := s.lateScan(ctx, src, fr, rescan); err != nil {
				if err := failed(fr, err); err != nil {
					return err
				}
				continue
			}
			scanned <- fr
		}
		return nil
	}
	if err := finish(late, false); err != nil {
		return err
	}
	return finish(rescan, true)
}

// listedMessages is how many messages the LIST said fr holds (0 if it
// did not say).
func listedMessages(fr *folderRun) uint32 {
	if fr.listStatus == nil || fr.listStatus.NumMessages == nil {
		return 0
	}
	return *fr.listStatus.NumMessages
}

// folderState returns the state of the source folder name as the pass
// found it (nil if none): for the scan, which reads it before anything of
// that folder is written.
func (s *run) folderState(name string) *store.Folder {
	f, ok := s.states[name]
	if !ok {
		return nil
	}
	return &f
}

// window is how many folders' commands the scan, or the opening of the
// destination folders, has on the wire at most.
const window = 16

// openAll opens the destination folder of each folder run that comes on
// scanned, in the order they come, carries its flag changes over (a
// second syncFlags after the reconciliation finds only the messages that
// recognised), and looks ahead for the reconciliation (see startDest).
// The commands of up to window folders are out before the answers about
// the first of them are read. It drains scanned whatever happens, and
// returns what stops the pass.
func (s *run) openAll(ctx context.Context, src, dst *imapconn.Conn, scanned <-chan *folderRun, dt *tree) error {
	var stop error
	failed := func(fr *folderRun, err error) {
		if err != nil && stop == nil {
			if stop = s.fatal(ctx, err, src, dst); stop == nil {
				fr.fail(err)
			}
		}
	}
	type started struct {
		fr  *folderRun
		end func() error // reads the answers about fr
	}
	var queue []started
	endFirst := func() {
		failed(queue[0].fr, queue[0].end())
		queue = queue[1:]
	}
	for fr := range scanned {
		if stop != nil {
			continue
		}
		end, err := s.startDest(ctx, dst, fr, dt)
		failed(fr, err)
		if err == nil {
			queue = append(queue, started{fr, end})
		}
		if len(queue) >= window {
			endFirst()
		}
	}
	for len(queue) > 0 && stop == nil {
		endFirst()
	}
	if err := s.saveDest(ctx); err != nil && stop == nil {
		stop = err
	}
	return stop
}

// startDest opens fr's destination folder (openDest), sends what looks
// ahead for the reconciliation and what carries its flag changes over,
// and returns what reads their answers. Not the flags with Gmail labels
// as keywords: their keywords are known only once every label folder is
// read.
func (s *run) startDest(ctx context.Context, dst *imapconn.Conn, fr *folderRun, dt *tree) (func() error, error) {
	if err := s.openDest(ctx, dst, fr, dt); err != nil {
		return nil, err
	}
	look := s.lookAhead(dst, fr)
	var flags func(context.Context) error
	if s.opts.GmailLabels != GmailLabelsKeywords {
		var err error
		if flags, err = s.sendFlags(dst, fr); err != nil {
			if look != nil {
				_ = look()
			}
			return nil, err
		}
	}
	return func() error {
		var err error
		if flags != nil {
			err = flags(ctx)
		}
		if look != nil {
			if lerr := look(); err == nil {
				err = lerr
			}
		}
		return err
	}, nil
}

// dial connects, and ties the connection to the run's context: go-imap
// commands take no context, so when the run is cancelled (Ctrl-C, a
// cancelled job) the connection is dropped and whatever command is waiting
// returns at once. A message dropped mid-APPEND is discarded by the server;
// one stored but not yet recorded is recognised by the next run.
func (s *run) dial(ctx context.Context, cfg imapconn.Config) (*imapconn.Conn, error) {
	c, err := imapconn.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(s.ctx, c.Abort)
	return c, nil
}

// fatal returns err when it stops the whole pass rather than one folder:
// cancellation, a lost connection (the planning steps do not reconnect;
// Sync starts the pass over), or the state database.
func (s *run) fatal(ctx context.Context, err error, src, dst *imapconn.Conn) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case isStateErr(err):
		return err
	case isConnLost(err, src, dst):
		// Sync starts the pass over once the server answers again.
		return lostConn{err}
	}
	return nil
}

// isConnLost reports whether err came with the loss of one of conns (nil
// ones aside), as opposed to a NO or BAD for one command. go-imap fails
// the pending commands before it marks the connection closed, so a
// command's error can come first: it waits a moment for the mark.
func isConnLost(err error, conns ...*imapconn.Conn) bool {
	var imapErr *imap.Error
	if errors.As(err, &imapErr) {
		return false
	}
	for deadline := time.Now().Add(closedWait); ; time.Sleep(closedWait / 50) {
		for _, c := range conns {
			if c != nil && closed(c) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// closedWait is how long isConnLost waits for a connection that failed a
// command to be marked closed: go-imap does it right after, on the same
// goroutine, unless the machine is very busy. An error that is neither a
// server's answer nor a lost connection (rare: a UIDVALIDITY that changed
// under the pass) waits it out.
const closedWait = 500 * time.Millisecond

func (s *run) addSkipped(it Item) {
	s.mu.Lock()
	s.rep.Skipped = append(s.rep.Skipped, it)
	s.mu.Unlock()
}

func (s *run) addFailed(it Item) {
	s.mu.Lock()
	s.rep.Failed = append(s.rep.Failed, it)
	s.mu.Unlock()
}

func (s *run) addError(msg string) {
	s.mu.Lock()
	s.rep.Errors = append(s.rep.Errors, msg)
	s.mu.Unlock()
}

// PlanFolders lists both servers' folders and maps them exactly as Sync
// would with opts (SourceRoot and Folders), changing nothing on either
// side: for `imapmigrate probe` and a batch's validation, so that what they
// show is what a sync will do.
func PlanFolders(ctx context.Context, src, dst *imapconn.Conn, opts Options) ([]folder.Mapping, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	plan, _, _, err := planFolders(ctx, src, dst, opts, log, false)
	return plan, err
}
