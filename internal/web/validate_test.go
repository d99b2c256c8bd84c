package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestEndpointFormProfileAndOAuth adds an Office 365 endpoint from the
// console by profile, with an app-only OAuth login: the profile fills the
// server, the secret goes in once and never comes back, and the edit form
// says it is stored.
func TestEndpointFormProfileAndOAuth(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	const secret = "canary-oauth-client-secret-9d1"

	page := c.get("/endpoints").Body.String()
	for _, want := range []string{`<select id="ep-profile" name="profile"`, `data-host="outlook.office365.com"`,
		`<select id="ep-oauth-provider" name="oauth_provider"`, `id="ep-oauth-client-secret" name="oauth_client_secret" type="password"`,
		`id="ep-max-message-size" name="max_message_size"`} {
		if !strings.Contains(page, want) {
			t.Errorf("GET /endpoints has no %s", want)
		}
	}

	form := url.Values{"name": {"o365"}, "profile": {"office365"}, "security": {""}, "auth_mechanism": {"auto"},
		"credentials": {"per_user"}, "oauth_provider": {"microsoft"}, "oauth_tenant": {"contoso.onmicrosoft.com"},
		"oauth_client_id": {"app-7"}, "oauth_client_secret": {secret}, "max_message_size": {"20971520"}}
	list, flash := c.follow(c.post("/endpoints", form))
	ep, err := tb.fake.Endpoint(context.Background(), "o365")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Profile != "office365" || ep.Host != "" || ep.MaxMessageSize != 20<<20 || ep.OAuth == nil ||
		ep.OAuth.Provider != oauth.Microsoft || ep.OAuth.ClientID != "app-7" || !ep.OAuth.HasClientSecret {
		t.Errorf("added endpoint %+v, oauth %+v; want the profile, the size and the OAuth login", ep, ep.OAuth)
	}
	if !strings.Contains(flash, "Endpoint o365 added (outlook.office365.com:993, tls)") {
		t.Errorf("flash %q; want the profile's server", flash)
	}
	body := list.Body.String()
	if !strings.Contains(body, "outlook.office365.com:993 <span class=\"muted\">tls, profile office365</span>") ||
		!strings.Contains(body, "(microsoft, secret stored)") {
		t.Errorf("the endpoints page does not show the effective server and the OAuth login:\n%s", body)
	}

	edit := c.get("/endpoints/o365/edit").Body.String()
	for _, want := range []string{`<option value="office365" selected`, `<option value="microsoft" selected>`,
		`A secret is stored; leave empty to keep it.`, `id="ep-oauth-tenant" name="oauth_tenant" value="contoso.onmicrosoft.com"`,
		`id="ep-host" name="host" value=""`} {
		if !strings.Contains(edit, want) {
			t.Errorf("GET /endpoints/o365/edit has no %s", want)
		}
	}
	for _, p := range []string{body, edit} {
		if strings.Contains(p, secret) {
			t.Errorf("a page shows the client secret")
		}
	}
}

// TestValidateButton validates a batch from its page and finds each
// user's result there.
func TestValidateButton(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	if page := c.get("/batches/spring").Body.String(); !strings.Contains(page, `<button id="validate-batch" type="submit">`) ||
		strings.Contains(page, `<table id="validation">`) {
		t.Errorf("batch page before validation: want the Validate button and no results")
	}
	tb.fake.PutValidation("bob@example.com", service.Validation{Result: service.ValidationWarnings,
		Warnings: []string{`the destination's quota "User quota" leaves 60.0 KiB free, but the folders to copy hold 1.2 MiB`}})
	page, flash := c.follow(c.post("/batches/spring/validate", url.Values{"sample": {""}}))
	if !strings.Contains(flash, "Batch spring validated: 2 users, 1 ok, 1 with warnings, 0 with errors") {
		t.Errorf("flash %q; want the counts", flash)
	}
	body := page.Body.String()
	for _, want := range []string{`<table id="validation">`, `<tr data-validation="alice@example.com" class="validation-ok">`,
		`<tr data-validation="bob@example.com" class="validation-warnings">`, `<li class="warning">the destination&#39;s quota`} {
		if !strings.Contains(body, want) {
			t.Errorf("batch page after validation has no %s", want)
		}
	}
	if w := c.post("/batches/spring/validate", url.Values{"sample": {"some"}}); w.Code != http.StatusSeeOther {
		t.Errorf("validate with a bad sample = %d; want 303 back with the error", w.Code)
	} else if _, flash := c.follow(w); !strings.Contains(flash, "users to check: a number") {
		t.Errorf("flash %q; want the sample's problem", flash)
	}
}
