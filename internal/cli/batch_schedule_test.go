package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestBatchSchedule: --start-after and --complete-after are read in
// --timezone and shown in it; wrong ones are usage errors.
func TestBatchSchedule(t *testing.T) {
	rb := setupRemote(t)
	csv := rb.file(t, "users.csv", twoUsersCSV)
	rb.mustRun(t, "batch", "create", "night", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csv,
		"--start-after", "2026-12-01 22:00", "--complete-after", "2026-12-03T18:30:00Z", "--timezone", "Europe/Paris")
	var b service.Batch
	if err := json.Unmarshal([]byte(rb.mustRun(t, "batch", "status", "night", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	o := b.Options
	if o.StartAfter == nil || !o.StartAfter.Equal(time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)) ||
		o.CompleteAfter == nil || !o.CompleteAfter.Equal(time.Date(2026, 12, 3, 18, 30, 0, 0, time.UTC)) || o.TimeZone != "Europe/Paris" {
		t.Errorf("options sent: start %v, complete %v, zone %q; want 21:00 and 18:30 UTC in Europe/Paris", o.StartAfter, o.CompleteAfter, o.TimeZone)
	}
	status := rb.mustRun(t, "batch", "status", "night")
	for _, want := range []string{`Start after:\s+2026-12-01 22:00 CET\n`, `Complete after:\s+2026-12-03 19:30 CET\n`} {
		if !regexp.MustCompile(want).MatchString(status) {
			t.Errorf("batch status does not match %s:\n%s", want, status)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownZone", []string{"--start-after", "2026-12-01 22:00", "--timezone", "Mars/Olympus"}, `--timezone: time zone "Mars/Olympus": want an IANA time zone name`},
		{"LocalIsNoZone", []string{"--timezone", "Local"}, `--timezone: time zone "Local"`},
		{"NotATime", []string{"--start-after", "tonight"}, `--start-after: "tonight" is not a date and time`},
		{"CompleteBeforeStart", []string{"--start-after", "2026-12-02 08:00", "--complete-after", "2026-12-01 08:00"}, "--complete-after is before --start-after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"batch", "create", "bad", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csv}, tc.args...)
			code, _, errOut := rb.run(args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("imapmigrate %s = exit %d, %q; want %d with %q", strings.Join(tc.args, " "), code, errOut, ExitUsage, tc.want)
			}
		})
	}
}

func TestBatchReportHTML(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "users.csv", twoUsersCSV))
	out := filepath.Join(rb.dir, "spring.html")
	wantLines(t, "batch report --html", rb.mustRun(t, "batch", "report", "spring", "--html", out), "report of batch \"spring\" written to "+out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, want := range []string{"<!DOCTYPE html>", "<title>Migration report: spring</title>", "<th scope=\"row\">alice@example.com</th>",
		"<dt>Source</dt><dd>old (imap.old.example.com:993, tls)</dd>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report has no %q", want)
		}
	}
	if strings.Contains(page, "Alic3-pw") {
		t.Error("the HTML report holds a password of the CSV file")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if code, _, errOut := rb.run("batch", "report", "spring", "--html", out, "--format", "csv"); code != ExitUsage || !strings.Contains(errOut, "--html FILE is --format html --output FILE") {
		t.Errorf("--html with --format csv = exit %d, %q; want a usage error", code, errOut)
	}
	// --format html writes the same page to standard output.
	if got := rb.mustRun(t, "batch", "report", "spring", "--format", "html"); !strings.HasPrefix(got, "<!DOCTYPE html>") {
		t.Errorf("--format html printed %.80q", got)
	}
}

func TestBatchStaleShown(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "users.csv", twoUsersCSV))
	since := time.Now().Add(-20*24*time.Hour - time.Hour)
	rb.fake.EditBatch("spring", func(b *service.Batch) {
		b.State, b.Stale, b.StaleSince = service.BatchSynced, true, &since
	})
	wantLines(t, "batch list", rb.mustRun(t, "batch", "list"), "Synced (stale)")
	wantLines(t, "batch status", rb.mustRun(t, "batch", "status", "spring"), "Stale:", "synced with no action for 20 days: complete it or remove it")
}
