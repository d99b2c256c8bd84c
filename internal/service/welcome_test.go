package service_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestWelcomeLetters previews and sends a batch's welcome letters in
// French: each user gets their own letter (recipient, subject, the new
// servers and their login) with the Message-ID the record shows; a second
// send is refused without resend; a resend reaches only the user asked
// for; a recipient the SMTP server refuses is recorded as failed for that
// user, at once, while the others are sent. The record is checked through
// the REST API too.
func TestWelcomeLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3})
	smtpSrv := testserver.StartSMTP(t)
	b.svc = withMail(b, smtpSrv)
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil)}); err != nil {
		t.Fatal(err)
	}

	// A template with a misspelt field is refused with its line; nothing
	// is stored.
	_, err := b.svc.SetWelcome(ctx, "b1", service.WelcomeOptions{Template: "Subject: Hello\n\nDear {{.Adress}},\n"})
	if !errors.Is(err, service.ErrInvalid) || !strings.Contains(err.Error(), "custom:3") || !strings.Contains(err.Error(), "Adress") {
		t.Errorf("SetWelcome with {{.Adress}}: %v; want an invalid-input error naming line 3 and the field", err)
	}
	opts := service.WelcomeOptions{
		Language: "fr", Organization: "Service informatique",
		Message: "Votre nouveau mot de passe vous sera remis par votre correspondant.",
		SMTP:    &service.WelcomeServer{Host: "smtp.new.example", Security: "starttls"}, WebmailURL: "https://webmail.new.example/",
	}
	if _, err := b.svc.SetWelcome(ctx, "b1", opts); err != nil {
		t.Fatal(err)
	}

	dstHost, dstPort, _ := strings.Cut(b.dst.Addr, ":")
	wantBody := func(user string) []string {
		return []string{
			"Service informatique déplace votre boîte aux lettres " + user + "@example.com vers un",
			opts.Message,
			"  Serveur :            " + dstHost + "\n  Port :               " + dstPort + "\n  Sécurité :           Aucune\n  Nom d'utilisateur :  " + user + "@example.com\n",
			"  Serveur :            smtp.new.example\n  Port :               587\n  Sécurité :           STARTTLS\n",
			"https://webmail.new.example/",
			"Votre nom d'utilisateur sur l'ancien serveur était " + user + " ;",
		}
	}
	subject := func(user string) string { return "Votre boîte aux lettres " + user + "@example.com change de serveur" }

	p, err := b.svc.PreviewWelcome(ctx, "b1", service.WelcomeRequest{User: "U02@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if p.To != "u02@example.com" || p.Subject != subject("u02") {
		t.Errorf("preview to %s: %q; want to u02@example.com: %q", p.To, p.Subject, subject("u02"))
	}
	for _, want := range wantBody("u02") {
		if !strings.Contains(p.Body, want) {
			t.Errorf("preview lacks %q:\n%s", want, p.Body)
		}
	}
	if len(smtpSrv.Messages()) != 0 {
		t.Fatal("a preview sent mail")
	}

	sent, err := b.svc.SendWelcome(ctx, "b1", service.WelcomeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"u01@example.com", "u02@example.com", "u03@example.com"}
	if !slices.Equal(sent.Queued, users) || len(sent.Skipped) != 0 {
		t.Fatalf("SendWelcome: %+v; want the 3 users queued", sent)
	}
	msgs := smtpSrv.WaitMessages(t, 3, time.Minute)
	st := b.waitLetters("b1", func(l service.WelcomeLetter) bool { return l.State == "sent" })
	for i, l := range st.Letters {
		user := fmt.Sprintf("u%02d", i+1)
		got := mailsTo(msgs, l.Address)
		if len(got) != 1 {
			t.Errorf("%d letters to %s; want 1", len(got), l.Address)
			continue
		}
		m := mustParse(t, got[0])
		if !slices.Equal(got[0].To, []string{l.Address}) || m.Header.Get("To") != "<"+l.Address+">" || m.Subject != subject(user) {
			t.Errorf("letter to %v (To: %s): %q; want only to %s: %q", got[0].To, m.Header.Get("To"), m.Subject, l.Address, subject(user))
		}
		for _, want := range wantBody(user) {
			if !strings.Contains(m.Text, want) {
				t.Errorf("letter to %s lacks %q:\n%s", l.Address, want, m.Text)
			}
		}
		if l.MessageID != m.MessageID || l.Response != got[0].Response || l.Sends != 1 || l.Attempts != 1 || l.Sent == nil || l.Subject != m.Subject {
			t.Errorf("record of %s: %+v; want sent once with Message-ID %s, the server's %q", l.Address, l, m.MessageID, got[0].Response)
		}
	}

	// Again, without resend: nobody.
	sent, err = b.svc.SendWelcome(ctx, "b1", service.WelcomeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Queued) != 0 || len(sent.Skipped) != 3 || !strings.HasPrefix(sent.Skipped[0].Reason, "already sent at ") {
		t.Errorf("a second SendWelcome: %+v; want all 3 skipped as already sent", sent)
	}
	// Resend to one user.
	sent, err = b.svc.SendWelcome(ctx, "b1", service.WelcomeRequest{User: "u01@example.com", Resend: true})
	if err != nil || !slices.Equal(sent.Queued, users[:1]) {
		t.Fatalf("resend to u01: %+v, %v; want u01 queued", sent, err)
	}
	msgs = smtpSrv.WaitMessages(t, 4, time.Minute)
	if !slices.Equal(msgs[3].To, users[:1]) {
		t.Errorf("the resent letter went to %v; want %v", msgs[3].To, users[:1])
	}
	if _, err := b.svc.SendWelcome(ctx, "b1", service.WelcomeRequest{User: "nobody@example.com"}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("SendWelcome to a user not in the batch: %v; want not found", err)
	}

	// The server refuses u03: recorded for u03, at the first attempt; the
	// others are sent.
	smtpSrv.Refuse("u03@example.com")
	if sent, err = b.svc.SendWelcome(ctx, "b1", service.WelcomeRequest{Resend: true}); err != nil || len(sent.Queued) != 3 {
		t.Fatalf("resend to all: %+v, %v; want 3 queued", sent, err)
	}
	st = b.waitLetters("b1", func(l service.WelcomeLetter) bool { return l.State != "queued" })
	want := map[string]struct {
		state string
		sends int
	}{"u01@example.com": {"sent", 3}, "u02@example.com": {"sent", 2}, "u03@example.com": {"failed", 1}}
	for _, l := range st.Letters {
		w := want[l.Address]
		if l.State != w.state || l.Sends != w.sends || l.Attempts != 1 {
			t.Errorf("%s: %s, %d sent, %d attempt(s), error %q; want %s, %d sent, 1 attempt", l.Address, l.State, l.Sends, l.Attempts, l.Error, w.state, w.sends)
		}
	}
	u3 := st.Letters[2]
	for _, want := range []string{"u03@example.com", smtpAddr(smtpSrv), "550", "No such user here"} {
		if !strings.Contains(u3.Error, want) {
			t.Errorf("u03's error %q does not say %q", u3.Error, want)
		}
	}
	time.Sleep(time.Second)
	if n := len(smtpSrv.Messages()); n != 6 {
		t.Errorf("the SMTP server took %d letters; want 6", n)
	}

	// The record through the REST API.
	var viaAPI service.WelcomeStatus
	if err := json.Unmarshal(b.apiGet("/api/v1/batches/b1/welcome"), &viaAPI); err != nil {
		t.Fatal(err)
	}
	if len(viaAPI.Letters) != 3 || viaAPI.Letters[2].State != "failed" || viaAPI.Letters[0].Sends != 3 ||
		viaAPI.Options.Language != "fr" || !viaAPI.MailConfigured || viaAPI.IMAP.Host != dstHost {
		t.Errorf("GET /api/v1/batches/b1/welcome: %+v", viaAPI)
	}
}

// waitLetters waits until every user's last letter satisfies done.
func (b *bundle) waitLetters(batch string, done func(service.WelcomeLetter) bool) *service.WelcomeStatus {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := b.svc.Welcome(b.ctx, batch)
		if err != nil {
			b.t.Fatal(err)
		}
		if !slices.ContainsFunc(st.Letters, func(l service.WelcomeLetter) bool { return !done(l) }) {
			return st
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("welcome letters after a minute: %+v\nlogs:\n%s", st.Letters, b.logs.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// smtpAddr is host:port of srv, as the service's errors name it.
func smtpAddr(srv *testserver.SMTP) string { return fmt.Sprintf("%s:%d", srv.Host, srv.Port) }
