package notify_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

var (
	adminFrom = mail.Address{Name: "imapmigrate", Address: "migration@example.com"}
	adminTo   = []mail.Address{{Address: "admin@example.com"}, {Address: "helpdesk@example.com"}}
)

func sampleReport(event notify.Event, state string) notify.BatchReport {
	return notify.BatchReport{
		Event: event, Batch: "wave1", State: state, SourceEndpoint: "old", DestEndpoint: "o365",
		At:         time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
		NextSync:   time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC),
		ConsoleURL: "https://migrate.example.com/batches/wave1",
		Users: []notify.UserRow{
			{Address: "alice@example.com", Status: "Synced", Synced: 1200, Skipped: 2, Bytes: 150 << 20},
			{Address: "bob@example.com", Status: "Failed", LastError: "the destination server refused the login of bob@example.com:\r\nthe mailbox may not exist yet"},
			{Address: "carol@example.com", Status: "Synced", Synced: 30, Failed: 3, Bytes: 2 << 10},
		},
		CSV: []byte("EmailAddress,Status\r\nalice@example.com,Synced\r\n"),
	}
}

func TestBatchReportMessage(t *testing.T) {
	t.Parallel()
	clean := sampleReport(notify.EventCompleted, "Completed")
	clean.Users = clean.Users[:1]
	tests := []struct {
		name        string
		report      notify.BatchReport
		wantSubject string
		want        []string // in the body, in this order
		notWant     []string
	}{
		{
			name:        "InitialSync",
			report:      sampleReport(notify.EventInitialSync, "SyncedWithErrors"),
			wantSubject: "Migration batch wave1: initial sync finished, SyncedWithErrors",
			want: []string{
				"The initial sync of migration batch wave1 has finished.\n\n",
				"Batch:        wave1\n",
				"State:        SyncedWithErrors\n",
				"Source:       old\n",
				"Destination:  o365\n",
				"Time:         2026-03-01 09:30 UTC\n",
				"Next sync:    2026-03-02 09:30 UTC\n",
				"Users:        3: 2 Synced, 1 Failed\n",
				"Items:        1230 synced, 2 skipped, 3 failed\n",
				"Size:         150.0 MiB\n",
				"Console:      https://migrate.example.com/batches/wave1\n",
				"\nUsers with errors (2):\n\n",
				"- bob@example.com (Failed): the destination server refused the login of bob@example.com: the mailbox may not exist yet\n",
				"- carol@example.com (Synced): 3 items failed\n",
				"\nUSER               STATUS  SYNCED  SKIPPED  FAILED  SIZE\n",
				"alice@example.com  Synced  1200    2        0       150.0 MiB\n",
				"bob@example.com    Failed  0       0        0       0 B\n",
				"carol@example.com  Synced  30      0        3       2.0 KiB\n",
				"\nThe attached wave1-report.csv has every user's figures and last error.\n",
			},
		},
		{
			name:        "IncrementalErrors",
			report:      sampleReport(notify.EventIncrementalErrors, "SyncedWithErrors"),
			wantSubject: "Migration batch wave1: incremental sync with errors (2 users)",
			want:        []string{"An incremental sync of migration batch wave1 ended with errors.\n", "Users with errors (2):"},
		},
		{
			name:        "CompletedWithErrors",
			report:      sampleReport(notify.EventCompleted, "Completed"),
			wantSubject: "Migration batch wave1: completed (2 users with errors)",
			want:        []string{"Migration batch wave1 is completed: its final sync has run, and no more syncs will.\n", "State:        Completed\n"},
		},
		{
			name:        "CompletedClean",
			report:      clean,
			wantSubject: "Migration batch wave1: completed",
			want:        []string{"Users:        1: 1 Synced\n", "USER "},
			notWant:     []string{"Users with errors"},
		},
		{
			name: "Minimal",
			report: notify.BatchReport{Event: notify.EventInitialSync, Batch: "b", State: "Synced",
				Users: []notify.UserRow{{Address: "a@example.com", Status: "Synced", Synced: 1, Bytes: 10}}},
			wantSubject: "Migration batch b: initial sync finished, Synced",
			want:        []string{"Items:        1 synced, 0 skipped, 0 failed\nSize:         10 B\n"},
			notWant:     []string{"Source:", "Time:", "Next sync:", "Console:", "attached"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := tt.report.Message(adminFrom, adminTo)
			if err != nil {
				t.Fatalf("Message: %v", err)
			}
			if msg.Subject != tt.wantSubject {
				t.Errorf("Subject = %q; want %q", msg.Subject, tt.wantSubject)
			}
			if msg.From != adminFrom || len(msg.To) != 2 || msg.To[1] != adminTo[1] {
				t.Errorf("From %v To %v; want %v and %v", msg.From, msg.To, adminFrom, adminTo)
			}
			rest := msg.Text
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("body lacks %q (after the previous ones):\n%s", w, msg.Text)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg.Text, w) {
					t.Errorf("body has %q:\n%s", w, msg.Text)
				}
			}
			if tt.report.CSV == nil {
				if len(msg.Attachments) != 0 {
					t.Errorf("attachments %v; want none without CSV", msg.Attachments)
				}
				return
			}
			if len(msg.Attachments) != 1 {
				t.Fatalf("%d attachments; want the CSV", len(msg.Attachments))
			}
			a := msg.Attachments[0]
			if a.Filename != "wave1-report.csv" || a.ContentType != "text/csv; charset=utf-8" || !bytes.Equal(a.Data, tt.report.CSV) {
				t.Errorf("attachment %q %q %q; want wave1-report.csv, text/csv, the CSV bytes", a.Filename, a.ContentType, a.Data)
			}
		})
	}
}

