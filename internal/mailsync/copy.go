package mailsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// Copy batching. A unit is what one UID FETCH asks for; a window is how far
// the newest-to-oldest order may be regrouped by folder, so that copying
// does not hop between folders at every message yet still moves the newest
// mail first.
const (
	unitMessages = 100
	// maxInflight bounds the APPENDs whose answer is awaited on one
	// connection: the next message goes out while the server stores the
	// previous ones, instead of one round trip per message.
	maxInflight = 16
	unitBytes   = 16 << 20
	windowSize  = 1000
	maxAttempts = 3
	flushEvery  = 64
	// lanePerMessages is how many messages to copy justify one more lane.
	lanePerMessages = 200
)

// lane is one source connection paired with one destination connection.
// Each lane copies one unit at a time; lanes run in parallel.
type lane struct {
	src, dst  *imapconn.Conn
	srcFolder string // selected on src
	dstFolder string // selected on dst
	// examineTime is how long the last EXAMINE took to be answered: a
	// round trip and a little server work (see moreLanes).
	examineTime time.Duration
	pending     []store.Message
	buf         []byte // copy buffer, reused for every message

	// APPENDs sent whose answer has not been read yet (see settle), and
	// which messages of the current batch are settled.
	inflight []appending
	handled  map[imap.UID]bool

	// MULTIAPPEND, where the destination offers it (see multiappend.go):
	// the group being written, the groups sent whose answer is awaited,
	// and the messages of groups the destination refused, which go again
	// one APPEND each (single) to find the one it refuses.
	group   *appendGroup
	groups  []*appendGroup
	refused []srcMsg
	single  bool

	// receipts are the messages of the current batch that ask for a read
	// receipt (Options.DisarmReadReceipts); dstMDN says whether dstFolder
	// accepts the keyword $MDNSent.
	receipts map[imap.UID]bool
	dstMDN   bool

	// queue is where the lane takes its units; ahead is its next unit,
	// taken while the current one awaited the destination's answers (see
	// fetchAhead).
	queue *unitQueue
	ahead *ahead
}

// ahead is a unit a lane is to copy: taken from the queue, or taken
// before the lane finished the one before (see fetchAhead), in which case
// its source commands may be on the wire (f, for msgs; nil when none were
// sent, or dropAhead took them back).
type ahead struct {
	u    unit
	msgs []srcMsg
	f    *fetching
}

// fetching is a batch's source commands on the wire: the EXAMINE of its
// folder (nil when the folder was selected already) and the UID FETCH of
// its bodies (nil when no message is left to fetch).
type fetching struct {
	src     *imapconn.Conn // the connection they went out on
	exam    *imapconn.Selection
	sent    time.Time
	cmd     *imapclient.FetchCommand
	meta    map[imap.UID]*srcMsg // the messages fetched, by UID
	handled map[imap.UID]bool    // the messages of the batch settled already
}

// appending is an APPEND whose literal is sent and whose answer is
// awaited.
type appending struct {
	cmd  *imapclient.AppendCommand
	m    *srcMsg
	fp   string
	size int64
	// receipt: the message asks for a read receipt, and was sent with
	// $MDNSent (disarmed) or without, as the folder refuses keywords.
	receipt, disarmed bool
}

// unit is what one UID FETCH of bodies asks for: some of a folder's
// messages, named by UID alone. What the copy needs of each (its flags,
// date and size) comes with its body (see fetched), so that the copy
// holds nothing of the messages it has yet to copy: for a large mailbox
// that was most of a pass's memory.
type unit struct {
	fr   *folderRun
	uids imap.UIDSet
}

// errRetry marks a failure worth another attempt after a pause (the server
// said it is busy or unavailable); the connections stay up.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// copyAll copies every folder's toCopy over Options.Connections lanes. The
// first lane is handed the connections Sync already has, and returns them
// (possibly replaced) in first.
func (s *run) copyAll(ctx context.Context, first *lane, folders []*folderRun) error {
	s.rep.MaxBytes, s.rep.DisarmReadReceipts = s.opts.MaxBytes, s.opts.DisarmReadReceipts
	var active []*folderRun
	for _, fr := range folders {
		if fr.active() && len(fr.toCopy) > 0 {
			active = append(active, fr)
		}
	}
	if len(active) == 0 {
		return nil
	}
	s.deferOverBudget(active)
	n := 0
	for _, fr := range active {
		n += len(fr.toCopy)
	}
	units := makeUnits(active)
	// From here on the units name the messages to copy by UID, and the
	// folders' lists go.
	for _, fr := range folders {
		fr.planned, fr.toCopy = len(fr.toCopy), nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q := &unitQueue{units: units, busy: map[*folderRun]bool{}}
	q.cond = sync.NewCond(&q.mu)
	context.AfterFunc(ctx, q.wake)

	var wg sync.WaitGroup
	addLane := func(work func(*lane)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &lane{}
			defer l.close()
			if err := l.connect(ctx, s); err != nil {
				// The first lane always works; an extra one is a bonus the
				// server may refuse (connection limits).
				s.log.Warn("Extra connection refused; copying with fewer.", "err", err)
				s.refused(err)
				return
			}
			work(l)
		}()
	}
	// Extra lanes cost a login on each side: worth it for a full pass, not
	// for the few messages of an incremental one, unless the link is slow
	// (see moreLanes).
	lanes := min(s.opts.Connections, len(units), 1+n/lanePerMessages)
	var work func(l *lane)
	work = func(l *lane) {
		l.queue = q
		var last *folderRun
		for {
			a, ok := l.next(ctx, last)
			if !ok {
				return
			}
			u := a.u
			err := s.copyUnit(ctx, l, a)
			if l.ahead == nil || l.ahead.u.fr != u.fr {
				q.done(u.fr)
			}
			if err != nil {
				l.abandonAhead()
				cancel(err)
				return
			}
			if l == first && last == nil {
				for range s.moreLanes(l.roundTrip(), q.left(), lanes) {
					addLane(work)
				}
			}
			last = u.fr
		}
	}
	for i := 1; i < lanes; i++ {
		addLane(work)
	}
	work(first)
	wg.Wait()
	// A unit that stopped early left records behind in its lane; flushing
	// happens per unit, so nothing is pending here.

	cause := context.Cause(ctx)
	if errors.Is(cause, ErrOverQuota) {
		n := 0
		for _, fr := range folders {
			fr.mu.Lock()
			left := fr.planned - fr.done
			if left > 0 {
				fr.rep.Failed += left
				n += left
			}
			fr.mu.Unlock()
		}
		s.addError(fmt.Sprintf("%v; %d messages were not copied: raise the quota and run again", cause, n))
		s.rep.OverQuota = cause
		return nil
	}
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return ctx.Err()
}

