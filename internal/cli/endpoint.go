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

--max-concurrent-migrations caps the mailboxes migrated through this
server at once across all workers, and --max-concurrent-incremental-syncs
the incremental syncs among them, as Exchange Online's migration endpoints
do; lower them for a server that throttles.`

const endpointAddExample = `  imapmigrate endpoint add old --host imap.old.example.com
  IMAPMIGRATE_ADMIN_PASSWORD=... imapmigrate endpoint add new --host imap.new.example.com \
    --credentials admin --admin-format dovecot --admin-user migrator`

func newEndpointAddCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		ep     service.Endpoint
		pwFile string
	)
	cmd := &cobra.Command{
		Use:     "add NAME",
		Short:   "Add an IMAP server",
		Long:    endpointAddHelp,
		Example: endpointAddExample,
		Args:    cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.StringVar(&ep.Host, "host", "", "server host name (required)")
	f.IntVar(&ep.Port, "port", 993, "server port")
	f.StringVar(&ep.Security, "security", "tls", "tls (implicit TLS), starttls or none")
	f.StringVar(&ep.AuthMechanism, "auth-mechanism", "auto", "auto (SASL PLAIN when offered, else LOGIN), plain or login")
	f.StringVar(&ep.Credentials, "credentials", "per_user", "per_user (logins from the CSV file) or admin")
	f.StringVar(&ep.AdminFormat, "admin-format", "", "how the admin logs in for a user: authzid, dovecot, exchange or template")
	f.StringVar(&ep.AdminTemplate, "admin-template", "", `login name for --admin-format template, e.g. "{user}*{admin}"`)
	f.StringVar(&ep.AdminUser, "admin-user", "", "admin login name")
	f.StringVar(&ep.AdminDomain, "admin-domain", "", "Windows domain of an exchange admin login")
	f.StringVar(&pwFile, "admin-password-file", "", "file holding the admin password (or env IMAPMIGRATE_ADMIN_PASSWORD)")
	f.StringVar(&ep.CAFile, "ca-file", "", "PEM file of certificate authorities to trust (private CA, self-signed), as a path on the server")
	f.BoolVar(&ep.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (unsafe)")
	f.StringVar(&ep.CertSHA256, "cert-sha256", "", "trust only the server certificate with this SHA-256 fingerprint, as openssl x509 -fingerprint -sha256 prints it (self-signed; the safe alternative to --insecure-skip-verify)")
	f.IntVar(&ep.MaxConcurrentMigrations, "max-concurrent-migrations", 20, "mailboxes migrated through this server at once")
	f.IntVar(&ep.MaxConcurrentIncrementalSyncs, "max-concurrent-incremental-syncs", 10, "incremental syncs among them")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		pw, err := passwordFrom("admin-password-file", pwFile, "IMAPMIGRATE_ADMIN_PASSWORD")
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		ep.Name = args[0]
		if ep.InsecureSkipVerify {
			fmt.Fprintf(stderr, "warning: the certificate of endpoint %q will not be verified: anyone on the path can read the passwords and the mail\n", ep.Name)
		}
		added, err := rc.AddEndpoint(ctx, service.EndpointSpec{Endpoint: ep, AdminPassword: pw})
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(added)
		}
		fmt.Fprintf(stdout, "endpoint %q added: %s:%d %s, credentials %s\n", added.Name, added.Host, added.Port, added.Security, added.Credentials)
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
