package notify

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/imapmigrate/imapmigrate/internal/size"
)

// Event is what happened to a batch, for its notification addresses. They
// hear of the same moments as Exchange's NotificationEmails do.
type Event string

const (
	// EventInitialSync: every user's initial sync is over, successful or
	// not (the batch is Synced, SyncedWithErrors or Failed).
	EventInitialSync Event = "initial_sync"
	// EventIncrementalErrors: an incremental sync ended with some users in
	// error. Incremental syncs without errors send nothing, so that a
	// batch left running for weeks does not mail every day.
	EventIncrementalErrors Event = "incremental_errors"
	// EventCompleted: the final sync has run and the batch is Completed.
	EventCompleted Event = "completed"
)

// BatchReport is everything a batch report says, in plain values the
// service fills from its batch and users.
type BatchReport struct {
	Event Event
	Batch string
	// State is the batch's state after the event (Synced,
	// SyncedWithErrors, Completed...).
	State          string
	SourceEndpoint string
	DestEndpoint   string
	// At is when the event happened; NextSync when the next incremental
	// sync is due. Zero values are left out.
	At       time.Time
	NextSync time.Time
	// ConsoleURL links to the batch in the web console; empty leaves it
	// out.
	ConsoleURL string
	Users      []UserRow
	// CSV is the batch report (batch report --format csv), attached as
	// <batch>-report.csv. Nil attaches nothing.
	CSV []byte
}

// UserRow is one user's line of a BatchReport.
type UserRow struct {
	Address string
	Status  string
	// Synced, Skipped and Failed count items (messages); Bytes is the size
	// of those synced.
	Synced, Skipped, Failed, Bytes int64
	LastError                      string
}

// hasError reports whether the row belongs in the report's error list.
func (u UserRow) hasError() bool {
	return u.LastError != "" || u.Failed > 0 || u.Status == "Failed"
}

// maxRows caps the users listed in the body, so that a batch of 50,000
// users mails a readable report; the attached CSV has all of them.
const maxRows = 1000

// Message renders the report as a mail from from to to: a summary and a
// table of the users in the body, the CSV attached.
func (r BatchReport) Message(from mail.Address, to []mail.Address) (Message, error) {
	var subject, intro string
	var withErrors []UserRow
	for _, u := range r.Users {
		if u.hasError() {
			withErrors = append(withErrors, u)
		}
	}
	switch r.Event {
	case EventInitialSync:
		subject = fmt.Sprintf("Migration batch %s: initial sync finished, %s", r.Batch, r.State)
		intro = fmt.Sprintf("The initial sync of migration batch %s has finished.", r.Batch)
	case EventIncrementalErrors:
		subject = fmt.Sprintf("Migration batch %s: incremental sync with errors (%s)", r.Batch, plural(len(withErrors), "user"))
		intro = fmt.Sprintf("An incremental sync of migration batch %s ended with errors.", r.Batch)
	case EventCompleted:
		subject = fmt.Sprintf("Migration batch %s: completed", r.Batch)
		if len(withErrors) > 0 {
			subject += fmt.Sprintf(" (%s with errors)", plural(len(withErrors), "user"))
		}
		intro = fmt.Sprintf("Migration batch %s is completed: its final sync has run, and no more syncs will.", r.Batch)
	default:
		return Message{}, fmt.Errorf("batch report for %s: unknown event %q", r.Batch, r.Event)
	}

	var b strings.Builder
	b.WriteString(intro + "\n\n")
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-13s %s\n", label+":", value)
		}
	}
	line("Batch", r.Batch)
	line("State", r.State)
	line("Source", r.SourceEndpoint)
	line("Destination", r.DestEndpoint)
	if !r.At.IsZero() {
		line("Time", r.At.Format("2006-01-02 15:04 MST"))
	}
	if !r.NextSync.IsZero() {
		line("Next sync", r.NextSync.Format("2006-01-02 15:04 MST"))
	}
	line("Users", r.userCounts())
	var synced, skipped, failed, bytes int64
	for _, u := range r.Users {
		synced, skipped, failed, bytes = synced+u.Synced, skipped+u.Skipped, failed+u.Failed, bytes+u.Bytes
	}
	line("Items", fmt.Sprintf("%d synced, %d skipped, %d failed", synced, skipped, failed))
	line("Size", size.Format(bytes))
	line("Console", r.ConsoleURL)

	if len(withErrors) > 0 {
		fmt.Fprintf(&b, "\nUsers with errors (%d):\n\n", len(withErrors))
		for _, u := range withErrors[:min(len(withErrors), maxRows)] {
			why := clean(u.LastError)
			if why == "" {
				why = plural(int(u.Failed), "item") + " failed"
			}
			fmt.Fprintf(&b, "- %s (%s): %s\n", u.Address, u.Status, why)
		}
		more(&b, len(withErrors))
	}

	if len(r.Users) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tSTATUS\tSYNCED\tSKIPPED\tFAILED\tSIZE")
		for _, u := range r.Users[:min(len(r.Users), maxRows)] {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", u.Address, u.Status, u.Synced, u.Skipped, u.Failed, size.Format(u.Bytes))
		}
		tw.Flush()
		more(&b, len(r.Users))
	}

	msg := Message{From: from, To: to, Subject: subject}
	if r.CSV != nil {
		name := fileName(r.Batch) + "-report.csv"
		fmt.Fprintf(&b, "\nThe attached %s has every user's figures and last error.\n", name)
		msg.Attachments = []Attachment{{Filename: name, ContentType: "text/csv; charset=utf-8", Data: r.CSV}}
	}
	msg.Text = b.String()
	return msg, nil
}

// userCounts is "20: 17 Synced, 2 Failed, 1 SyncedWithErrors": the users
// by status, most common first.
func (r BatchReport) userCounts() string {
	by := map[string]int{}
	for _, u := range r.Users {
		by[u.Status]++
	}
	statuses := make([]string, 0, len(by))
	for s := range by {
		statuses = append(statuses, s)
	}
	slices.SortFunc(statuses, func(a, b string) int {
		if by[a] != by[b] {
			return by[b] - by[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%d %s", by[s], s)
	}
	if len(parts) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d: %s", len(r.Users), strings.Join(parts, ", "))
}

// more says how many rows were left out of the body.
func more(b *strings.Builder, n int) {
	if n > maxRows {
		fmt.Fprintf(b, "... and %d more, in the attached CSV file.\n", n-maxRows)
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// clean puts text on one line: servers' error messages can hold line
// breaks and control characters, and a line break in a header value (a
// subject from a template or a batch name) would end the field.
func clean(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// fileName keeps a batch name safe as an attachment's file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, s)
}
