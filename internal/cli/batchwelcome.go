package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/notify"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

const batchWelcomeHelp = `Set up, preview and send the welcome letters of a batch: a letter to each
user that says their mailbox is moving and how to set up their mail program
for the new server (see 'imapmigrate welcome' for the letter and its
template's fields).

With settings flags, the batch's letter settings change (the flags given
replace those stored; the others stay). The new IMAP server defaults to the
destination endpoint's host, port and security; the SMTP server is in the
letter only when given. --at-completion sends the letter to every Completed
user, once, when the batch completes.

--preview prints a user's letter (the batch's first user without --user)
and sends nothing. --send queues the letter for every user (or --user),
sent to the user's EmailAddress, and waits up to --wait for the results;
users who were sent one already are skipped unless --resend. --status (the
default) shows the settings and, per user, the last letter: when it was
sent, its Message-ID and the server's answer, or the error.

Sending needs the server's [smtp] settings. Exit status 1 when a letter
could not be sent.`

const batchWelcomeExample = `  imapmigrate batch welcome spring --lang fr --organization "Example IT" \
    --imap-host imap.new.example --smtp-host smtp.new.example --message-file note.txt --at-completion
  imapmigrate batch welcome spring --preview --user alice@example.com
  imapmigrate batch welcome spring --send
  imapmigrate batch welcome spring --send --user alice@example.com --resend
  imapmigrate batch welcome spring --status`

// welcomeSettingFlags are the flags that change the stored settings.
var welcomeSettingFlags = []string{"lang", "template", "message", "message-file", "organization", "imap-host", "imap-port",
	"imap-security", "smtp-host", "smtp-port", "smtp-security", "webmail-url", "at-completion"}

func newBatchWelcomeCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		preview, send, status, resend bool
		user                          string
		wait                          time.Duration
		templateFile, messageFile     string
		set                           service.WelcomeOptions
		smtp                          service.WelcomeServer
	)
	cmd := &cobra.Command{
		Use:     "welcome NAME",
		Short:   "Set up, preview and send a batch's welcome letters",
		Long:    batchWelcomeHelp,
		Example: batchWelcomeExample,
		Args:    cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.BoolVar(&preview, "preview", false, "print a user's letter; send nothing")
	f.BoolVar(&send, "send", false, "send the letters")
	f.BoolVar(&status, "status", false, "show the settings and each user's last letter (the default)")
	f.StringVar(&user, "user", "", "only this user (e-mail address), with --preview or --send")
	f.BoolVar(&resend, "resend", false, "with --send: send again to users who were sent one already")
	f.DurationVar(&wait, "wait", time.Minute, "with --send: how long to wait for the letters to go before printing how each went")
	f.StringVar(&set.Language, "lang", "", "language of the default letter: "+strings.Join(notify.Languages, ", "))
	f.StringVar(&templateFile, "template", "", "your own template file instead of the default letter")
	f.StringVar(&set.Message, "message", "", "your own words, a paragraph of the letter")
	f.StringVar(&messageFile, "message-file", "", "a file holding --message")
	f.StringVar(&set.Organization, "organization", "", "who the letter is from")
	f.StringVar(&set.IMAP.Host, "imap-host", "", "the new IMAP server (default: the destination endpoint's)")
	f.IntVar(&set.IMAP.Port, "imap-port", 0, "its port (default: the endpoint's, or the usual one for --imap-security)")
	f.StringVar(&set.IMAP.Security, "imap-security", "", "its security: tls, starttls or none (default: the endpoint's)")
	f.StringVar(&smtp.Host, "smtp-host", "", "the new outgoing (SMTP) server for the users' mail programs")
	f.IntVar(&smtp.Port, "smtp-port", 0, "its port (default 465 with tls, 587 with starttls, 25 with none)")
	f.StringVar(&smtp.Security, "smtp-security", "starttls", "its security: tls, starttls or none")
	f.StringVar(&set.WebmailURL, "webmail-url", "", "the new webmail's address")
	f.BoolVar(&set.AtCompletion, "at-completion", false, "send the letters when the batch completes (--at-completion=false to stop)")

	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		name := args[0]
		changed := slices.ContainsFunc(welcomeSettingFlags, func(fl string) bool { return f.Changed(fl) })
		modes := 0
		for _, on := range []bool{preview, send, status, changed} {
			if on {
				modes++
			}
		}
		switch {
		case modes > 1:
			return exitf(ExitUsage, "give one of --preview, --send, --status or settings flags")
		case user != "" && !preview && !send:
			return exitf(ExitUsage, "--user goes with --preview or --send")
		case resend && !send:
			return exitf(ExitUsage, "--resend goes with --send")
		case changed:
			return setWelcome(ctx, rc, name, f.Changed, set, smtp, templateFile, messageFile)
		case preview:
			p, err := rc.PreviewWelcome(ctx, name, service.WelcomeRequest{User: user})
			if err != nil {
				return err
			}
			if rc.json {
				return rc.printJSON(p)
			}
			_, err = fmt.Fprintf(stdout, "To: %s\nSubject: %s\n\n%s", p.To, p.Subject, p.Body)
			return err
		case send:
			return sendWelcome(ctx, rc, name, service.WelcomeRequest{User: user, Resend: resend}, wait)
		}
		st, err := rc.Welcome(ctx, name)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(st)
		}
		printWelcomeSettings(stdout, st)
		fmt.Fprintln(stdout)
		printLetters(stdout, st.Letters)
		return nil
	})
	return cmd
}

