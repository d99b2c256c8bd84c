package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

const endpointHelp = `Manage the IMAP servers that batches migrate from and to.

An endpoint is one server with its connection settings and, optionally, an
admin login that can open every user's mailbox, so the CSV file of a batch
needs no passwords. The admin password goes in from a file
(--admin-password-file) or the environment (IMAPMIGRATE_ADMIN_PASSWORD),
is stored encrypted, and is never shown again.

These commands talk to a running server (imapmigrate serve); see --server
and --data.`

func newEndpointCmd(stdout, stderr io.Writer) *cobra.Command {
	rf := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "Manage the IMAP servers batches migrate between",
		Long:  endpointHelp,
		Args:  cobra.NoArgs,
		RunE:  showHelp,
	}
	rf.register(cmd)
	cmd.AddCommand(
		newEndpointAddCmd(rf, stdout, stderr),
		newEndpointSetCmd(rf, stdout, stderr),
		newEndpointShowCmd(rf, stdout, stderr),
		newEndpointTestCmd(rf, stdout, stderr),
		newEndpointListCmd(rf, stdout, stderr),
		newEndpointRemoveCmd(rf, stdout, stderr),
	)
	return cmd
}

const endpointAddHelp = `Add an IMAP server as an endpoint.

With --credentials per_user (the default), each user logs in with the
UserName and Password of the batch's CSV file. With --credentials admin,
one admin logs in for every user; --admin-format says how the server
expects it:
  authzid   SASL PLAIN with the user as authorization identity (Dovecot,
            Cyrus, Zimbra; the most widely supported)
  dovecot   the login "user*admin" (Dovecot master users)
  exchange  the login "Domain/Admin/User" (Exchange)
  template  --admin-template, with {user}, {admin} and {domain} replaced

The admin password is read from --admin-password-file or from
IMAPMIGRATE_ADMIN_PASSWORD, never from the command line.

--profile names the kind of server (gmail, office365, exchange, dovecot,
...; see imapmigrate sync --help): its defaults fill what is not given,
the server of a hosted service included, and bring its connection figures,
its largest message and its folder rules. endpoint show prints what is in
effect.

--oauth logs every user in with an OAuth 2.0 token (SASL OAUTHBEARER or
XOAUTH2) instead of a password:
  microsoft  Office 365 app-only: --tenant, --client-id, and
             --client-secret-file (or IMAPMIGRATE_OAUTH_CLIENT_SECRET), or
             a certificate: --cert-file with its --key-file. One token
             serves every mailbox.
  google     Google Workspace: the service account's JSON key as
             --key-file (domain-wide delegation); one token per mailbox.
  refresh    consumer accounts: --client-id (and the client's secret, if
             it has one); each user's refresh token comes from the CSV's
             RefreshToken (source) or DestinationRefreshToken column.
--token-url replaces the token endpoint (sovereign clouds). The secrets
are stored encrypted and never shown again.

--max-concurrent-migrations caps the mailboxes migrated through this
server at once across all workers, and --max-concurrent-incremental-syncs
the incremental syncs among them, as Exchange Online's migration endpoints
do; lower them for a server that throttles.`

const endpointAddExample = `  imapmigrate endpoint add old --host imap.old.example.com
  IMAPMIGRATE_ADMIN_PASSWORD=... imapmigrate endpoint add new --host imap.new.example.com \
    --credentials admin --admin-format dovecot --admin-user migrator
  imapmigrate endpoint add o365 --profile office365 --oauth microsoft \
    --tenant contoso.onmicrosoft.com --client-id 6f1c... --client-secret-file app.secret`

func newEndpointAddCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var ef endpointFlags
	cmd := &cobra.Command{
		Use:     "add NAME",
		Short:   "Add an IMAP server",
		Long:    endpointAddHelp,
		Example: endpointAddExample,
		Args:    cobra.ExactArgs(1),
	}
	ef.register(cmd)
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		// Without a profile, the defaults endpoint add always had; with
		// one, what is not given is the profile's.
		base := service.Endpoint{Port: 993, Security: "tls", AuthMechanism: "auto", Credentials: service.CredentialsPerUser,
			MaxConcurrentMigrations: 20, MaxConcurrentIncrementalSyncs: 10}
		if cmd.Flags().Changed("profile") {
			base = service.Endpoint{}
		}
		base.Name = args[0]
		spec, err := ef.spec(cmd, base)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		if spec.InsecureSkipVerify {
			fmt.Fprintf(stderr, "warning: the certificate of endpoint %q will not be verified: anyone on the path can read the passwords and the mail\n", spec.Name)
		}
		added, err := rc.AddEndpoint(ctx, spec)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(added)
		}
		host, port, sec := added.Host, added.Port, added.Security
		if eff := added.Effective; eff != nil {
			host, port, sec = eff.Host, eff.Port, eff.Security
		}
		fmt.Fprintf(stdout, "endpoint %q added: %s:%d %s, credentials %s\n", added.Name, host, port, sec, added.Credentials)
		fmt.Fprintf(stdout, "check it with: imapmigrate endpoint test %s\n", added.Name)
		return nil
	})
	return cmd
}

