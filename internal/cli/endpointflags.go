package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/provider"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// endpointFlags are the settings of `endpoint add` and `endpoint set`.
// Only the flags given change anything: `set` changes those and keeps the
// rest, and `add` with --profile leaves the rest to the profile. Secrets
// come from files or the environment, never from a flag's value, which
// anyone on the machine can read in the process list.
type endpointFlags struct {
	ep      service.Endpoint
	pwFile  string
	maxSize string
	// OAuth 2.0 (package oauth): --oauth names the provider.
	provider, tenant, clientID, tokenURL, scope string
	secretFile, certFile, keyFile               string
}

// Environment variables for secrets not given as files.
const (
	adminPasswordEnv     = "IMAPMIGRATE_ADMIN_PASSWORD"
	oauthClientSecretEnv = "IMAPMIGRATE_OAUTH_CLIENT_SECRET"
)

func (ef *endpointFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&ef.ep.Profile, "profile", "", "the kind of server, whose defaults apply to what is not given: "+strings.Join(provider.Names(), ", ")+" (default generic)")
	f.StringVar(&ef.ep.Host, "host", "", "server host name (required, unless the --profile names the server)")
	f.IntVar(&ef.ep.Port, "port", 0, "server port (default 993, or the profile's)")
	f.StringVar(&ef.ep.Security, "security", "", "tls (implicit TLS), starttls or none (default tls, or the profile's)")
	f.StringVar(&ef.ep.AuthMechanism, "auth-mechanism", "", "auto (SASL PLAIN when offered, else LOGIN), plain or login; with --oauth: auto (OAUTHBEARER when offered, else XOAUTH2), xoauth2 or oauthbearer (default auto)")
	f.StringVar(&ef.ep.Credentials, "credentials", "", "per_user (logins from the CSV file) or admin (default per_user; oauth with --oauth)")
	f.StringVar(&ef.ep.AdminFormat, "admin-format", "", "how the admin logs in for a user: authzid, dovecot, exchange or template (default the profile's, else authzid)")
	f.StringVar(&ef.ep.AdminTemplate, "admin-template", "", `login name for --admin-format template, e.g. "{user}*{admin}"`)
	f.StringVar(&ef.ep.AdminUser, "admin-user", "", "admin login name")
	f.StringVar(&ef.ep.AdminDomain, "admin-domain", "", "Windows domain of an exchange admin login")
	f.StringVar(&ef.pwFile, "admin-password-file", "", "file holding the admin password (or env "+adminPasswordEnv+")")
	f.StringVar(&ef.ep.CAFile, "ca-file", "", "PEM file of certificate authorities to trust (private CA, self-signed), as a path on the server")
	f.BoolVar(&ef.ep.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (unsafe)")
	f.StringVar(&ef.ep.CertSHA256, "cert-sha256", "", "trust only the server certificate with this SHA-256 fingerprint, as openssl x509 -fingerprint -sha256 prints it (self-signed; the safe alternative to --insecure-skip-verify)")
	f.IntVar(&ef.ep.MaxConcurrentMigrations, "max-concurrent-migrations", 0, "mailboxes migrated through this server at once (default 20, or the profile's)")
	f.IntVar(&ef.ep.MaxConcurrentIncrementalSyncs, "max-concurrent-incremental-syncs", 0, "incremental syncs among them (default 10, at most the above)")
	f.StringVar(&ef.maxSize, "max-message-size", "", "largest message copied to this server as a destination: bytes or with a unit (35MiB); default the profile's, 35 MiB for most")
	f.StringVar(&ef.provider, "oauth", "", "log every user in with an OAuth 2.0 token instead of a password: microsoft (Office 365 app-only), google (service account with domain-wide delegation) or refresh (each user's refresh token, from the CSV); none removes it")
	f.StringVar(&ef.tenant, "tenant", "", "microsoft: the tenant (directory) ID or domain")
	f.StringVar(&ef.clientID, "client-id", "", "microsoft and refresh: the application (client) ID")
	f.StringVar(&ef.secretFile, "client-secret-file", "", "file holding the client secret (or env "+oauthClientSecretEnv+")")
	f.StringVar(&ef.certFile, "cert-file", "", "microsoft: the PEM certificate registered with the application, used instead of a client secret with --key-file")
	f.StringVar(&ef.keyFile, "key-file", "", "microsoft: the certificate's PEM private key; google: the service account's JSON key file")
	f.StringVar(&ef.tokenURL, "token-url", "", "token endpoint (default: Microsoft's global cloud for the tenant, the key file's for google, Google's for refresh)")
	f.StringVar(&ef.scope, "scope", "", "scope asked for (default https://outlook.office365.com/.default for microsoft, https://mail.google.com/ for google)")
}