// moreLanes says how many lanes to add to the lanes copying already,
// once the first lane's first unit is done: over a slow link a unit costs
// round trips (examine and fetch, then the APPEND's answer) more than
// server work, and new lanes, whose logins take what the pass's own took
// (loginTime), pay off when the round trips of the units left take
// several times that long. The round trip is the EXAMINE's, which Dovecot
// answers in under a millisecond on loopback, where extra logins never
// pay: they cost both servers CPU the copy needs.
func (s *run) moreLanes(rtt time.Duration, left, lanes int) int {
	if rtt <= 0 || s.loginTime <= 0 || time.Duration(2*left)*rtt < 3*s.loginTime {
		return 0
	}
	return max(0, min(s.opts.Connections-lanes, left))
}

// roundTrip is the lane's measure of the link's round trip, for
// moreLanes: the first unit's EXAMINE, unless a NOOP on the destination
// (idle between units) comes back sooner. A server busy for a moment can
// take a couple of milliseconds over an EXAMINE on loopback, which the
// EXAMINE alone would take for a slow link, and extra lanes' logins would
// then cost more than they save. The NOOP is sent only when the EXAMINE
// was slow enough to matter, a round trip that is then paid once.
func (l *lane) roundTrip() time.Duration {
	rtt := l.examineTime
	if rtt < time.Millisecond || l.dst == nil {
		return rtt
	}
	sent := time.Now()
	if err := l.dst.Noop().Wait(); err != nil {
		return 0 // no lanes added on a connection in trouble
	}
	return min(rtt, time.Since(sent))
}

// deferOverBudget cuts the folders' lists to copy where
// Options.MaxBytes is reached, in the mailbox's newest-first order: a
// message is kept while the bytes before it are under the cap. The cut is
// planned here, on the sizes the scan read, rather than counted as lanes
// copy, so that what is left is exactly the oldest mail whatever the
// lanes' timing. The rest, the end of each folder's list, is counted as
// deferred; the next run finds it uncopied and goes on.
func (s *run) deferOverBudget(folders []*folderRun) {
	if s.opts.MaxBytes <= 0 {
		return
	}
	lists := toCopyLists(folders)
	keep := make([]int, len(folders))
	var planned int64
	reached := false
	newestFirst(lists, msgDate, func(l, i int) bool {
		if planned >= s.opts.MaxBytes {
			reached = true
			return false
		}
		planned += lists[l][i].size()
		keep[l] = i + 1
		return true
	})
	if !reached {
		return
	}
	deferred := 0
	for l, fr := range folders {
		for _, m := range fr.toCopy[keep[l]:] {
			fr.rep.Deferred++
			fr.rep.DeferredBytes += m.size()
			fr.rep.ToCopy--
			fr.rep.ToCopyBytes -= m.size()
		}
		deferred += len(fr.toCopy) - keep[l]
		fr.toCopy = fr.toCopy[:keep[l]]
	}
	s.rep.BudgetReached = true
	s.log.Info("Byte budget reached; older messages are left for the next run.", "max_bytes", s.opts.MaxBytes, "deferred", deferred)
}

// toCopyLists returns the folders' lists to copy, for newestFirst.
func toCopyLists(folders []*folderRun) [][]srcMsg {
	lists := make([][]srcMsg, len(folders))
	for i, fr := range folders {
		lists[i] = fr.toCopy
	}
	return lists
}

// unitQueue hands units out in order, but never two units of one folder
// to two lanes at once: several sessions appending to one Dovecot mailbox
// make each of them re-sync the mailbox's index after the others' appends
// (measured: about 2.5 times the server's system calls per message).
type unitQueue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	units []unit
	busy  map[*folderRun]bool
}

