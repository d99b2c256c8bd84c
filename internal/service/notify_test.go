package service_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// mailConfig sends through srv, attaching the API's CSV report, with
// retries after half a second rather than a minute.
func mailConfig(srv *testserver.SMTP) service.Mail {
	return service.Mail{
		SMTP: config.SMTP{Host: srv.Host, Port: srv.Port, Security: config.SMTPSecurityNone,
			From: "Migration team <migration@example.com>", Timeout: config.Duration{Duration: 10 * time.Second}},
		ReportCSV: api.WriteReportCSV,
		Retry:     500 * time.Millisecond,
	}
}

// withMail restarts the bundle's service with mail through srv.
func withMail(b *bundle, srv *testserver.SMTP) *service.Service {
	return restartTuned(b, func(c *service.Config) {
		c.Mail = mailConfig(srv)
		c.SoleProcess = !strings.HasPrefix(b.dsn, "postgres")
	})
}

const apiToken = "service-test-token"

// apiGet answers GET path from the REST API over the bundle's service, as
// `imapmigrate batch report --format csv` reads it.
func (b *bundle) apiGet(path string) []byte {
	b.t.Helper()
	srv := httptest.NewServer(api.New(b.svc, apiToken, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, body, err)
	}
	return body
}

// mailsTo keeps the messages whose envelope goes to rcpt.
func mailsTo(msgs []testserver.SMTPMessage, rcpt string) []testserver.SMTPMessage {
	var out []testserver.SMTPMessage
	for _, m := range msgs {
		if slices.Contains(m.To, rcpt) {
			out = append(out, m)
		}
	}
	return out
}

func mustParse(t *testing.T, m testserver.SMTPMessage) *testserver.ParsedMail {
	t.Helper()
	p, err := m.Parse()
	if err != nil {
		t.Fatalf("%v\n%s", err, m.Data)
	}
	return p
}

