package mailsync

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// Reasons an item is skipped. Skipped items are reported, never dropped
// silently; none of them stops a run (see Report.OK for which ones make it
// not OK).
const (
	ReasonTooLarge       = "too_large"       // over Options.MaxMessageSize
	ReasonOverMaxItems   = "over_max_items"  // older than the newest Options.MaxItems messages
	ReasonRejected       = "rejected"        // the destination refused the message
	ReasonExpunged       = "expunged"        // gone from the source while the run was going on
	ReasonReceivedBefore = "received_before" // received before Options.ReceivedAfter

	// ReasonOverAppendLimit: larger than the destination's APPENDLIMIT
	// (RFC 7889), so never sent, since the destination would refuse it.
	// Like a rejection, it is not a limit the admin chose.
	ReasonOverAppendLimit = "over_append_limit"
)

// Report says what a run did, folder by folder. It is written as JSON by
// --report and rendered as a table on the terminal.
type Report struct {
	Source      string         `json:"source"`
	Destination string         `json:"destination"`
	DryRun      bool           `json:"dry_run,omitempty"`
	Started     time.Time      `json:"started"`
	Finished    time.Time      `json:"finished"`
	Folders     []FolderReport `json:"folders"`
	Totals      Totals         `json:"totals"`
	// Skipped lists the skipped items except those over --max-items, which
	// are only counted (there can be hundreds of thousands).
	Skipped []Item `json:"skipped_items"`
	Failed  []Item `json:"failed_items"`
	// Errors are problems above the level of one message: a folder that
	// could not be created, a destination over quota.
	Errors []string `json:"errors"`
	// Retries lists, in order, what made the run reconnect or retry: a
	// lost connection (with the server's BYE words when it said any), an
	// idle timeout, a temporary refusal. A run that ends OK recovered from
	// each of them; they say why it took longer.
	Retries []string `json:"retries"`
	// OverQuota is the destination's answer that stopped the copy because
	// the mailbox is full: it wraps ErrOverQuota and the server's
	// *imap.Error (Errors says it in words). Nil when the copy was not
	// stopped so.
	OverQuota error `json:"-"`
	// MaxBytes is Options.MaxBytes, the cap on this run's bytes (0: none).
	// BudgetReached says the cap left messages for the next run:
	// Totals.Deferred and Totals.DeferredBytes say how many. They are not
	// skipped and do not make the run less OK: the next run copies them,
	// newest first.
	MaxBytes      int64 `json:"max_bytes,omitempty"`
	BudgetReached bool  `json:"budget_reached,omitempty"`
	// DisarmReadReceipts records that Options.DisarmReadReceipts was on.
	// ReadReceiptsDisarmed counts the messages copied with $MDNSent added
	// because they ask for a read receipt; ReadReceiptsNotDisarmed those
	// that ask for one but went into a destination folder that does not
	// accept the keyword (its PERMANENTFLAGS has neither \* nor $MDNSent).
	DisarmReadReceipts      bool `json:"disarm_read_receipts,omitempty"`
	ReadReceiptsDisarmed    int  `json:"read_receipts_disarmed,omitempty"`
	ReadReceiptsNotDisarmed int  `json:"read_receipts_not_disarmed,omitempty"`
}

// FolderReport is the outcome for one source folder.
type FolderReport struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	Role        string `json:"role,omitempty"`
	// Status is "synced", "skipped: <reason>", "error", or
	// StatusSourceGone for a folder of an earlier run that the source no
	// longer has (its destination folder is kept).
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	// Unchanged says the folder was not read: its STATUS figures
	// (HIGHESTMODSEQ, UIDNEXT, MESSAGES) were those recorded when an
	// earlier pass left it complete, so nothing in it changed since.
	Unchanged   bool `json:"unchanged,omitempty"`
	SourceCount int  `json:"source_count"`
	// DestCount is the number of messages in the destination folder at the
	// end of the run (-1 when unknown, as in a dry run of a new folder).
	DestCount    int            `json:"destination_count"`
	Copied       int            `json:"copied"`
	Present      int            `json:"already_present"`
	FlagsUpdated int            `json:"flags_updated"`
	Skipped      map[string]int `json:"skipped"`
	Failed       int            `json:"failed"`
	// DeletedAtSource counts messages copied earlier that are gone from the
	// source now. They are left at the destination.
	DeletedAtSource int   `json:"deleted_at_source"`
	Bytes           int64 `json:"bytes"`
	ToCopy          int   `json:"to_copy"`
	ToCopyBytes     int64 `json:"to_copy_bytes"`
	// Deferred counts the messages left for the next run by
	// Options.MaxBytes (not in ToCopy).
	Deferred      int    `json:"deferred,omitempty"`
	DeferredBytes int64  `json:"deferred_bytes,omitempty"`
	Error         string `json:"error,omitempty"`
}