// next returns the first unit whose folder no other lane is copying,
// preferring the lane's last folder (no new SELECT on either side) when
// its unit is among the next few. It waits while every remaining unit's
// folder is busy, and returns false when nothing is left.
func (q *unitQueue) next(ctx context.Context, last *folderRun) (unit, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.units) == 0 || ctx.Err() != nil {
			return unit{}, false
		}
		if i := q.pick(last, nil); i >= 0 {
			return q.remove(i), true
		}
		q.cond.Wait()
	}
}

// take is next without the wait, for a lane that still copies mine: a
// unit of mine is taken first, if among the next few, since that folder
// is the lane's.
func (q *unitQueue) take(mine *folderRun) (unit, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := q.pick(mine, mine); i >= 0 {
		return q.remove(i), true
	}
	return unit{}, false
}

// pick returns the index of the unit next hands out (see next), -1 if
// every unit's folder is busy; mine is busy with the asking lane only.
func (q *unitQueue) pick(last, mine *folderRun) int {
	pick := -1
	for i, u := range q.units {
		if q.busy[u.fr] && u.fr != mine {
			continue
		}
		if pick < 0 {
			pick = i
		}
		if u.fr == last || i > pick+8 {
			if u.fr == last {
				pick = i
			}
			break
		}
	}
	return pick
}

func (q *unitQueue) remove(i int) unit {
	u := q.units[i]
	q.units = slices.Delete(q.units, i, i+1)
	q.busy[u.fr] = true
	return u
}

// left is how many units are still to be taken.
func (q *unitQueue) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.units)
}

func (q *unitQueue) done(fr *folderRun) {
	q.mu.Lock()
	delete(q.busy, fr)
	q.mu.Unlock()
	q.cond.Broadcast()
}

// wake wakes the lanes waiting for work. The empty critical section is on
// purpose: it orders the broadcast after any waiter's check of the queue,
// so that a waiter about to sleep cannot miss it.
func (q *unitQueue) wake() {
	q.mu.Lock()
	q.mu.Unlock() //lint:ignore SA2001 see above
	q.cond.Broadcast()
}

// makeUnits cuts the folders' lists to copy into units of one folder
// each, in the mailbox's newest-first order, regrouped by folder within
// each window of it.
func makeUnits(folders []*folderRun) []unit {
	lists := toCopyLists(folders)
	var units []unit
	var order []int                    // the window's folders, by first message
	start := make([]int, len(folders)) // each folder's first message in the window
	count := make([]int, len(folders)) // and how many it has there
	seen := 0
	window := func() {
		for _, l := range order {
			units = appendUnits(units, folders[l], lists[l][start[l]:start[l]+count[l]])
			start[l] += count[l]
			count[l] = 0
		}
		order = order[:0]
	}
	newestFirst(lists, msgDate, func(l, _ int) bool {
		if count[l] == 0 {
			order = append(order, l)
		}
		count[l]++
		if seen++; seen%windowSize == 0 {
			window()
		}
		return true
	})
	window()
	return units
}

// appendUnits cuts msgs, fr's, into units of at most unitMessages
// messages and unitBytes bytes (or one larger message).
func appendUnits(units []unit, fr *folderRun, msgs []srcMsg) []unit {
	u := unit{fr: fr}
	n, size := 0, int64(0)
	for i := range msgs {
		m := &msgs[i]
		if n > 0 && (n >= unitMessages || size+m.size() > unitBytes) {
			units = append(units, u)
			u, n, size = unit{fr: fr}, 0, 0
		}
		u.uids.AddNum(m.uid)
		n++
		size += m.size()
	}
	return append(units, u)
}

// refused passes an extra lane's failed login to Options.Refused, with
// the side the *imapconn.Error names.
func (s *run) refused(err error) {
	var ce *imapconn.Error
	if s.opts.Refused != nil && errors.As(err, &ce) {
		s.opts.Refused(ce.Side, err)
	}
}

func (l *lane) connect(ctx context.Context, s *run) error {
	var srcErr, dstErr error
	var wg sync.WaitGroup
	if l.src == nil {
		wg.Go(func() {
			if l.src, srcErr = s.dial(ctx, s.opts.Source); srcErr == nil {
				l.srcFolder = ""
			}
		})
	}
	if l.dst == nil {
		wg.Go(func() {
			if l.dst, dstErr = s.dial(ctx, s.opts.Dest); dstErr == nil {
				l.dstFolder = ""
			}
		})
	}
	wg.Wait()
	return errors.Join(srcErr, dstErr)
}

// abort drops both connections at once. It is how a copy that broke in the
// middle of a message is made harmless: the destination discards an APPEND
// whose literal never completed.
func (l *lane) abort() {
	// Answers owed on a dropped connection never come; the retry
	// reconciles what the server stored.
	l.inflight, l.group, l.groups = nil, nil, nil
	drop(&l.src)
	drop(&l.dst)
}

// drop aborts *c and forgets it. It does not Close: go-imap's Close races
// with its reader when that is handing over a FETCH nobody reads any more
// (seen with -race); the reader ends with the socket, or stays parked on
// that one hand-off.
func drop(c **imapconn.Conn) {
	if *c == nil {
		return
	}
	(*c).Abort()
	*c = nil
}

func (l *lane) close() {
	if l.src != nil {
		l.src.Close()
	}
	if l.dst != nil {
		l.dst.Close()
	}
}