// waitLog waits until the service's log matches re.
func (b *bundle) waitLog(re *regexp.Regexp, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for !re.MatchString(b.logs.String()) {
		if time.Now().After(deadline) {
			b.t.Fatalf("no log line matching %s after %v; logs:\n%s", re, timeout, b.logs.tail(60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The notification addresses of the tests' batches.
const (
	admin = "admin@example.com"
	ops   = "ops@example.com"
)

// TestBatchReports follows a batch with notification addresses through
// its life: one report when the initial sync is over (the CSV attached
// is the API's CSV report, byte for byte), none for a clean incremental
// round, one for a round in which a user was blocked, one at completion,
// each exactly once; and, the batch set to send its welcome letters at
// completion, a letter to each Completed user and none to the Blocked
// one. On PostgreSQL a second process (a worker) runs beside serve, both
// able to claim the events and send the mail.
func TestBatchReports(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		postgres bool
	}{
		{"SQLite", false},
		{"PostgreSQLTwoProcesses", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testBatchReports(t, tc.postgres)
		})
	}
}

func testBatchReports(t *testing.T, pg bool) {
	b := setup(t, setupOpts{users: 3, workers: 2, messagesBase: 5, dstQuotaKB: 100, postgres: pg})
	smtpSrv := testserver.StartSMTP(t)
	b.svc = withMail(b, smtpSrv)
	if pg {
		startTuned(b, func(c *service.Config) { c.Mail = mailConfig(smtpSrv); c.Scheduler = false })
	}
	ctx := b.ctx
	_, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil), Start: true,
		Options: service.BatchOptions{NotificationEmails: []string{admin, ops}, Welcome: &service.WelcomeOptions{AtCompletion: true}}})
	if err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", 2*time.Minute, service.BatchSynced)

	// The initial sync is over: one report to both addresses.
	msgs := smtpSrv.WaitMessages(t, 1, time.Minute)
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{admin, ops}) || msgs[0].From != "migration@example.com" {
		t.Fatalf("after the initial sync the SMTP server took %d message(s), the first from %s to %v; want 1 from migration@example.com to %v",
			len(msgs), msgs[0].From, msgs[0].To, []string{admin, ops})
	}
	initial := mustParse(t, msgs[0])
	if want := "Migration batch b1: initial sync finished, Synced"; initial.Subject != want {
		t.Errorf("subject %q; want %q", initial.Subject, want)
	}
	if got := initial.Header.Get("To"); !strings.Contains(got, admin) || !strings.Contains(got, ops) {
		t.Errorf("To: %s; want both notification addresses", got)
	}
	csv := b.apiGet("/api/v1/batches/b1/report?format=csv")
	if got := initial.Attachments["b1-report.csv"]; string(got) != string(csv) {
		t.Errorf("attached b1-report.csv:\n%s\nwant the API's CSV report:\n%s", got, csv)
	}
	for i := 1; i <= 3; i++ {
		u := b.user(fmt.Sprintf("u%02d", i))
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^u%02d@example\.com +Synced +%d +0 +0 `, i, u.ItemsSynced))
		if !row.MatchString(initial.Text) {
			t.Errorf("the report's table has no row for u%02d with %d items synced:\n%s", i, u.ItemsSynced, initial.Text)
		}
	}
	ns, err := b.svc.Notifications(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Event != "initial_sync" || ns[0].State != "sent" || ns[0].MessageID != initial.MessageID ||
		ns[0].Response != msgs[0].Response || ns[0].Attempts != 1 || !slices.Equal(ns[0].Recipients, []string{admin, ops}) {
		t.Fatalf("notifications %+v; want the initial_sync report, sent once, with Message-ID %s and the server's answer %q",
			ns, initial.MessageID, msgs[0].Response)
	}

	// A clean incremental round: no report.
	if _, err := b.svc.SyncNow(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitLog(regexp.MustCompile(`msg="Incremental round over\." batch=b1 round=1 users=3 users_with_errors=0`), time.Minute)
	if ns, _ := b.svc.Notifications(ctx, "b1"); len(ns) != 1 {
		t.Errorf("after a clean incremental round: %d reports; want still 1: %+v", len(ns), ns)
	}

	// A round in which u01's destination fills up: one report.
	more := testserver.Corpus(testserver.CorpusOptions{Seed: 100, Messages: 120, Folders: []string{"INBOX"}, MinSize: 2000, MaxSize: 4000})
	if err := testserver.Seed(ctx, b.src.Addr, "u01", b.password["u01"], more); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.SyncNow(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	msgs = smtpSrv.WaitMessages(t, 2, time.Minute)
	round := mustParse(t, msgs[1])
	if want := "Migration batch b1: incremental sync with errors (1 user)"; round.Subject != want || !slices.Equal(msgs[1].To, []string{admin, ops}) {
		t.Errorf("second report: %q to %v; want %q to both addresses", round.Subject, msgs[1].To, want)
	}
	if !strings.Contains(round.Text, "- u01@example.com (Blocked): blocked: destination over quota") {
		t.Errorf("the round's report does not name u01 as blocked:\n%s", round.Text)
	}
	if ns, _ := b.svc.Notifications(ctx, "b1"); len(ns) != 2 || ns[1].Event != "incremental_errors" || ns[1].Round != 2 || ns[1].State != "sent" {
		t.Errorf("notifications %+v; want the second an incremental_errors report of round 2, sent", ns)
	}

	// Completion: one report, and the welcome letters of the completed users.
	if _, err := b.svc.CompleteBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchCompleted)
	msgs = smtpSrv.WaitMessages(t, 5, time.Minute)
	reports := mailsTo(msgs, admin)
	if len(reports) != 3 {
		t.Fatalf("%d reports after completion; want 3", len(reports))
	}
	if got, want := mustParse(t, reports[2]).Subject, "Migration batch b1: completed (1 user with errors)"; got != want {
		t.Errorf("completion report: %q; want %q", got, want)
	}
	for user, want := range map[string]int{"u01@example.com": 0, "u02@example.com": 1, "u03@example.com": 1} {
		letters := mailsTo(msgs, user)
		if len(letters) != want {
			t.Errorf("%d welcome letter(s) to %s at completion; want %d (the Blocked user gets none)", len(letters), user, want)
			continue
		}
		if want == 1 {
			if got := mustParse(t, letters[0]).Subject; got != "Your mailbox "+user+" is moving to a new server" {
				t.Errorf("letter to %s: subject %q", user, got)
			}
		}
	}

	// Nothing more: each event once.
	time.Sleep(2 * time.Second)
	if n := len(smtpSrv.Messages()); n != 5 {
		t.Errorf("%d messages in the end; want 5: 3 reports and 2 letters", n)
	}
	ns, _ = b.svc.Notifications(ctx, "b1")
	var events []string
	for _, n := range ns {
		events = append(events, fmt.Sprintf("%s/%d/%s/%d", n.Event, n.Round, n.State, n.Attempts))
	}
	if want := []string{"initial_sync/0/sent/1", "incremental_errors/2/sent/1", "completed/0/sent/1"}; !slices.Equal(events, want) {
		t.Errorf("notifications %v; want %v", events, want)
	}
}

// startTuned starts one more service on the bundle's database, as
// `imapmigrate worker` beside serve (with Scheduler false), tuned as
// restartTuned's.
func startTuned(b *bundle, tune func(*service.Config)) *service.Service {
	b.t.Helper()
	key, err := secret.NewKey(testKey)
	if err != nil {
		b.t.Fatal(err)
	}
	cfg := service.Config{
		DB: b.db, Key: key, Workers: 4, Connections: 2, Scheduler: true,
		Poll: 100 * time.Millisecond, LeaseTTL: 3 * time.Second, JobSlice: time.Minute, ThrottleBackoff: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	tune(&cfg)
	svc, err := service.New(b.ctx, cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := svc.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { svc.Stop(5 * time.Second) })
	return svc
}

// TestReportSentOnceAcrossRestarts stops serve while a report is being
// sent (the SMTP server holds the sender at MAIL FROM), and again after a
// report was claimed but, as if the process had died at that moment,
// before its job was queued: after each restart the report goes out, once,
// with the Message-ID chosen at the claim.
func TestReportSentOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 3})
	smtpSrv := testserver.StartSMTP(t)
	smtpSrv.Hold()
	b.svc = withMail(b, smtpSrv)
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true, Options: service.BatchOptions{NotificationEmails: []string{admin}}}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", 2*time.Minute, service.BatchSynced)

	// stopMidSend waits for the report's sender to be held, stops serve,
	// and returns the report as recorded then.
	stopMidSend := func(n int) service.Notification {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for smtpSrv.Waiting() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no report being sent after a minute; logs:\n%s", b.logs.tail(40))
			}
			time.Sleep(20 * time.Millisecond)
		}
		ns, err := b.svc.Notifications(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != n || ns[n-1].State != "pending" {
			t.Fatalf("notifications while the report is being sent: %+v; want %d, the last pending", ns, n)
		}
		if err := b.svc.Stop(500 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return ns[n-1]
	}

	claimed := stopMidSend(1)
	smtpSrv.Release()
	if n := len(smtpSrv.Messages()); n != 0 {
		t.Fatalf("the SMTP server took %d message(s) from a sender stopped at MAIL FROM; want 0", n)
	}
	b.svc = withMail(b, smtpSrv)
	msgs := smtpSrv.WaitMessages(t, 1, time.Minute)
	if got := mustParse(t, msgs[0]); got.MessageID != claimed.MessageID || got.Subject != "Migration batch b1: initial sync finished, Synced" {
		t.Errorf("after the restart: %q with Message-ID %s; want the initial sync's report with the claimed %s", got.Subject, got.MessageID, claimed.MessageID)
	}

	// Completed: claimed, then serve "dies" before its job is queued.
	smtpSrv.Hold()
	if _, err := b.svc.CompleteBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	claimed = stopMidSend(2)
	if claimed.Event != "completed" {
		t.Fatalf("claimed %+v; want the completed report", claimed)
	}
	if _, err := b.db.SQL().ExecContext(ctx, `DELETE FROM river_job WHERE kind = 'notification' AND state <> 'completed'`); err != nil {
		t.Fatal(err)
	}
	smtpSrv.Release()
	b.svc = withMail(b, smtpSrv)
	msgs = smtpSrv.WaitMessages(t, 2, time.Minute)
	if got := mustParse(t, msgs[1]); got.MessageID != claimed.MessageID || got.Subject != "Migration batch b1: completed" {
		t.Errorf("after the second restart: %q with Message-ID %s; want the completion report with the claimed %s", got.Subject, got.MessageID, claimed.MessageID)
	}

	time.Sleep(2 * time.Second)
	if n := len(smtpSrv.Messages()); n != 2 {
		t.Errorf("the SMTP server took %d messages; want 2, each report once", n)
	}
	ns, err := b.svc.Notifications(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.State != "sent" || n.Attempts != 1 || n.Error != "" {
			t.Errorf("%s report: %s after %d attempt(s), error %q; want sent at the first attempt that reached the server", n.Event, n.State, n.Attempts, n.Error)
		}
	}
}
