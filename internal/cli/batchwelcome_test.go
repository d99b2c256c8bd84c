package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestBatchWelcome drives `batch welcome` against the API over the fake
// service: settings laid over the stored ones, a preview in French, a
// send and what each user got, a second send refused without --resend,
// and the usage errors.
func TestBatchWelcome(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "users.csv", twoUsersCSV))

	out := rb.mustRun(t, "batch", "welcome", "spring")
	wantLines(t, "batch welcome (status)", out, "Letter:         the default letter in en", "IMAP server:    imap.new.example.com port 993, tls",
		"SMTP server:    - (not in the letter)", "Sent:           when you send them (--send)",
		"USER               LETTER  SENT  SENDS  MESSAGE-ID  SERVER SAID", "alice@example.com  -       -     0      -           -")

	note := rb.file(t, "note.txt", "Votre mot de passe arrive par SMS.\n")
	out = rb.mustRun(t, "batch", "welcome", "spring", "--lang", "fr", "--organization", "Service informatique", "--smtp-host", "smtp.new.example",
		"--message-file", note, "--at-completion")
	wantLines(t, "batch welcome (set)", out, `batch "spring": welcome letter settings saved`, "the default letter in fr",
		"Organization:   Service informatique", "SMTP server:    smtp.new.example port usual, starttls", "Message:        Votre mot de passe arrive par SMS.",
		"Sent:           at completion")
	// Only the flags given change.
	rb.mustRun(t, "batch", "welcome", "spring", "--smtp-port", "465", "--smtp-security", "tls")
	b, err := rb.fake.Batch(t.Context(), "spring")
	if err != nil {
		t.Fatal(err)
	}
	if w := b.Options.Welcome; w == nil || w.Language != "fr" || w.Organization != "Service informatique" || !w.AtCompletion ||
		w.SMTP == nil || *w.SMTP != (service.WelcomeServer{Host: "smtp.new.example", Port: 465, Security: "tls"}) || w.Message != "Votre mot de passe arrive par SMS." {
		t.Errorf("stored settings: %+v", w)
	}

	out = rb.mustRun(t, "batch", "welcome", "spring", "--preview", "--user", "bob@example.com")
	wantLines(t, "batch welcome --preview", out, "To: bob@example.com\nSubject: Votre boîte aux lettres bob@example.com change de serveur\n\nBonjour,",
		"Service informatique déplace votre boîte aux lettres bob@example.com", "Votre mot de passe arrive par SMS.")

	out = rb.mustRun(t, "batch", "welcome", "spring", "--send")
	wantLines(t, "batch welcome --send", out, "2 letter(s) queued", "alice@example.com  sent    2026-01-0", "fake-1@example.com  2.0.0 OK",
		"bob@example.com    sent")
	out = rb.mustRun(t, "batch", "welcome", "spring", "--send")
	wantLines(t, "batch welcome --send again", out, "skipped alice@example.com: already sent at 2026-01-02T03:04:05Z; resend to send it again",
		"skipped bob@example.com: already sent", "0 letter(s) queued")
	out = rb.mustRun(t, "batch", "welcome", "spring", "--send", "--user", "bob@example.com", "--resend", "--json")
	var res service.WelcomeSent
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Queued) != 1 || res.Queued[0] != "bob@example.com" {
		t.Errorf("batch welcome --send --resend --json: %s (%v); want bob queued", out, err)
	}
	out = rb.mustRun(t, "batch", "welcome", "spring", "--status")
	wantLines(t, "batch welcome --status", out, "alice@example.com  sent    2026-01-0", "  1      fake-1@example.com",
		"bob@example.com    sent    2026-01-0", "  2      fake-2@example.com")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"TwoModes", []string{"--preview", "--send"}, ExitUsage, "give one of --preview, --send, --status or settings flags"},
		{"SettingsAndSend", []string{"--send", "--lang", "fr"}, ExitUsage, "give one of"},
		{"ResendAlone", []string{"--resend"}, ExitUsage, "--resend goes with --send"},
		{"UserAlone", []string{"--user", "bob@example.com"}, ExitUsage, "--user goes with --preview or --send"},
		{"UnknownUser", []string{"--preview", "--user", "carol@example.com"}, ExitInternal, "not in batch"},
		{"BadTemplate", []string{"--template", rb.file(t, "bad.txt", "Subject: x\n{{.Adress}}\n")}, ExitUsage, "Adress"},
		{"NoBatch", []string{"--status"}, ExitInternal, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch := "spring"
			if tc.name == "NoBatch" {
				batch = "autumn"
			}
			code, _, errOut := rb.run(append([]string{"batch", "welcome", batch}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("batch welcome %s %v: exit %d, %q; want exit %d and %q", batch, tc.args, code, errOut, tc.code, tc.want)
			}
		})
	}
}