// copyUnit copies a unit, reconnecting and retrying after a failure. Before
// a retry, the unit's messages are reconciled with the destination, because
// an APPEND whose answer was lost may have been stored. It returns an error
// only when the whole migration must stop (destination over quota, state
// database failure, cancellation). a holds the unit's source commands if
// fetchAhead sent them.
//
// The unit's own use of the source connection after its FETCH (the
// messages refused or missing, a retry) first takes back whatever
// fetchAhead sent for the next unit (see dropAhead).
func (s *run) copyUnit(ctx context.Context, l *lane, a ahead) error {
	fr, f, pending := a.u.fr, a.f, a.msgs
	if pending == nil {
		pending = bare(a.u.uids)
	}
	for attempt := 1; ; attempt++ {
		err := l.reconnect(ctx, s)
		if err == nil && attempt > 1 {
			pending, err = s.reconcileRetry(ctx, l, fr, pending)
		}
		if err == nil {
			var handled map[imap.UID]bool
			handled, err = s.copyBatch(ctx, l, fr, pending, f)
			f = nil
			if refused := l.refused; len(refused) > 0 {
				l.refused = nil
				if err == nil {
					l.dropAhead()
					if err = l.reconnect(ctx, s); err == nil {
						handled, err = s.appendRefused(ctx, l, fr, handled, refused)
					}
				}
			}
			pending = unhandled(pending, handled)
			if ferr := s.flush(ctx, l, fr); ferr != nil {
				return ferr
			}
			if err == nil && len(pending) > 0 {
				l.dropAhead()
				err = l.reconnect(ctx, s)
			}
			if err == nil {
				return s.settleMissing(ctx, l, fr, pending)
			}
		}
		l.dropAhead()
		if errors.Is(err, ErrOverQuota) || ctx.Err() != nil || isStateErr(err) || isUnreachable(err) {
			return err
		}
		var retry errRetry
		if errors.As(err, &retry) {
			if s.opts.Refused != nil {
				s.opts.Refused("destination", err)
			}
		} else {
			l.abort()
		}
		if attempt >= maxAttempts {
			for _, m := range pending {
				s.failItem(fr, &m, err)
			}
			return nil
		}
		s.log.Warn("Copy interrupted; retrying.", "folder", fr.m.Display, "attempt", attempt, "err", err)
		s.addRetry(err.Error())
		select {
		case <-time.After(time.Duration(attempt) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stateErr marks a failure to record progress: the run must stop, since
// copying on without recording would only cost a reconciliation later.
type stateErr struct{ err error }

func (e stateErr) Error() string { return "state database: " + e.err.Error() }
func (e stateErr) Unwrap() error { return e.err }

func isStateErr(err error) bool {
	var se stateErr
	return errors.As(err, &se)
}

func (s *run) flush(ctx context.Context, l *lane, fr *folderRun) error {
	if len(l.pending) == 0 {
		return nil
	}
	if err := s.opts.State.PutMessages(ctx, fr.st.ID, l.pending); err != nil {
		return stateErr{err}
	}
	l.pending = l.pending[:0]
	return nil
}

func unhandled(msgs []srcMsg, handled map[imap.UID]bool) []srcMsg {
	var out []srcMsg
	for _, m := range msgs {
		if !handled[m.uid] {
			out = append(out, m)
		}
	}
	return out
}

// reconcileRetry recognises which of the pending messages a failed attempt
// did store at the destination, and returns those it did not. No other
// lane appends into the folder meanwhile (see unitQueue), and this lane's
// copies are flushed to the state before any retry: the state accounts
// for every copy at the destination that is not one of pending. A message
// still known by its UID alone never had its body fetched, so never went
// out: it stays pending.
func (s *run) reconcileRetry(ctx context.Context, l *lane, fr *folderRun, pending []srcMsg) ([]srcMsg, error) {
	var sent, unsent []srcMsg
	for _, m := range pending {
		if m.set == nil {
			unsent = append(unsent, m)
		} else {
			sent = append(sent, m)
		}
	}
	l.srcFolder, l.dstFolder = "", ""
	left, err := s.reconcileMessages(ctx, l.src, l.dst, fr, sent, true)
	return append(left, unsent...), err
}

// copyBatch fetches the messages with one UID FETCH and streams each one
// into an APPEND. It returns which messages it handled (copied, skipped or
// failed for good). f is the batch's source commands if they went out
// already (see fetchAhead); void if on a connection since replaced.
func (s *run) copyBatch(ctx context.Context, l *lane, fr *folderRun, msgs []srcMsg, f *fetching) (map[imap.UID]bool, error) {
	if f == nil || f.src != l.src {
		var err error
		if f, err = s.startFetch(l, fr, msgs); err != nil {
			return f.handled, err
		}
	}
	handled, meta, cmd := f.handled, f.meta, f.cmd
	if cmd == nil {
		return handled, nil
	}
	if l.dst != nil && l.dstFolder != fr.m.Dest {
		s.destSelection(l.dst, fr)
	}
	l.handled = handled
	defer func() { l.handled, l.receipts = nil, nil }()
	if f.exam != nil {
		if stop, err := s.examined(l, fr, f.exam, f.sent, msgs, handled); stop || err != nil {
			// Not a body of a folder that is not the one scanned.
			drop(&l.src)
			return handled, err
		}
	}
	var err error
	for err == nil {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var got fetched
		var early []byte // a body that came before its flags or date
		for err == nil {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataFlags:
				got.flags, got.hasFlags = it.Flags, true
			case imapclient.FetchItemDataInternalDate:
				got.date = it.Time
			case imapclient.FetchItemDataRFC822Size:
				got.size = it.Size
			case imapclient.FetchItemDataBodySection:
				if !got.complete() {
					// RFC 3501 does not order FETCH items; every server we
					// know sends the body last, but if one does not, hold
					// it until its flags and date come. The UID is known:
					// go-imap hands a UID FETCH the response only once it
					// has read the UID, and a body before it goes to the
					// unilateral handler (the message is then reported as
					// sent no data, and fetched again next pass).
					early, err = readLiteral(it.Literal)
					continue
				}
				err = s.copyFetched(ctx, l, fr, meta[uid], got, it.Literal)
			}
		}
		if err == nil && early != nil {
			err = s.copyFetched(ctx, l, fr, meta[uid], got, sizedReader{bytes.NewReader(early), int64(len(early))})
		}
	}
	if err != nil {
		// Do not drain the rest of a large FETCH: drop the source connection.
		drop(&l.src)
		// Still take the answers the destination owes for what went out.
		if serr := s.settle(ctx, l, fr, 0); serr != nil && (errors.Is(serr, ErrOverQuota) || isStateErr(serr)) {
			err = serr
		}
		return handled, err
	}
	s.fetchAhead(l, fr)
	if err := s.settle(ctx, l, fr, 0); err != nil {
		cmd.Close()
		return handled, err
	}
	if err := cmd.Close(); err != nil {
		return handled, fmt.Errorf("fetch from source folder %q: %w", fr.m.Display, err)
	}
	return handled, nil
}

// startFetch sends the source commands of a batch of fr's messages: the
// EXAMINE of its folder unless selected already, and the UID FETCH of
// their bodies.
// The EXAMINE's answer is read after the FETCH goes out, before any body
// (see examined). The destination's SELECT goes out at once too (see
// copyBatch): three round trips' worth in one.
func (s *run) startFetch(l *lane, fr *folderRun, msgs []srcMsg) (*fetching, error) {
	f := &fetching{src: l.src, handled: map[imap.UID]bool{}, meta: make(map[imap.UID]*srcMsg, len(msgs))}
	var uids imap.UIDSet
	for i := range msgs {
		m := &msgs[i]
		f.meta[m.uid] = m
		uids.AddNum(m.uid)
	}
	if len(f.meta) == 0 {
		return f, nil
	}
	f.sent = time.Now()
	if l.srcFolder != fr.m.Source {
		f.exam = l.src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true})
	}
	if s.opts.DisarmReadReceipts {
		// askingReceipts reads its answers at once.
		if f.exam != nil {
			if stop, err := s.examined(l, fr, f.exam, f.sent, msgs, f.handled); stop || err != nil {
				return f, err
			}
			f.exam = nil
		}
		var err error
		if l.receipts, err = askingReceipts(l.src, uids); err != nil {
			return f, fmt.Errorf("fetch the Disposition-Notification-To fields of source folder %q: %w", fr.m.Display, err)
		}
	}
	f.cmd = l.src.Fetch(uids, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	return f, nil
}

// fetchAhead takes the lane's next unit, once fr's bodies are all read,
// and sends its source commands (see startFetch) while the destination
// stores fr's messages: the source server reads the next unit's bodies
// meanwhile, instead of the two servers taking turns. On loopback this
// took a seventh off the copy of an incremental pass, where units are
// small and many (17 ms against 20 for one medium mailbox's 10 units);
// over a slow link it saves a round trip per unit.
//
// Not with Options.DisarmReadReceipts, whose header FETCH is read before
// its bodies are asked for, nor while single APPENDs retry a refused
// MULTIAPPEND (appendRefused).
func (s *run) fetchAhead(l *lane, fr *folderRun) {
	if l.queue == nil || l.ahead != nil || l.single || s.opts.DisarmReadReceipts {
		return
	}
	u, ok := l.queue.take(fr)
	if !ok {
		return
	}
	a := &ahead{u: u, msgs: bare(u.uids)}
	l.ahead = a
	if f, err := s.startFetch(l, u.fr, a.msgs); err == nil && f.cmd != nil {
		a.f = f
	}
}

// fetched is what came of a message with its body: the copy takes its
// flags and date from here, not from the scan (see unit).
type fetched struct {
	flags    []imap.Flag
	hasFlags bool
	date     time.Time
	size     int64
}

func (g fetched) complete() bool { return g.hasFlags && !g.date.IsZero() }

// copyFetched copies m, whose flags, date and size came with its body as
// got. A body no message of the batch asked for is skipped.
func (s *run) copyFetched(ctx context.Context, l *lane, fr *folderRun, m *srcMsg, got fetched, lit imap.LiteralReader) error {
	if m == nil {
		_, err := io.Copy(io.Discard, lit)
		return err
	}
	if !got.complete() {
		s.failItem(fr, m, fmt.Errorf("source sent uid %d of folder %q without its FLAGS or INTERNALDATE", m.uid, fr.m.Display))
		l.handled[m.uid] = true
		return nil
	}
	flags, _ := cleanFlags(got.flags)
	for _, kw := range fr.labels[m.uid] {
		flags = addFlag(flags, kw)
	}
	m.set, m.date, m.octets = fr.flagSets.get(flags), stampOf(got.date), octetsOf(got.size)
	return s.copyOne(ctx, l, fr, m, lit)
}

// bare lists uids by UID alone.
func bare(uids imap.UIDSet) []srcMsg {
	nums, _ := uids.Nums()
	msgs := make([]srcMsg, len(nums))
	for i, uid := range nums {
		msgs[i].uid = uid
	}
	return msgs
}

// dropAhead takes back the source commands fetchAhead sent for the next
// unit, before the current one uses the source connection again: their
// answers are read and thrown away, and the unit stays the lane's next,
// to be fetched again when its turn comes.
func (l *lane) dropAhead() {
	if l.ahead == nil || l.ahead.f == nil {
		return
	}
	f := l.ahead.f
	l.ahead.f = nil
	if f.src != l.src {
		return // gone with its connection
	}
	if f.exam != nil {
		l.srcFolder = ""
	}
	if err := f.cmd.Close(); err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) {
			drop(&l.src)
		}
	}
}