// setWelcome lays the flags given over the stored settings.
func setWelcome(ctx context.Context, rc *remote, name string, changed func(string) bool, set service.WelcomeOptions,
	smtp service.WelcomeServer, templateFile, messageFile string) error {
	st, err := rc.Welcome(ctx, name)
	if err != nil {
		return err
	}
	o := st.Options
	if changed("lang") {
		o.Language = set.Language
	}
	if changed("message") {
		o.Message = set.Message
	}
	if changed("organization") {
		o.Organization = set.Organization
	}
	if changed("imap-host") {
		o.IMAP.Host = set.IMAP.Host
	}
	if changed("imap-port") {
		o.IMAP.Port = set.IMAP.Port
	}
	if changed("imap-security") {
		o.IMAP.Security = set.IMAP.Security
	}
	if changed("webmail-url") {
		o.WebmailURL = set.WebmailURL
	}
	if changed("at-completion") {
		o.AtCompletion = set.AtCompletion
	}
	if changed("message-file") {
		if changed("message") {
			return exitf(ExitUsage, "give --message or --message-file, not both")
		}
		b, err := os.ReadFile(messageFile)
		if err != nil {
			return exitf(ExitUsage, "--message-file: %w", err)
		}
		o.Message = strings.TrimRight(string(b), "\r\n")
	}
	if changed("template") {
		o.Template = ""
		if templateFile != "" {
			b, err := os.ReadFile(templateFile)
			if err != nil {
				return exitf(ExitUsage, "--template: %w", err)
			}
			if o.Template = string(b); strings.TrimSpace(o.Template) == "" {
				return exitf(ExitUsage, "--template %s is empty", templateFile)
			}
		}
	}
	switch {
	case changed("smtp-host") && smtp.Host == "":
		o.SMTP = nil
	case changed("smtp-host") || changed("smtp-port") || changed("smtp-security"):
		s := service.WelcomeServer{Security: smtp.Security}
		if o.SMTP != nil {
			s = *o.SMTP
		}
		if changed("smtp-host") {
			s.Host = smtp.Host
		}
		if changed("smtp-port") {
			s.Port = smtp.Port
		}
		if changed("smtp-security") {
			s.Security = smtp.Security
		}
		if s.Host == "" {
			return exitf(ExitUsage, "--smtp-port and --smtp-security go with --smtp-host")
		}
		o.SMTP = &s
	}
	st, err = rc.SetWelcome(ctx, name, o)
	if err != nil {
		return err
	}
	if rc.json {
		return rc.printJSON(st)
	}
	fmt.Fprintf(rc.stdout, "batch %q: welcome letter settings saved\n", name)
	printWelcomeSettings(rc.stdout, st)
	return nil
}

