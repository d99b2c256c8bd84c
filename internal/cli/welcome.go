package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

const welcomeHelp = `Welcome letters tell each user of a batch that their mailbox is moving and
how to set up their mail program for the new server: the new IMAP (and
SMTP) server, port, security and user name, an optional webmail address and
a message of your own.

The default letter exists in English and French. Your own template is Go
text/template text whose first line is the subject ("Subject: ..."); see
'imapmigrate welcome template' for the defaults and the README for the
fields.`

func newWelcomeCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "welcome",
		Short: "Preview the welcome letter for users, or print its template",
		Long:  welcomeHelp,
		Args:  cobra.NoArgs,
		RunE:  showHelp,
	}
	cmd.AddCommand(newWelcomePreviewCmd(stdout), newWelcomeTemplateCmd(stdout))
	return cmd
}

const welcomePreviewHelp = `Render a welcome letter and print it, as the user would get it, without
sending anything. Without --user and --imap-host, sample values show the
layout. A template error is reported with its line.`

const welcomePreviewExample = `  imapmigrate welcome preview --lang fr --user alice@new.example --source-user alice \
    --imap-host imap.new.example --smtp-host smtp.new.example --organization "Example IT"
  imapmigrate welcome preview --template letter.txt --message-file note.txt`

func newWelcomePreviewCmd(stdout io.Writer) *cobra.Command {
	var (
		lang, templateFile, message, messageFile string
		imapSecurity, smtpSecurity               string
		imapPort, smtpPort                       int
		smtpHost                                 string
		d                                        notify.WelcomeData
	)
	cmd := &cobra.Command{
		Use:     "preview",
		Short:   "Print a welcome letter without sending it",
		Long:    welcomePreviewHelp,
		Example: welcomePreviewExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&lang, "lang", "en", "language of the default letter: "+strings.Join(notify.Languages, ", "))
	f.StringVar(&templateFile, "template", "", "your own template file instead of the default letter")
	f.StringVar(&d.Address, "user", "alice@example.com", "the user's e-mail address (the letter goes there)")
	f.StringVar(&d.SourceUser, "source-user", "", "the user's login at the old server")
	f.StringVar(&d.DestinationUser, "dest-user", "", "the user's login at the new server (default --user)")
	f.StringVar(&d.Organization, "organization", "", "who the letter is from, e.g. \"Example Corp IT\"")
	f.StringVar(&d.IMAP.Host, "imap-host", "imap.example.com", "the new IMAP server")
	f.IntVar(&imapPort, "imap-port", 0, "its port (default 993 with tls, else 143)")
	f.StringVar(&imapSecurity, "imap-security", "tls", "its security: tls, starttls or none")
	f.StringVar(&smtpHost, "smtp-host", "", "the new outgoing (SMTP) server for the user's mail program (default: not in the letter)")
	f.IntVar(&smtpPort, "smtp-port", 0, "its port (default 465 with tls, 587 with starttls, 25 with none)")
	f.StringVar(&smtpSecurity, "smtp-security", "starttls", "its security: tls, starttls or none")
	f.StringVar(&d.WebmailURL, "webmail-url", "", "the new webmail's address")
	f.StringVar(&message, "message", "", "your own words, a paragraph of the letter")
	f.StringVar(&messageFile, "message-file", "", "a file holding --message")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		for _, s := range []struct{ flag, value string }{{"imap-security", imapSecurity}, {"smtp-security", smtpSecurity}} {
			switch s.value {
			case "tls", "starttls", "none":
			default:
				return exitf(ExitUsage, "--%s %q: want tls, starttls or none", s.flag, s.value)
			}
		}
		d.IMAP.Port, d.IMAP.Security = imapPort, imapSecurity
		if smtpHost != "" {
			d.SMTP = &notify.Server{Host: smtpHost, Port: smtpPort, Security: smtpSecurity}
		}
		d.Message = message
		if messageFile != "" {
			if message != "" {
				return exitf(ExitUsage, "give --message or --message-file, not both")
			}
			b, err := os.ReadFile(messageFile)
			if err != nil {
				return exitf(ExitUsage, "--message-file: %w", err)
			}
			d.Message = strings.TrimRight(string(b), "\r\n")
		}
		var custom string
		if templateFile != "" {
			b, err := os.ReadFile(templateFile)
			if err != nil {
				return exitf(ExitUsage, "--template: %w", err)
			}
			if custom = string(b); strings.TrimSpace(custom) == "" {
				return exitf(ExitUsage, "--template %s is empty", templateFile)
			}
		}
		letter, err := notify.Render(lang, custom, d)
		if err != nil {
			if templateFile != "" {
				return exitf(ExitUsage, "--template %s: %w", templateFile, err)
			}
			return exitf(ExitUsage, "%w", err)
		}
		_, err = fmt.Fprintf(stdout, "To: %s\nSubject: %s\n\n%s", d.Address, letter.Subject, letter.Body)
		return err
	}
	return cmd
}

func newWelcomeTemplateCmd(stdout io.Writer) *cobra.Command {
	var lang string
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Print the default welcome letter's template, to start your own from",
		Long: `Print the template of the default welcome letter in --lang. Save it, change
it, and give it to 'imapmigrate welcome preview --template FILE'.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&lang, "lang", "en", "language: "+strings.Join(notify.Languages, ", "))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		text, err := notify.DefaultTemplate(lang)
		if err != nil {
			return exitf(ExitUsage, "--lang: %w", err)
		}
		_, err = io.WriteString(stdout, text)
		return err
	}
	return cmd
}