// next returns the lane's next unit: the one taken ahead, with its
// source commands if they are on the wire, or the queue's next.
func (l *lane) next(ctx context.Context, last *folderRun) (ahead, bool) {
	a := l.ahead
	if a == nil {
		u, ok := l.queue.next(ctx, last)
		return ahead{u: u}, ok
	}
	if ctx.Err() != nil {
		l.abandonAhead()
		return ahead{}, false
	}
	l.ahead = nil
	return *a, true
}

// abandonAhead forgets the unit taken ahead when the lane stops. Rather
// than read the bodies asked for (up to a unit's 16 MiB), it drops the
// source connection, which the lane will not use again.
func (l *lane) abandonAhead() {
	if a := l.ahead; a != nil && a.f != nil && a.f.src == l.src {
		drop(&l.src)
	}
	l.ahead = nil
}

// examined waits for the EXAMINE of fr's source folder on l, sent at
// sent. If the folder's UIDVALIDITY changed since the scan, it fails msgs
// (into handled) and says stop.
func (s *run) examined(l *lane, fr *folderRun, exam *imapconn.Selection, sent time.Time, msgs []srcMsg, handled map[imap.UID]bool) (stop bool, err error) {
	sel, err := exam.Wait()
	l.examineTime = time.Since(sent)
	if err != nil {
		return false, fmt.Errorf("examine source folder %q: %w", fr.m.Display, err)
	}
	if sel.UIDValidity != fr.uidValidity {
		err := fmt.Errorf("source UIDVALIDITY of %q changed during the run (from %d to %d): run again to recognise the copies by content", fr.m.Display, fr.uidValidity, sel.UIDValidity)
		for _, m := range msgs {
			s.failItem(fr, &m, err)
			handled[m.uid] = true
		}
		return true, nil
	}
	l.srcFolder = fr.m.Source
	return false, nil
}