// TestBatchReportCapsRows checks that a large batch's body lists the first
// users and points to the CSV for the rest.
func TestBatchReportCapsRows(t *testing.T) {
	t.Parallel()
	r := notify.BatchReport{Event: notify.EventIncrementalErrors, Batch: "big", State: "SyncedWithErrors", CSV: []byte("x")}
	for i := range 1003 {
		r.Users = append(r.Users, notify.UserRow{Address: fmt.Sprintf("u%04d@example.com", i), Status: "Failed", LastError: "login refused"})
	}
	msg, err := r.Message(adminFrom, adminTo)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Users with errors (1003):", "- u0999@example.com (Failed): login refused\n... and 3 more, in the attached CSV file.\n", "\nu0999@example.com  Failed"} {
		if !strings.Contains(msg.Text, w) {
			t.Errorf("body lacks %q", w)
		}
	}
	if strings.Contains(msg.Text, "u1000@example.com") {
		t.Errorf("body lists user 1001 of 1003; want at most 1000")
	}
	if n := strings.Count(msg.Text, "... and 3 more, in the attached CSV file."); n != 2 {
		t.Errorf("the rest is pointed to %d times; want twice (errors and table)", n)
	}
}

func TestBatchReportUnknownEvent(t *testing.T) {
	t.Parallel()
	_, err := notify.BatchReport{Event: "started", Batch: "wave1"}.Message(adminFrom, adminTo)
	if err == nil || !strings.Contains(err.Error(), `batch report for wave1: unknown event "started"`) {
		t.Errorf("Message() error = %v; want one naming the batch and the event", err)
	}
}

// TestBatchReportFileName checks that a batch name cannot make the
// attachment's name a path.
func TestBatchReportFileName(t *testing.T) {
	t.Parallel()
	r := notify.BatchReport{Event: notify.EventCompleted, Batch: "../vague 1/é", CSV: []byte("x")}
	msg, err := r.Message(adminFrom, adminTo)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Attachments[0].Filename; got != ".._vague_1_é-report.csv" {
		t.Errorf("Filename = %q; want .._vague_1_é-report.csv", got)
	}
}
