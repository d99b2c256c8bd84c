package mailsync_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

func TestGradeOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     mailsync.GradeFigures
		grade  mailsync.Grade
		reason string
	}{
		{"Perfect", mailsync.GradeFigures{Expected: 1000}, mailsync.GradePerfect, "every message is at the destination with its flags and date"},
		{"EmptyMailbox", mailsync.GradeFigures{}, mailsync.GradePerfect, "every message is at the destination with its flags and date"},
		{"OneMissingOfFew", mailsync.GradeFigures{Expected: 10, Missing: 1}, mailsync.GradeGood, "1 of 10 messages missing at the destination"},
		{"OnePerMille", mailsync.GradeFigures{Expected: 10000, Missing: 10}, mailsync.GradeGood, "10 of 10000 messages missing at the destination"},
		{"JustOverOnePerMille", mailsync.GradeFigures{Expected: 10000, Missing: 11}, mailsync.GradeInvestigate, "11 of 10000 messages missing at the destination"},
		{"OneDifferenceOfFew", mailsync.GradeFigures{Expected: 10, Differ: 1}, mailsync.GradeGood, "1 flag or date difference"},
		{"OnePercentDiffer", mailsync.GradeFigures{Expected: 1000, Differ: 10}, mailsync.GradeGood, "10 flag or date differences"},
		{"OverOnePercentDiffer", mailsync.GradeFigures{Expected: 1000, Differ: 11}, mailsync.GradeInvestigate, "11 flag or date differences"},
		{"ManyDifferencesNeverPoor", mailsync.GradeFigures{Expected: 100, Differ: 100}, mailsync.GradeInvestigate, "100 flag or date differences"},
		{"Both", mailsync.GradeFigures{Expected: 1000, Missing: 1, Differ: 2}, mailsync.GradeGood, "1 of 1000 messages missing at the destination; 2 flag or date differences"},
		{"FivePercent", mailsync.GradeFigures{Expected: 100, Missing: 5}, mailsync.GradeInvestigate, "5 of 100 messages missing at the destination"},
		{"OverFivePercent", mailsync.GradeFigures{Expected: 100, Missing: 6}, mailsync.GradePoor, "6 of 100 messages missing at the destination"},
		{"AllMissing", mailsync.GradeFigures{Expected: 2, Missing: 2}, mailsync.GradePoor, "2 of 2 messages missing at the destination"},
		{"FolderMissing", mailsync.GradeFigures{Expected: 10, MissingFolders: []string{"Empty"}}, mailsync.GradeGood, `folder "Empty" not at the destination`},
		{"Unreadable", mailsync.GradeFigures{Expected: 10, Unreadable: []string{"Work", "Old"}}, mailsync.GradePoor, `2 folders ("Work", "Old") could not be read`},
		{"UnreadableFirst", mailsync.GradeFigures{Expected: 10, Missing: 1, Unreadable: []string{"Work"}}, mailsync.GradePoor,
			`folder "Work" could not be read; 1 of 10 messages missing at the destination`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			grade, reason := mailsync.GradeOf(tc.in)
			if grade != tc.grade || reason != tc.reason {
				t.Errorf("GradeOf(%+v) = %s, %q; want %s, %q", tc.in, grade, reason, tc.grade, tc.reason)
			}
		})
	}
}

func TestBatchGrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		users  []mailsync.Grade
		grade  mailsync.Grade
		reason string
	}{
		{"AllPerfect", []mailsync.Grade{mailsync.GradePerfect, mailsync.GradePerfect}, mailsync.GradePerfect, "the worst of 2 users: 2 Perfect"},
		{"OnePoorIsNotAveragedAway", []mailsync.Grade{mailsync.GradePerfect, mailsync.GradePoor, mailsync.GradeGood, mailsync.GradePerfect},
			mailsync.GradePoor, "the worst of 4 users: 1 Poor, 1 Good, 2 Perfect"},
		{"Investigate", []mailsync.Grade{mailsync.GradeInvestigate}, mailsync.GradeInvestigate, "the worst of 1 user: 1 Investigate"},
		{"NoUsers", nil, mailsync.GradePerfect, "no users"},
	}
	for _, tc := range tests {
		grade, reason := mailsync.BatchGrade(tc.users)
		if grade != tc.grade || reason != tc.reason {
			t.Errorf("%s: BatchGrade(%v) = %s, %q; want %s, %q", tc.name, tc.users, grade, reason, tc.grade, tc.reason)
		}
	}
}