// receiptField is the header field by which a message asks for a read
// receipt (RFC 8098 section 2.1).
const receiptField = "Disposition-Notification-To"

// askingReceipts returns which of uids (in the selected folder) ask for
// a read receipt. APPEND sends its flags before the message, so this has
// to be known before the body streams: one more UID FETCH per unit, of
// that one header field (an empty line for most messages), asked only
// when Options.DisarmReadReceipts is on and only for the messages about
// to be copied, rather than for every message of every scan.
func askingReceipts(src *imapconn.Conn, uids imap.UIDSet) (map[imap.UID]bool, error) {
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{receiptField}, Peek: true}
	out := map[imap.UID]bool{}
	err := collectEach(src.Fetch(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}),
		func(buf *imapclient.FetchMessageBuffer) {
			if hasReceiptField(buf.FindBodySection(section)) {
				out[buf.UID] = true
			}
		})
	return out, err
}

// hasReceiptField reports whether header, what a HEADER.FIELDS fetch of
// receiptField alone returned, holds the field: the server sends only that
// field's lines (folded or not) and the blank line that ends a header.
func hasReceiptField(header []byte) bool {
	return len(bytes.TrimSpace(header)) > 0
}

// acceptsKeyword reports whether a folder whose SELECT answered with
// permanent may be given keyword kw at APPEND: \* (any new keyword) or kw
// itself in PERMANENTFLAGS (RFC 9051 section 7.1). A server that lists
// neither would drop or refuse it.
func acceptsKeyword(permanent []imap.Flag, kw imap.Flag) bool {
	for _, f := range permanent {
		if f == imap.FlagWildcard || strings.EqualFold(string(f), string(kw)) {
			return true
		}
	}
	return false
}

// appendFlags are the flags m is appended with: its own, plus $MDNSent
// when it asks for a read receipt and the folder accepts the keyword.
func (l *lane) appendFlags(m *srcMsg) (flags []imap.Flag, receipt, disarmed bool) {
	if !l.receipts[m.uid] || slices.ContainsFunc(m.flags(), func(f imap.Flag) bool { return strings.EqualFold(string(f), string(imap.FlagMDNSent)) }) {
		// No receipt asked for, or one already sent at the source: its
		// $MDNSent travels as any keyword does.
		return m.flags(), false, false
	}
	if !l.dstMDN {
		return m.flags(), true, false
	}
	return append(slices.Clip(m.flags()), imap.FlagMDNSent), true, true
}

