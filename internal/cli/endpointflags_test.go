package cli

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestEndpointProfileAndOAuthFlags adds an Office 365 endpoint by profile
// with an app-only OAuth login, shows it, changes it with set, and checks
// what reached the service: the settings given and nothing else, the
// secret from its file (never printed), the profile's values in effect.
func TestEndpointProfileAndOAuthFlags(t *testing.T) {
	rb := setupRemote(t)
	t.Setenv(oauthClientSecretEnv, "")
	const secret = "Cl1ent~Secret-From-File"
	secretFile := rb.file(t, "app.secret", secret+"\n")
	out := rb.mustRun(t, "endpoint", "add", "o365", "--profile", "office365", "--oauth", "microsoft", "--tenant", "contoso.onmicrosoft.com",
		"--client-id", "app-42", "--client-secret-file", secretFile)
	wantLines(t, "endpoint add", out, `endpoint "o365" added: outlook.office365.com:993 tls, credentials oauth`)

	ep, err := rb.fake.Endpoint(context.Background(), "o365")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Host != "" || ep.Port != 0 || ep.MaxConcurrentMigrations != 0 || ep.OAuth == nil || ep.OAuth.Provider != oauth.Microsoft ||
		ep.OAuth.Tenant != "contoso.onmicrosoft.com" || ep.OAuth.ClientID != "app-42" || !ep.OAuth.HasClientSecret {
		t.Errorf("stored endpoint %+v, oauth %+v; want the profile left to fill the server and caps, and the OAuth settings given", ep, ep.OAuth)
	}
	if got := rb.fake.Secrets(); !slices.Contains(got, secret) {
		t.Errorf("secrets given to the service %q; want the client secret from its file, without its line end", got)
	}

	show := rb.mustRun(t, "endpoint", "show", "o365")
	wantLines(t, "endpoint show", show, "Endpoint o365 (profile office365)",
		"Server:            outlook.office365.com:993 (profile), tls (profile)",
		"Login:             OAuth microsoft, tenant contoso.onmicrosoft.com, client app-42, client secret stored; mechanism",
		"Mailboxes at once: 20 (profile)", "(the server's cap: 20)", "Largest message:   35.0 MiB (profile)",
		"kept for itself (a source folder so named goes to NAME (imported)): Files")
	if strings.Contains(show+out, secret) {
		t.Errorf("the client secret was printed:\n%s%s", out, show)
	}

	// set changes what it is given and keeps the rest.
	rb.mustRun(t, "endpoint", "set", "o365", "--max-concurrent-migrations", "5", "--token-url", "https://login.microsoftonline.us/contoso/oauth2/v2.0/token")
	ep, _ = rb.fake.Endpoint(context.Background(), "o365")
	if ep.MaxConcurrentMigrations != 5 || ep.Profile != "office365" || ep.OAuth.ClientID != "app-42" ||
		!strings.Contains(ep.OAuth.TokenURL, "microsoftonline.us") || ep.Effective.MaxConcurrentMigrations != 5 {
		t.Errorf("after set: %+v, oauth %+v; want the cap and token URL changed, the rest kept", ep, ep.OAuth)
	}
	rb.mustRun(t, "endpoint", "set", "o365", "--oauth", "none", "--credentials", "admin", "--admin-user", "migrator",
		"--admin-password-file", rb.file(t, "adm.pw", "adm1n\n"))
	ep, _ = rb.fake.Endpoint(context.Background(), "o365")
	if ep.OAuth != nil || ep.Credentials != service.CredentialsAdmin || ep.Effective.AdminFormat != "authzid" {
		t.Errorf("after --oauth none: %+v; want admin credentials in the profile's format", ep)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"endpoint", "add", "x", "--host", "h", "--tenant", "t"}, "--tenant needs an OAuth login: give --oauth"},
		{[]string{"endpoint", "add", "x", "--host", "h", "--oauth", "yahoo"}, "--oauth: parse oauth provider"},
		{[]string{"endpoint", "add", "x", "--host", "h", "--max-message-size", "big"}, "--max-message-size:"},
	} {
		code, _, errOut := rb.run(tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("imapmigrate %s = exit %d, %q; want %d with %q", strings.Join(tc.args, " "), code, errOut, ExitUsage, tc.want)
		}
	}
}

// TestBatchValidateCommand prints a batch's validation, and exits 5 when
// a user cannot migrate.
func TestBatchValidateCommand(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV))

	out := rb.mustRun(t, "batch", "validate", "spring")
	wantLines(t, "batch validate", out, "Batch spring: 2 users validated: 2 ok, 0 with warnings, 0 with errors", "alice@example.com  ok")

	free := int64(60 << 10)
	rb.fake.PutValidation("bob@example.com", service.Validation{Result: service.ValidationErrors,
		Errors:   []string{"the destination server refused the login of bob@example.com: the mailbox may not exist yet"},
		Warnings: []string{"3 messages are larger than 35.0 MiB"}, Messages: 12, Bytes: 3 << 20, QuotaFree: &free})
	code, out, errOut := rb.run("batch", "validate", "spring")
	if code != ExitPartial || !strings.Contains(errOut, "1 of the 2 users validated cannot migrate") {
		t.Errorf("batch validate with an error = exit %d, %q; want %d", code, errOut, ExitPartial)
	}
	wantLines(t, "batch validate", out, "1 ok, 0 with warnings, 1 with errors",
		"bob@example.com: error: the destination server refused the login of bob@example.com",
		"bob@example.com: warning: 3 messages are larger than 35.0 MiB", "60.0 KiB")
	if code, out, _ := rb.run("batch", "validate", "spring", "--show"); code != ExitPartial || !strings.Contains(out, "1 with errors") {
		t.Errorf("batch validate --show = exit %d:\n%s\nwant the stored results", code, out)
	}
}