// sendWelcome queues the letters and waits up to wait for them to go.
func sendWelcome(ctx context.Context, rc *remote, name string, req service.WelcomeRequest, wait time.Duration) error {
	res, err := rc.SendWelcome(ctx, name, req)
	if err != nil {
		return err
	}
	if rc.json {
		return rc.printJSON(res)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(rc.stdout, "skipped %s: %s\n", s.Address, clean(s.Reason))
	}
	fmt.Fprintf(rc.stdout, "%d letter(s) queued\n", len(res.Queued))
	if len(res.Queued) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := rc.Welcome(ctx, name)
		if err != nil {
			return err
		}
		var mine []service.WelcomeLetter
		queued, failed := 0, 0
		for _, l := range st.Letters {
			if slices.Contains(res.Queued, l.Address) {
				mine = append(mine, l)
				switch l.State {
				case "queued":
					queued++
				case "failed":
					failed++
				}
			}
		}
		if queued == 0 || !time.Now().Before(deadline) {
			printLetters(rc.stdout, mine)
			if queued > 0 {
				fmt.Fprintf(rc.stdout, "%d letter(s) still queued: the server tries again; see imapmigrate batch welcome %s --status\n", queued, name)
			}
			if failed > 0 {
				return exitf(ExitInternal, "%d letter(s) could not be sent; see above", failed)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printWelcomeSettings(w io.Writer, st *service.WelcomeStatus) {
	o := st.Options
	lang := o.Language
	if lang == "" {
		lang = "en"
	}
	letter := "the default letter in " + lang
	if o.Template != "" {
		letter = "your own template"
	}
	fmt.Fprintf(w, "Letter:         %s\n", letter)
	fmt.Fprintf(w, "Organization:   %s\n", orDash(o.Organization))
	fmt.Fprintf(w, "IMAP server:    %s port %d, %s\n", clean(st.IMAP.Host), st.IMAP.Port, st.IMAP.Security)
	if o.SMTP != nil {
		fmt.Fprintf(w, "SMTP server:    %s port %s, %s\n", clean(o.SMTP.Host), portOrUsual(o.SMTP.Port), o.SMTP.Security)
	} else {
		fmt.Fprintln(w, "SMTP server:    - (not in the letter)")
	}
	fmt.Fprintf(w, "Webmail:        %s\n", orDash(o.WebmailURL))
	fmt.Fprintf(w, "Message:        %s\n", orDash(firstLine(o.Message)))
	when := "when you send them (--send)"
	if o.AtCompletion {
		when = "at completion, to the Completed users, and when you send them"
	}
	fmt.Fprintf(w, "Sent:           %s\n", when)
	if !st.MailConfigured {
		fmt.Fprintln(w, "Mail:           the server has no [smtp] settings: letters can be previewed, not sent")
	}
}

func portOrUsual(p int) string {
	if p == 0 {
		return "usual"
	}
	return fmt.Sprint(p)
}

func firstLine(s string) string {
	line, _, more := strings.Cut(s, "\n")
	if more {
		line += " ..."
	}
	return line
}

// printLetters prints each user's last letter.
func printLetters(w io.Writer, letters []service.WelcomeLetter) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tLETTER\tSENT\tSENDS\tMESSAGE-ID\tSERVER SAID")
	for _, l := range letters {
		said := l.Response
		if l.Error != "" {
			said = l.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.Address, orDash(l.State), formatTime(l.Sent), l.Sends, orDash(l.MessageID), orDash(said))
	}
	tw.Flush()
}

const batchNotificationsHelp = `List the report mails of a batch: the event (initial_sync,
incremental_errors with its round, completed), when it happened, the
recipients, and whether the mail went (its Message-ID and the server's
answer) or why not. Reports go to the batch's --notify addresses when the
server has [smtp] settings.`

func newBatchNotificationsCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notifications NAME",
		Short: "List the report mails sent for a batch",
		Long:  batchNotificationsHelp,
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		ns, err := rc.Notifications(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(ns)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tAT\tTO\tSTATE\tATTEMPTS\tSENT\tMESSAGE-ID\tSERVER SAID")
		for _, n := range ns {
			event := n.Event
			if n.Round > 0 {
				event += fmt.Sprintf(" (round %d)", n.Round)
			}
			said := n.Response
			if n.Error != "" {
				said = n.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", event, formatTime(&n.At), strings.Join(n.Recipients, ", "), n.State,
				n.Attempts, formatTime(n.Sent), n.MessageID, orDash(said))
		}
		return tw.Flush()
	})
	return cmd
}