func readLiteral(lit imap.LiteralReader) ([]byte, error) {
	b, err := io.ReadAll(lit)
	if err == nil && int64(len(b)) != lit.Size() {
		err = fmt.Errorf("source sent %d of %d bytes", len(b), lit.Size())
	}
	return b, err
}

type sizedReader struct {
	io.Reader
	size int64
}

func (r sizedReader) Size() int64 { return r.size }

// copyOne streams one message from the source literal into an APPEND.
func (s *run) copyOne(ctx context.Context, l *lane, fr *folderRun, m *srcMsg, lit imap.LiteralReader) error {
	if m == nil {
		// A UID we did not ask for: ignore its body.
		_, err := io.Copy(io.Discard, lit)
		return err
	}
	size := lit.Size()
	if l.dst == nil {
		// The last message was refused mid-command; reconnect.
		var err error
		if l.dst, err = s.dial(ctx, s.opts.Dest); err != nil {
			return err
		}
		l.dstFolder = ""
	}
	if l.dstFolder != fr.m.Dest {
		// Append into the selected folder: Dovecot then reuses the open
		// mailbox instead of opening and syncing it for every APPEND,
		// which measured 3 to 4 times less server CPU. An APPEND names its
		// folder, so it need not wait for the SELECT's answer, unless that
		// answer's PERMANENTFLAGS are needed.
		sel := s.destSelection(l.dst, fr)
		if s.opts.DisarmReadReceipts {
			data, err := sel.Wait()
			if err != nil {
				return fmt.Errorf("select destination folder %q: %w", fr.m.Dest, err)
			}
			l.dstMDN = acceptsKeyword(data.PermanentFlags, imap.FlagMDNSent)
		}
		l.dstFolder = fr.m.Dest
	}
	if l.buf == nil {
		l.buf = make([]byte, 64<<10)
	}
	if !l.single && l.dst.CanMultiAppend() {
		return s.appendToGroup(ctx, l, fr, m, lit)
	}
	h := fingerprint.New()
	flags, receipt, disarmed := l.appendFlags(m)
	cmd := l.dst.Append(fr.m.Dest, size, &imap.AppendOptions{Flags: flags, Time: m.date.time()})
	// One buffer per lane: a migration streams gigabytes, and a fresh
	// buffer per message is garbage the collector has to keep up with.
	n, err := io.CopyBuffer(cmd, io.TeeReader(lit, h), l.buf)
	if err == nil && n != size {
		err = fmt.Errorf("source sent %d of %d bytes", n, size)
	}
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code != imap.ResponseCodeOverQuota {
		// The destination refused the message before taking its body (a
		// NO instead of the "+" for a synchronizing literal, as Dovecot
		// does for a size limit). Skip it, but drop that connection: the
		// command encoder is left mid-command. The answers to the APPENDs
		// before it came first: take them.
		if err := s.settle(ctx, l, fr, 0); err != nil {
			return err
		}
		drop(&l.dst)
		if _, derr := io.Copy(io.Discard, lit); derr != nil {
			return fmt.Errorf("read uid %d of folder %q: %w", m.uid, fr.m.Display, derr)
		}
		s.skipItem(fr, m, ReasonRejected, fmt.Sprintf("destination said: %s %s", ie.Type, errText(ie)))
		l.handled[m.uid] = true
		return nil
	}
	if err != nil {
		// Never let the destination complete a partial message: dropping
		// the connection in the middle of the literal makes it discard the
		// APPEND.
		l.abort()
		if errors.As(err, &ie) {
			return fmt.Errorf("%w: append uid %d of folder %q: %w", ErrOverQuota, m.uid, fr.m.Display, ie)
		}
		return fmt.Errorf("copy uid %d of folder %q: %w", m.uid, fr.m.Display, err)
	}
	if err := cmd.Close(); err != nil {
		l.abort()
		return fmt.Errorf("append uid %d of folder %q to %q: %w", m.uid, fr.m.Display, fr.m.Dest, err)
	}
	l.inflight = append(l.inflight, appending{cmd: cmd, m: m, fp: h.Sum(size), size: size, receipt: receipt, disarmed: disarmed})
	return s.settle(ctx, l, fr, maxInflight-1)
}

// settle reads the answers of the oldest APPENDs until at most keep are
// awaited, and records each outcome: copied, refused (a skipped item), or
// to retry. A lost connection leaves the rest unsettled: the retry
// reconciles them. After a destination over quota it still settles the
// rest, then returns ErrOverQuota.
func (s *run) settle(ctx context.Context, l *lane, fr *folderRun, keep int) error {
	if keep == 0 && (l.group != nil || len(l.groups) > 0) {
		return s.sendGroup(ctx, l, fr, 0)
	}
	var quota error
	for len(l.inflight) > keep {
		a := l.inflight[0]
		l.inflight = l.inflight[1:]
		m := a.m
		data, err := a.cmd.Wait()
		if err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) {
				// The answer was lost with the connection: the message may
				// or may not be stored. The retry reconciles before
				// appending.
				l.abort()
				return fmt.Errorf("append uid %d of folder %q to %q: %w", m.uid, fr.m.Display, fr.m.Dest, err)
			}
			switch {
			case ie.Code == imap.ResponseCodeOverQuota:
				if quota == nil {
					quota = fmt.Errorf("%w: append uid %d of folder %q: %w", ErrOverQuota, m.uid, fr.m.Display, ie)
				}
			case temporaryAppend(ie.Code):
				// The messages after it are settled by the retry's
				// reconciliation.
				l.abort()
				return errRetry{fmt.Errorf("append uid %d of folder %q to %q: %w", m.uid, fr.m.Display, fr.m.Dest, err)}
			default:
				// The destination refused this message: report it and go on.
				s.skipItem(fr, m, ReasonRejected, fmt.Sprintf("destination said: %s %s", ie.Type, errText(ie)))
				l.handled[m.uid] = true
			}
			continue
		}
		if err := s.copied(ctx, l, fr, a, data.UID); err != nil {
			return err
		}
	}
	return quota
}

