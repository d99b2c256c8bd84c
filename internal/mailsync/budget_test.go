package mailsync_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncByteBudget runs a mailbox through a byte budget of about 30% of
// its size: each run copies the newest messages not copied yet until the
// budget is reached, reports the rest as deferred (not skipped, not
// failed), and the runs together copy everything exactly once.
func TestSyncByteBudget(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 11, Messages: 60, Folders: []string{"INBOX", "Archive"}, MinSize: 1000, MaxSize: 6000})
	b := setup(t, setupOpts{messages: msgs})
	before := b.snap(t, b.src, srcPW)

	// The source's messages newest first, as the budget counts them.
	type srcMsg struct {
		date time.Time
		size int64
	}
	var all []srcMsg
	var total int64
	for _, f := range before.Folders {
		for _, m := range f.Messages {
			all = append(all, srcMsg{m.Date, m.Size})
			total += m.Size
		}
	}
	if len(all) != 60 {
		t.Fatalf("source holds %d messages; want 60", len(all))
	}
	slices.SortStableFunc(all, func(a, b srcMsg) int { return b.date.Compare(a.date) })
	budget := total * 3 / 10
	b.opts.MaxBytes = budget

	copied := 0 // of all, newest first
	for run := 1; run <= 4; run++ {
		rep := b.sync(t)
		if !rep.OK() {
			t.Fatalf("run %d not OK: %+v", run, rep.Errors)
		}
		// The messages this run should start: newest first while the
		// bytes before each are under the budget.
		want, planned := 0, int64(0)
		for _, m := range all[copied:] {
			if planned >= budget {
				break
			}
			planned += m.size
			want++
		}
		left := len(all) - copied - want
		t.Logf("run %d: copied %d messages, %d bytes of a budget of %d; %d deferred", run, rep.Totals.Copied, rep.Totals.Bytes, budget, rep.Totals.Deferred)
		if rep.Totals.Copied != want || rep.Totals.Bytes != planned {
			t.Errorf("run %d copied %d messages, %d bytes; want %d, %d", run, rep.Totals.Copied, rep.Totals.Bytes, want, planned)
		}
		if len(rep.Skipped) != 0 || rep.Totals.Failed != 0 {
			t.Errorf("run %d: deferred messages reported as skipped or failed: %+v, %d failed", run, rep.Skipped, rep.Totals.Failed)
		}
		var leftBytes int64
		for _, m := range all[copied+want:] {
			leftBytes += m.size
		}
		if rep.BudgetReached != (left > 0) || rep.Totals.Deferred != left || rep.Totals.DeferredBytes != leftBytes {
			t.Errorf("run %d: budget reached %v, deferred %d (%d bytes); want %v, %d (%d bytes)",
				run, rep.BudgetReached, rep.Totals.Deferred, rep.Totals.DeferredBytes, left > 0, left, leftBytes)
		}
		if text := rep.BudgetText(); left > 0 && !strings.Contains(text, "budget reached") {
			t.Errorf("run %d: BudgetText() = %q", run, text)
		}
		copied += want

		// What is at the destination is the newest mail: nothing there is
		// older than a message still to come.
		var dstDates []time.Time
		for _, f := range b.snap(t, b.dst, dstPW).Folders {
			for _, m := range f.Messages {
				dstDates = append(dstDates, m.Date)
			}
		}
		if len(dstDates) != copied {
			t.Fatalf("after run %d the destination holds %d messages; want %d", run, len(dstDates), copied)
		}
		if copied < len(all) {
			next := all[copied].date
			for _, d := range dstDates {
				if d.Before(next) {
					t.Errorf("after run %d the destination holds a message of %v, older than %v still at the source only", run, d, next)
				}
			}
		}
	}
	if copied != len(all) {
		t.Fatalf("after 4 runs %d of %d messages are copied", copied, len(all))
	}
	after := b.snap(t, b.dst, dstPW)
	checkMirrors(t, before, after, map[string]string{"INBOX": "INBOX", "Archive": "Archive"}, nil)
	if rep := b.sync(t); rep.Totals.Copied != 0 || rep.BudgetReached || rep.Totals.Present != len(all) {
		t.Errorf("a fifth run copied %d, budget reached %v, present %d; want 0, false, %d", rep.Totals.Copied, rep.BudgetReached, rep.Totals.Present, len(all))
	}
}