// spec lays the flags given over base (the endpoint as it is, for set;
// for add, the defaults a plain `endpoint add` always had, or nothing
// with --profile). Errors are usage errors.
func (ef *endpointFlags) spec(cmd *cobra.Command, base service.Endpoint) (service.EndpointSpec, error) {
	changed := cmd.Flags().Changed
	spec := service.EndpointSpec{Endpoint: base}
	e := &spec.Endpoint
	e.Effective = nil
	for _, s := range []struct {
		flag string
		to   *string
		v    string
	}{
		{"profile", &e.Profile, ef.ep.Profile}, {"host", &e.Host, ef.ep.Host}, {"security", &e.Security, ef.ep.Security},
		{"auth-mechanism", &e.AuthMechanism, ef.ep.AuthMechanism}, {"credentials", &e.Credentials, ef.ep.Credentials},
		{"admin-format", &e.AdminFormat, ef.ep.AdminFormat}, {"admin-template", &e.AdminTemplate, ef.ep.AdminTemplate},
		{"admin-user", &e.AdminUser, ef.ep.AdminUser}, {"admin-domain", &e.AdminDomain, ef.ep.AdminDomain},
		{"ca-file", &e.CAFile, ef.ep.CAFile}, {"cert-sha256", &e.CertSHA256, ef.ep.CertSHA256},
	} {
		if changed(s.flag) {
			*s.to = s.v
		}
	}
	for _, n := range []struct {
		flag string
		to   *int
		v    int
	}{
		{"port", &e.Port, ef.ep.Port}, {"max-concurrent-migrations", &e.MaxConcurrentMigrations, ef.ep.MaxConcurrentMigrations},
		{"max-concurrent-incremental-syncs", &e.MaxConcurrentIncrementalSyncs, ef.ep.MaxConcurrentIncrementalSyncs},
	} {
		if changed(n.flag) {
			*n.to = n.v
		}
	}
	if changed("insecure-skip-verify") {
		e.InsecureSkipVerify = ef.ep.InsecureSkipVerify
	}
	if changed("max-message-size") {
		n, err := size.Parse(ef.maxSize)
		if err != nil {
			return spec, fmt.Errorf("--max-message-size: %w", err)
		}
		e.MaxMessageSize = n
	}
	pw, err := passwordFrom("admin-password-file", ef.pwFile, adminPasswordEnv)
	if err != nil {
		return spec, err
	}
	spec.AdminPassword = pw
	return spec, ef.oauth(cmd, &spec)
}

