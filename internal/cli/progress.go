package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// progress shows copying as it goes: a bar per folder with an ETA on a
// terminal, and a plain line per folder every few seconds otherwise, so that
// logs stay readable.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	last map[string]time.Time
}

func newProgress(w io.Writer) *progress {
	pr := &progress{w: w, bars: map[string]*mpb.Bar{}, last: map[string]time.Time{}}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		pr.tty = true
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return pr
}

func (pr *progress) update(p mailsync.Progress) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.tty {
		bar := pr.bars[p.Folder]
		if bar == nil {
			bar = pr.p.AddBar(int64(p.Total),
				mpb.PrependDecorators(decor.Name(truncate(p.Folder, 24), decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 25}), decor.CountersNoUnit("%d/%d", decor.WCSyncWidth)),
				mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
			)
			pr.bars[p.Folder] = bar
		}
		bar.SetCurrent(int64(p.Done))
		return
	}
	now := time.Now()
	if p.Done < p.Total && now.Sub(pr.last[p.Folder]) < 5*time.Second {
		return
	}
	pr.last[p.Folder] = now
	fmt.Fprintf(pr.w, "%s: %d/%d messages, %.1f MB\n", p.Folder, p.Done, p.Total, float64(p.Bytes)/1e6)
}

func (pr *progress) done() {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	for _, b := range pr.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	pr.mu.Unlock()
	pr.p.Wait()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printReport renders the report for a person: a table of folders, the
// totals, then every skipped and failed item.
func printReport(w io.Writer, rep *mailsync.Report) {
	if rep.DryRun {
		fmt.Fprintf(w, "Dry run: nothing was changed. Plan for %s -> %s:\n\n", rep.Source, rep.Destination)
	} else {
		fmt.Fprintf(w, "Migration %s -> %s\n\n", rep.Source, rep.Destination)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rep.DryRun {
		fmt.Fprintln(tw, "SOURCE FOLDER\tDESTINATION\tMESSAGES\tPRESENT\tTO COPY\tMB TO COPY\tSKIPPED\tSTATUS")
	} else {
		fmt.Fprintln(tw, "SOURCE FOLDER\tDESTINATION\tSOURCE\tDEST\tCOPIED\tPRESENT\tFLAGS\tSKIPPED\tFAILED\tSTATUS")
	}
	for _, f := range rep.Folders {
		dest := f.Destination
		if dest == "" {
			dest = "-"
		}
		status := f.Status
		if f.Note != "" {
			status += " (" + f.Note + ")"
		}
		if f.Error != "" {
			status += ": " + f.Error
		}
		if rep.DryRun {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t%s\n", f.Source, dest, f.SourceCount, f.Present, f.ToCopy, float64(f.ToCopyBytes)/1e6, skippedText(f.Skipped), status)
			continue
		}
		destCount := "-"
		if f.DestCount >= 0 {
			destCount = fmt.Sprint(f.DestCount)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%d\t%s\n", f.Source, dest, f.SourceCount, destCount, f.Copied, f.Present, f.FlagsUpdated, skippedText(f.Skipped), f.Failed, status)
	}
	tw.Flush()
	t := rep.Totals
	fmt.Fprintln(w)
	if rep.DryRun {
		fmt.Fprintf(w, "%d folders, %d messages; %d already at the destination; %d to copy (%.1f MB); skipped: %s\n",
			t.Folders, t.SourceCount, t.Present, t.ToCopy, float64(t.ToCopyBytes)/1e6, skippedText(t.Skipped))
	} else {
		fmt.Fprintf(w, "Copied %d messages (%.1f MB) in %.1fs: %.0f msgs/s, %.1f MB/s. Already present %d, flags updated %d, skipped %s, failed %d, deleted at the source (kept at the destination) %d.\n",
			t.Copied, float64(t.Bytes)/1e6, t.DurationSeconds, t.MessagesPerSec, t.MBPerSec, t.Present, t.FlagsUpdated, skippedText(t.Skipped), t.Failed, t.DeletedAtSource)
	}
	for _, line := range []string{rep.BudgetText(), rep.ReadReceiptsText()} {
		if line != "" {
			fmt.Fprintf(w, "%s.\n", strings.ToUpper(line[:1])+line[1:])
		}
	}
	if n := t.Skipped[mailsync.ReasonOverMaxItems]; n > 0 {
		fmt.Fprintf(w, "%d older messages were left at the source: over --max-items.\n", n)
	}
	for _, it := range rep.Skipped {
		fmt.Fprintf(w, "skipped: folder %q uid %d, %d bytes, %s, subject %q: %s (%s)\n", it.Folder, it.UID, it.Size, itemDate(it.Date), it.Subject, it.Reason, it.Detail)
	}
	for _, it := range rep.Failed {
		fmt.Fprintf(w, "FAILED: folder %q uid %d, %d bytes, %s: %s\n", it.Folder, it.UID, it.Size, itemDate(it.Date), it.Detail)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
}

func skippedText(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// itemDate is a skipped or failed message's date for printReport; a
// message gone before its date was read has none.
func itemDate(t time.Time) string {
	if t.IsZero() {
		return "date unknown"
	}
	return t.Format(time.RFC3339)
}