// Totals adds up the folders.
type Totals struct {
	Folders         int            `json:"folders"`
	SourceCount     int            `json:"source_count"`
	Copied          int            `json:"copied"`
	Present         int            `json:"already_present"`
	FlagsUpdated    int            `json:"flags_updated"`
	Skipped         map[string]int `json:"skipped"`
	Failed          int            `json:"failed"`
	DeletedAtSource int            `json:"deleted_at_source"`
	Bytes           int64          `json:"bytes"`
	ToCopy          int            `json:"to_copy"`
	ToCopyBytes     int64          `json:"to_copy_bytes"`
	Deferred        int            `json:"deferred"`
	DeferredBytes   int64          `json:"deferred_bytes"`
	DurationSeconds float64        `json:"duration_seconds"`
	MessagesPerSec  float64        `json:"messages_per_second"`
	MBPerSec        float64        `json:"mb_per_second"`
}

// Item is one message that was skipped or failed, named so that an admin
// can find it in the source mailbox.
type Item struct {
	Folder  string    `json:"folder"`
	UID     uint32    `json:"uid"`
	Size    int64     `json:"size"`
	Date    time.Time `json:"date"`
	Subject string    `json:"subject,omitempty"`
	Reason  string    `json:"reason"`
	Detail  string    `json:"detail,omitempty"`
}

// OK reports whether everything that should have moved has moved: no failed
// item, no message refused by the destination (or over its APPENDLIMIT), no
// folder or mailbox error.
// Items skipped by policy (too large, over the item cap) and messages
// expunged at the source during the run do not count against it.
func (r *Report) OK() bool {
	if r.Totals.Failed > 0 || r.Totals.Skipped[ReasonRejected] > 0 || r.Totals.Skipped[ReasonOverAppendLimit] > 0 || len(r.Errors) > 0 {
		return false
	}
	for _, f := range r.Folders {
		if f.Error != "" {
			return false
		}
	}
	return true
}

// BudgetText says, for a person, what Options.MaxBytes left for the next
// run; "" when it left nothing.
func (r *Report) BudgetText() string {
	if !r.BudgetReached {
		return ""
	}
	return fmt.Sprintf("budget reached (%.1f MB a run): %d messages (%.1f MB) left for the next run, newest first",
		float64(r.MaxBytes)/1e6, r.Totals.Deferred, float64(r.Totals.DeferredBytes)/1e6)
}

// ReadReceiptsText says, for a person, what Options.DisarmReadReceipts
// did; "" when it was off.
func (r *Report) ReadReceiptsText() string {
	if !r.DisarmReadReceipts {
		return ""
	}
	s := fmt.Sprintf("read receipts disarmed: %d messages asking for one were copied with $MDNSent", r.ReadReceiptsDisarmed)
	if r.ReadReceiptsNotDisarmed > 0 {
		s += fmt.Sprintf("; %d were not, as their destination folder does not accept the keyword", r.ReadReceiptsNotDisarmed)
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// total fills in Totals from the folders.
func (r *Report) total() {
	t := Totals{Skipped: map[string]int{}}
	for _, f := range r.Folders {
		t.Folders++
		t.SourceCount += f.SourceCount
		t.Copied += f.Copied
		t.Present += f.Present
		t.FlagsUpdated += f.FlagsUpdated
		t.Failed += f.Failed
		t.DeletedAtSource += f.DeletedAtSource
		t.Bytes += f.Bytes
		t.ToCopy += f.ToCopy
		t.ToCopyBytes += f.ToCopyBytes
		t.Deferred += f.Deferred
		t.DeferredBytes += f.DeferredBytes
		for k, v := range f.Skipped {
			t.Skipped[k] += v
		}
	}
	d := r.Finished.Sub(r.Started).Seconds()
	t.DurationSeconds = d
	if d > 0 {
		t.MessagesPerSec = float64(t.Copied) / d
		t.MBPerSec = float64(t.Bytes) / 1e6 / d
	}
	r.Totals = t
	sortItems(r.Skipped)
	sortItems(r.Failed)
}

func sortItems(items []Item) {
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Folder != items[j].Folder {
			return items[i].Folder < items[j].Folder
		}
		return items[i].UID < items[j].UID
	})
}