// oauth applies the OAuth flags to spec: --oauth sets or removes the
// login, the other flags change its settings and give its secrets.
func (ef *endpointFlags) oauth(cmd *cobra.Command, spec *service.EndpointSpec) error {
	changed := cmd.Flags().Changed
	e := &spec.Endpoint
	if changed("oauth") {
		switch p := strings.ToLower(strings.TrimSpace(ef.provider)); {
		case p == "none" || p == "":
			if e.OAuth != nil && !changed("credentials") {
				e.Credentials = service.CredentialsPerUser
			}
			e.OAuth = nil
		case e.OAuth == nil || !strings.EqualFold(string(e.OAuth.Provider), p):
			parsed, err := oauth.ParseProvider(p)
			if err != nil {
				return fmt.Errorf("--oauth: %w", err)
			}
			e.OAuth = &service.EndpointOAuth{Config: oauth.Config{Provider: parsed}}
		}
	}
	oauthFlags := []string{"tenant", "client-id", "token-url", "scope", "client-secret-file", "cert-file", "key-file"}
	if e.OAuth == nil {
		for _, f := range oauthFlags {
			if changed(f) {
				return fmt.Errorf("--%s needs an OAuth login: give --oauth", f)
			}
		}
		return nil
	}
	o := &e.OAuth.Config
	for _, s := range []struct {
		flag string
		to   *string
		v    string
	}{{"tenant", &o.Tenant, ef.tenant}, {"client-id", &o.ClientID, ef.clientID}, {"token-url", &o.TokenURL, ef.tokenURL}, {"scope", &o.Scope, ef.scope}} {
		if changed(s.flag) {
			*s.to = s.v
		}
	}
	secret, err := passwordFrom("client-secret-file", ef.secretFile, oauthClientSecretEnv)
	if err != nil {
		return err
	}
	spec.OAuthClientSecret = secret
	if ef.certFile != "" {
		cert, err := os.ReadFile(ef.certFile)
		if err != nil {
			return fmt.Errorf("--cert-file: %w", err)
		}
		o.Certificate = string(cert)
	}
	if ef.keyFile != "" {
		key, err := os.ReadFile(ef.keyFile)
		if err != nil {
			return fmt.Errorf("--key-file: %w", err)
		}
		if o.Provider == oauth.Google {
			spec.OAuthServiceAccountKey = string(key)
		} else {
			spec.OAuthPrivateKey = string(key)
		}
	}
	return nil
}

const endpointSetHelp = `Change an endpoint: only the flags given change; the rest, and the stored
admin password and OAuth secrets, stay as they are (a secret given again
replaces the stored one). --profile generic drops the profile; --oauth
none goes back to passwords. Running syncs pick the change up at their
next job slice.`

func newEndpointSetCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var ef endpointFlags
	cmd := &cobra.Command{
		Use:     "set NAME",
		Short:   "Change an endpoint's settings",
		Long:    endpointSetHelp,
		Example: "  imapmigrate endpoint set o365 --profile office365 --oauth microsoft --tenant contoso.onmicrosoft.com \\\n    --client-id 6f1c... --client-secret-file app.secret",
		Args:    cobra.ExactArgs(1),
	}
	ef.register(cmd)
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		old, err := rc.Endpoint(ctx, args[0])
		if err != nil {
			return err
		}
		spec, err := ef.spec(cmd, *old)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		ep, err := rc.UpdateEndpoint(ctx, args[0], spec)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(ep)
		}
		printEndpoint(stdout, ep)
		return nil
	})
	return cmd
}

func newEndpointShowCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an endpoint's settings, as set and in effect",
		Long: `Show an endpoint: each setting in effect, and whether it was set on the
endpoint or comes from its provider profile. Secrets are never shown, only
whether one is stored.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		ep, err := rc.Endpoint(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(ep)
		}
		printEndpoint(stdout, ep)
		return nil
	})
	return cmd
}

// printEndpoint shows an endpoint's settings in effect, each marked
// "(profile)" when the profile gave it.
func printEndpoint(w io.Writer, ep *service.Endpoint) {
	eff := ep.Effective
	if eff == nil {
		eff = &service.EndpointSettings{Host: ep.Host, Port: ep.Port, Security: ep.Security, AdminFormat: ep.AdminFormat,
			MaxConcurrentMigrations: ep.MaxConcurrentMigrations, MaxConcurrentIncrementalSyncs: ep.MaxConcurrentIncrementalSyncs}
	}
	from := func(set bool) string {
		if set || ep.Profile == "" {
			return ""
		}
		return " (profile)"
	}
	profile := ep.Profile
	if profile == "" {
		profile = "generic"
	}
	fmt.Fprintf(w, "Endpoint %s (profile %s)\n", clean(ep.Name), clean(profile))
	sec := eff.Security
	switch {
	case ep.InsecureSkipVerify:
		sec += ", certificate not verified"
	case ep.CertSHA256 != "":
		sec += ", certificate pinned"
	case ep.CAFile != "":
		sec += ", CA " + clean(ep.CAFile)
	}
	fmt.Fprintf(w, "  Server:            %s:%d%s, %s%s\n", clean(eff.Host), eff.Port, from(ep.Host != ""), clean(sec), from(ep.Security != ""))
	login := "per user (from the CSV)"
	switch {
	case ep.OAuth != nil:
		o := ep.OAuth
		login = "OAuth " + string(o.Provider)
		for _, part := range []struct{ label, v string }{{"tenant", o.Tenant}, {"client", o.ClientID}, {"token URL", o.TokenURL}, {"scope", o.Scope}} {
			if part.v != "" {
				login += ", " + part.label + " " + clean(part.v)
			}
		}
		for _, s := range []struct {
			label string
			has   bool
		}{{"client secret", o.HasClientSecret}, {"certificate key", o.HasPrivateKey}, {"service account key", o.HasServiceAccountKey}} {
			if s.has {
				login += ", " + s.label + " stored"
			}
		}
		if o.Certificate != "" {
			login += ", certificate given"
		}
		if o.Provider == oauth.Refresh {
			login += " (each user's refresh token from the CSV)"
		}
	case ep.Credentials == service.CredentialsAdmin:
		login = fmt.Sprintf("admin %s, format %s%s", orDash(ep.AdminUser), clean(eff.AdminFormat), from(ep.AdminFormat != ""))
		if ep.HasAdminPassword {
			login += ", password stored"
		}
	}
	fmt.Fprintf(w, "  Login:             %s; mechanism %s\n", login, clean(ep.AuthMechanism))
	fmt.Fprintf(w, "  Mailboxes at once: %d%s, of which incremental %d\n", eff.MaxConcurrentMigrations, from(ep.MaxConcurrentMigrations != 0),
		eff.MaxConcurrentIncrementalSyncs)
	limit := ""
	if eff.ServerConnectionCap > 0 {
		limit = fmt.Sprintf(" (the server's cap: %d)", eff.ServerConnectionCap)
	}
	fmt.Fprintf(w, "  Connections:       at most %d per mailbox%s; now %d as a source, %d as a destination\n",
		eff.ConnectionsPerMailbox, limit, ep.SourceConnections, ep.DestConnections)
	fmt.Fprintf(w, "  Largest message:   %s%s\n", size.Format(eff.MaxMessageSize), from(ep.MaxMessageSize != 0))
	if eff.DailyDownload > 0 || eff.DailyUpload > 0 {
		fmt.Fprintf(w, "  Daily budget:      %s down, %s up (profile)\n", size.Format(eff.DailyDownload), size.Format(eff.DailyUpload))
	}
	asSource := "calendar, contacts and similar folders skipped"
	if !eff.Groupware {
		asSource = "no groupware: every folder is mail"
	}
	if len(eff.NonMailFolders) > 0 {
		asSource += "; also skipped: " + clean(strings.Join(eff.NonMailFolders, ", "))
	}
	asDest := "folder names compared without case"
	if eff.CaseSensitiveFolders {
		asDest = "case-sensitive folder names"
	}
	if len(eff.ReservedFolders) > 0 {
		asDest += "; kept for itself (a source folder so named goes to NAME (imported)): " + clean(strings.Join(eff.ReservedFolders, ", "))
	}
	fmt.Fprintf(w, "  As a source:       %s\n", asSource)
	fmt.Fprintf(w, "  As a destination: %s\n", asDest)
}
