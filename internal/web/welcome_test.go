package web

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestWelcomePanel: the batch page shows the welcome letters' settings,
// the first user's letter as a preview, a send button that queues the
// letters (again only when "resend" is ticked), and each user's last
// letter.
func TestWelcomePanel(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	if _, err := tb.fake.SetWelcome(ctx, "spring", service.WelcomeOptions{Language: "fr", AtCompletion: true}); err != nil {
		t.Fatal(err)
	}
	c := tb.signIn(t)
	page := c.get("/batches/spring").Body.String()
	for _, want := range []string{`<section id="welcome"`, `<dd id="welcome-letter">the default letter in fr</dd>`,
		`new.example.com port 993, tls`, `at completion, to the completed users`,
		`<summary>Preview: the letter to alice@example.com</summary>`,
		`<span id="welcome-preview-subject">Votre boîte aux lettres alice@example.com change de serveur</span>`,
		`<form method="post" action="/batches/spring/welcome/send"`, `id="welcome-resend" type="checkbox" name="resend"`,
		`<button id="welcome-send" type="submit">`, `<table id="welcome-letters">`,
		`<tr data-user="alice@example.com" data-letter="">`, `<td class="letter-state">not sent</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("batch page lacks %s", want)
		}
	}

	_, flash := c.follow(c.post("/batches/spring/welcome/send", nil))
	if !strings.Contains(flash, "2 welcome letter(s) queued") {
		t.Errorf("send: flash %q; want 2 queued", flash)
	}
	page = c.get("/batches/spring").Body.String()
	for _, want := range []string{`<tr data-user="bob@example.com" data-letter="sent">`, `<td class="letter-sends num">1</td>`,
		`<td class="letter-message-id">fake-1@example.com</td>`, `<td class="letter-said">2.0.0 OK</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("batch page after the send lacks %s", want)
		}
	}
	_, flash = c.follow(c.post("/batches/spring/welcome/send", nil))
	if !strings.Contains(flash, "0 welcome letter(s) queued") || !strings.Contains(flash, "2 user(s) skipped") {
		t.Errorf("send again: flash %q; want none queued, 2 skipped", flash)
	}
	_, flash = c.follow(c.post("/batches/spring/welcome/send", url.Values{"resend": {"1"}}))
	if !strings.Contains(flash, "2 welcome letter(s) queued") {
		t.Errorf("resend: flash %q; want 2 queued", flash)
	}
	if page = c.get("/batches/spring").Body.String(); !strings.Contains(page, `<td class="letter-sends num">2</td>`) {
		t.Errorf("after the resend, no user shows 2 letters sent")
	}

}