// copied records a message the destination took, as destUID (0 when the
// destination did not say).
func (s *run) copied(ctx context.Context, l *lane, fr *folderRun, a appending, destUID imap.UID) error {
	m := a.m
	rec := store.Message{SourceUID: uint32(m.uid), DestUID: uint32(destUID), Flags: m.set.strs, Fingerprint: a.fp}
	fr.mu.Lock()
	fr.rep.Copied++
	fr.rep.Bytes += a.size
	fr.mu.Unlock()
	if a.receipt {
		s.countReceipt(a.disarmed)
	}
	l.handled[m.uid] = true
	l.pending = append(l.pending, rec)
	s.progress(fr, m, a.size)
	if len(l.pending) >= flushEvery {
		return s.flush(ctx, l, fr)
	}
	return nil
}

// temporaryAppend says whether an APPEND refused with code is worth
// another attempt after a pause (RFC 5530). [LIMIT] and [TOOBIG] on an
// APPEND are about the message, so they are a rejection instead.
func temporaryAppend(code imap.ResponseCode) bool {
	switch code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse, imap.ResponseCodeServerBug, imap.ResponseCodeTryCreate:
		return true
	}
	return false
}

// countReceipt counts a copied message that asked for a read receipt.
func (s *run) countReceipt(disarmed bool) {
	s.mu.Lock()
	if disarmed {
		s.rep.ReadReceiptsDisarmed++
	} else {
		s.rep.ReadReceiptsNotDisarmed++
	}
	s.mu.Unlock()
}

func errText(ie *imap.Error) string {
	if ie.Code != "" {
		return "[" + string(ie.Code) + "] " + ie.Text
	}
	return ie.Text
}

func (s *run) progress(fr *folderRun, m *srcMsg, size int64) {
	fr.mu.Lock()
	fr.done++
	p := Progress{Folder: fr.m.Display, Total: fr.planned, Done: fr.done, Bytes: fr.rep.Bytes, TotalBytes: fr.rep.ToCopyBytes}
	fr.mu.Unlock()
	if s.opts.Progress != nil {
		s.opts.Progress(p)
	}
}

func (s *run) skipItem(fr *folderRun, m *srcMsg, reason, detail string) {
	fr.mu.Lock()
	fr.rep.Skipped[reason]++
	fr.mu.Unlock()
	s.addSkipped(Item{Folder: fr.m.Display, UID: uint32(m.uid), Size: m.size(), Date: m.date.itemDate(), Reason: reason, Detail: detail})
	s.log.Warn("Message skipped.", "folder", fr.m.Display, "uid", m.uid, "reason", reason, "detail", detail)
	s.progress(fr, m, 0)
}

func (s *run) failItem(fr *folderRun, m *srcMsg, err error) {
	fr.mu.Lock()
	fr.rep.Failed++
	fr.mu.Unlock()
	s.addFailed(Item{Folder: fr.m.Display, UID: uint32(m.uid), Size: m.size(), Date: m.date.itemDate(), Reason: "failed", Detail: err.Error()})
	s.log.Error("Message not copied.", "folder", fr.m.Display, "uid", m.uid, "err", err)
	s.progress(fr, m, 0)
}

// settleMissing handles messages the source FETCH did not return: gone
// from the source since the scan (skipped, not an error), or not served
// (Exchange answers OK with no data for a message it cannot render).
func (s *run) settleMissing(ctx context.Context, l *lane, fr *folderRun, missing []srcMsg) error {
	if len(missing) == 0 {
		return nil
	}
	if l.srcFolder != fr.m.Source {
		// The next unit's EXAMINE went out (see dropAhead).
		exam := l.src.Select(fr.m.Source, &imap.SelectOptions{ReadOnly: true})
		stop, err := s.examined(l, fr, exam, time.Now(), missing, map[imap.UID]bool{})
		if err != nil {
			for _, m := range missing {
				s.failItem(fr, &m, err)
			}
		}
		if stop || err != nil {
			return nil // examined failed them on a changed UIDVALIDITY
		}
	}
	var uids imap.UIDSet
	for _, m := range missing {
		uids.AddNum(m.uid)
	}
	res, err := l.src.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{uids}}, nil).Wait()
	still := map[imap.UID]bool{}
	if err == nil {
		for _, uid := range res.AllUIDs() {
			still[uid] = true
		}
	}
	for _, m := range missing {
		if err == nil && !still[m.uid] {
			s.skipItem(fr, &m, ReasonExpunged, "expunged at the source during the run")
			continue
		}
		s.failItem(fr, &m, fmt.Errorf("source returned no data for uid %d of folder %q", m.uid, fr.m.Display))
	}
	return nil
}