const endpointTestHelp = `Log in to an endpoint and show what the server offers: capabilities,
namespaces, the hierarchy separator and the number of folders.

Without --user it logs in with the endpoint's admin credentials; with
--user, as that user with the password from --password-file or
IMAPMIGRATE_TEST_PASSWORD. Nothing is changed on the server.`

func newEndpointTestCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var user, pwFile string
	cmd := &cobra.Command{
		Use:   "test NAME",
		Short: "Log in to an endpoint and show its capabilities",
		Long:  endpointTestHelp,
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&user, "user", "", "log in as this user instead of the admin")
	cmd.Flags().StringVar(&pwFile, "password-file", "", "file holding the --user password (or env IMAPMIGRATE_TEST_PASSWORD)")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		var pw string
		switch {
		case user == "" && pwFile != "":
			return exitf(ExitUsage, "--password-file needs --user (without it, the endpoint's admin credentials are tested)")
		case user != "":
			var err error
			if pw, err = passwordFrom("password-file", pwFile, "IMAPMIGRATE_TEST_PASSWORD"); err != nil {
				return exitf(ExitUsage, "%w", err)
			}
			if pw == "" {
				return exitf(ExitUsage, "no password for --user %s: give --password-file or set IMAPMIGRATE_TEST_PASSWORD", user)
			}
		}
		res, err := rc.TestEndpoint(ctx, args[0], user, pw)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(res)
		}
		printEndpointTest(stdout, res)
		return nil
	})
	return cmd
}

func printEndpointTest(w io.Writer, res *service.EndpointTest) {
	who := orDash(res.User)
	if res.User == "" {
		who = "the admin"
	}
	fmt.Fprintf(w, "Endpoint %s: logged in as %s in %.2fs\n", clean(res.Endpoint), who, res.Elapsed)
	fmt.Fprintln(w, "Capabilities:")
	for _, line := range wrapWords(res.Capabilities, 72) {
		fmt.Fprintf(w, "  %s\n", clean(line))
	}
	fmt.Fprintln(w, "Namespaces:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ns := range res.Namespaces {
		fmt.Fprintf(tw, "  %s\t%q\tseparator %q\n", clean(ns.Kind), ns.Prefix, ns.Separator)
	}
	if len(res.Namespaces) == 0 {
		fmt.Fprintln(tw, "  (none announced: the server lacks NAMESPACE)")
	}
	tw.Flush()
	fmt.Fprintf(w, "Hierarchy separator: %q\n", res.Separator)
	fmt.Fprintf(w, "Folders: %d\n", res.Folders)
}

// wrapWords joins words into lines of at most width characters (a longer
// word gets a line of its own).
func wrapWords(words []string, width int) []string {
	var lines []string
	var line strings.Builder
	for _, word := range words {
		if line.Len() > 0 && line.Len()+1+len(word) > width {
			lines = append(lines, line.String())
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	if line.Len() > 0 {
		lines = append(lines, line.String())
	}
	return lines
}

func newEndpointListCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the endpoints",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		eps, err := rc.Endpoints(ctx)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(eps)
		}
		if len(eps) == 0 {
			fmt.Fprintln(stdout, "No endpoints. Add one with: imapmigrate endpoint add NAME --host HOST")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		// CONNECTIONS is what the service opens per mailbox now, as a
		// source / as a destination: lower while the server throttles.
		fmt.Fprintln(tw, "NAME\tHOST\tPORT\tSECURITY\tAUTH\tCREDENTIALS\tADMIN\tMAX MIGRATIONS\tMAX INCREMENTAL\tCONNECTIONS (SRC/DST)")
		for _, ep := range eps {
			if eff := ep.Effective; eff != nil {
				// What is in effect, the profile's defaults included.
				ep.Host, ep.Port, ep.Security = eff.Host, eff.Port, eff.Security
				ep.MaxConcurrentMigrations, ep.MaxConcurrentIncrementalSyncs = eff.MaxConcurrentMigrations, eff.MaxConcurrentIncrementalSyncs
				if ep.Credentials == service.CredentialsAdmin {
					ep.AdminFormat = eff.AdminFormat
				}
			}
			if ep.OAuth != nil {
				ep.Credentials += " (" + string(ep.OAuth.Provider) + ")"
			}
			sec := ep.Security
			switch {
			case ep.InsecureSkipVerify:
				sec += " (unverified)"
			case ep.CertSHA256 != "":
				sec += " (pinned)"
			}
			admin := "-"
			if ep.Credentials == "admin" || ep.AdminUser != "" {
				admin = fmt.Sprintf("%s (%s", orDash(ep.AdminUser), orDash(ep.AdminFormat))
				if ep.HasAdminPassword {
					admin += ", password set"
				}
				admin += ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d/%d\n", clean(ep.Name), clean(ep.Host), ep.Port, clean(sec),
				clean(ep.AuthMechanism), clean(ep.Credentials), admin, ep.MaxConcurrentMigrations, ep.MaxConcurrentIncrementalSyncs,
				ep.SourceConnections, ep.DestConnections)
		}
		return tw.Flush()
	})
	return cmd
}

func newEndpointRemoveCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an endpoint that no batch uses",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		if err := rc.RemoveEndpoint(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "endpoint %q removed\n", args[0])
		return nil
	})
	return cmd
}