// TestVerificationCSVRows checks the CSV layout: one mailbox row, one row
// per folder, one per difference, every row as wide as the header.
func TestVerificationCSVRows(t *testing.T) {
	t.Parallel()
	date := time.Date(2024, 3, 1, 9, 30, 0, 0, time.FixedZone("", 3600))
	v := &mailsync.Verification{
		Source: "alice@old:993", Destination: "alice@new:993", Grade: mailsync.GradeGood, GradeReason: "1 of 10 messages missing at the destination",
		Folders: []mailsync.FolderCheck{{Source: "INBOX", Destination: "INBOX", Status: "compared", SourceCount: 10, DestCount: 10, Matched: 9, Missing: 1, Extra: 1,
			Skipped: map[string]int{"too_large": 2, "over_max_items": 1}}},
		Totals:      mailsync.CheckTotals{SourceCount: 10, DestCount: 10, Matched: 9, Missing: 1, Extra: 1, Skipped: map[string]int{"too_large": 2, "over_max_items": 1}},
		Missing:     []mailsync.Difference{{Folder: "INBOX", UID: 7, Size: 100, Date: date, Subject: "=1+2"}},
		Extra:       []mailsync.Difference{{Folder: "INBOX", UID: 42, Size: 90, Date: date, Subject: "New"}},
		FlagsDiffer: []mailsync.FlagsDiff{{Difference: mailsync.Difference{Folder: "INBOX", UID: 3}, DestUID: 4, SourceFlags: []string{`\Seen`}, DestFlags: []string{`\Flagged`, `\Seen`}}},
	}
	rows := v.CSVRows()
	col := map[string]int{}
	for i, c := range mailsync.CSVColumns {
		col[c] = i
	}
	want := []map[string]string{
		{"Record": "mailbox", "Grade": "Good", "Missing": "1", "Skipped": "over_max_items=1 too_large=2", "Detail": "1 of 10 messages missing at the destination"},
		{"Record": "folder", "Folder": "INBOX", "Status": "compared", "Matched": "9", "Extra": "1"},
		// Text from mailboxes is left as is: the writer escapes formulas.
		{"Record": "missing", "UID": "7", "DestinationUID": "", "Date": "2024-03-01T08:30:00Z", "Subject": "=1+2", "Size": "100"},
		{"Record": "extra", "UID": "", "DestinationUID": "42", "Subject": "New"},
		{"Record": "flags", "UID": "3", "DestinationUID": "4", "SourceFlags": `\Seen`, "DestinationFlags": `\Flagged \Seen`},
	}
	if len(rows) != len(want) {
		t.Fatalf("CSVRows() = %d rows; want %d: %q", len(rows), len(want), rows)
	}
	for i, w := range want {
		if len(rows[i]) != len(mailsync.CSVColumns) {
			t.Errorf("row %d has %d cells; want %d", i, len(rows[i]), len(mailsync.CSVColumns))
			continue
		}
		if rows[i][col["Mailbox"]] != "alice@old:993" {
			t.Errorf("row %d Mailbox = %q; want alice@old:993", i, rows[i][col["Mailbox"]])
		}
		for c, cell := range w {
			if got := rows[i][col[c]]; got != cell {
				t.Errorf("row %d (%s) %s = %q; want %q", i, w["Record"], c, got, cell)
			}
		}
	}

	var buf bytes.Buffer
	if err := v.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back mailsync.Verification
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Grade != mailsync.GradeGood || len(back.FlagsDiffer) != 1 || back.FlagsDiffer[0].DestFlags[0] != `\Flagged` {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}
}
