package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/apiclient"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

const batchHelp = `Manage migration batches, the way Exchange Online's IMAP migration does.

A batch moves the mailboxes listed in a CSV file from a source endpoint to a
destination endpoint. Starting it copies every mailbox once (the initial
sync, newest mail first); the batch is then Synced and copies new mail again
every 24 hours (incremental syncs) until you complete it, typically after
switching the MX records. Completing runs a last incremental sync. The
source is only ever read, and no command deletes mail.

These commands talk to a running server (imapmigrate serve); see --server
and --data.`

func newBatchCmd(stdout, stderr io.Writer) *cobra.Command {
	rf := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Create, run and report migration batches",
		Long:  batchHelp,
		Args:  cobra.NoArgs,
		RunE:  showHelp,
	}
	rf.register(cmd)
	cmd.AddCommand(
		newBatchCreateCmd(rf, stdout, stderr),
		newBatchAddUsersCmd(rf, stdout, stderr),
		newBatchStatusCmd(rf, stdout, stderr),
		newBatchListCmd(rf, stdout, stderr),
		newBatchUsersCmd(rf, stdout, stderr),
		newBatchReportCmd(rf, stdout, stderr),
		newBatchRemoveCmd(rf, stdout, stderr),
		newBatchCompleteCmd(rf, stdout, stderr), newBatchVerifyCmd(rf, stdout, stderr), newBatchGradesCmd(rf, stdout, stderr), newBatchDNSCmd(rf, stdout, stderr),
		newBatchValidateCmd(rf, stdout, stderr),
		newBatchWelcomeCmd(rf, stdout, stderr), newBatchNotificationsCmd(rf, stdout, stderr),
	)
	for _, a := range batchActions {
		cmd.AddCommand(newBatchActionCmd(rf, stdout, stderr, a.use, a.short, a.long, a.call))
	}
	return cmd
}

// batchActions are the commands that move a batch to another state.
var batchActions = []struct {
	use, short, long string
	call             func(*apiclient.Client, context.Context, string) (*service.Batch, error)
}{
	{"start", "Start (or resume) migrating a batch's mailboxes",
		"Start the initial sync of every mailbox of the batch, or resume a stopped\nbatch where it left off. Mailboxes are migrated as the endpoints' concurrency\nlimits allow; the others wait as Queued.",
		(*apiclient.Client).StartBatch},
	{"stop", "Stop a batch's syncs",
		"Stop every running and queued sync of the batch. Mail already copied stays\nat the destination; start the batch again to go on.",
		(*apiclient.Client).StopBatch},
	{"sync-now", "Run an incremental sync now",
		"Run an incremental sync of every synced mailbox of the batch now, instead\nof waiting for the next one (every 24 hours by default). Blocked mailboxes\n(destination over quota) are tried again too.",
		(*apiclient.Client).SyncNow},
	{"retry-failed", "Retry the batch's failed and blocked mailboxes",
		"Queue every mailbox of the batch that Failed or is Blocked for another sync;\nthe others are left alone. Fix the cause first (see batch users and user\nstatus): for a Blocked one, raise the destination mailbox's quota.",
		(*apiclient.Client).RetryFailed},
}

func newBatchActionCmd(rf *remoteFlags, stdout, stderr io.Writer, use, short, long string,
	call func(*apiclient.Client, context.Context, string) (*service.Batch, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		b, err := call(rc.Client, ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(b)
		}
		fmt.Fprintf(stdout, "batch %q: %s\n", b.Name, b.State)
		return nil
	})
	return cmd
}

const batchCreateHelp = `Create a batch from a CSV file of users.

The CSV file is the one Exchange Online takes: a header line, then one user
a line, with the columns EmailAddress (the destination mailbox), UserName
and Password (the source login), and optionally UserRoot,
DestinationUserName and DestinationPassword. The server checks the whole
file first and lists every problem with its line; nothing is created until
the file is right. Passwords are stored encrypted and never shown.

--dry-run checks the file and prints the users the batch would have,
without creating it. --start starts the batch at once.

Dates are local time unless they carry a zone: --received-after takes
2024-01-31 or RFC 3339; --start-after and --complete-after take
"2026-12-01 18:00" or RFC 3339, in --timezone when given (an IANA name
such as Europe/Paris, which the batch's times are then shown in).

--start-after works as Exchange's: batch start (or --start) before that
time leaves the batch Scheduled, and the service starts it at the time.`

const batchCreateExample = `  imapmigrate batch create spring --source-endpoint old --dest-endpoint new \
    --csv users.csv --exclude-folder 'Junk*' --notify admin@example.com --start`

func newBatchCreateCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		spec          service.BatchSpec
		csvPath       string
		maxSize       string
		receivedAfter string
		schedule      scheduleFlags
		interval      time.Duration
	)
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a batch from a CSV file of users",
		Long:    batchCreateHelp,
		Example: batchCreateExample,
		Args:    cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	o := &spec.Options
	f.StringVar(&spec.SourceEndpoint, "source-endpoint", "", "endpoint to migrate from (required)")
	f.StringVar(&spec.DestEndpoint, "dest-endpoint", "", "endpoint to migrate to (required)")
	f.StringVar(&csvPath, "csv", "", "CSV file of users (required)")
	f.BoolVar(&spec.Start, "start", false, "start the batch once it is created")
	f.BoolVar(&spec.DryRun, "dry-run", false, "check the CSV file and print the users; create nothing")
	f.StringArrayVar(&o.IncludeFolders, "include-folder", nil, "migrate only folders matching this pattern (repeatable; * matches anything, % anything but /)")
	f.StringArrayVar(&o.ExcludeFolders, "exclude-folder", nil, "do not migrate folders matching this pattern (repeatable)")
	f.StringVar(&maxSize, "max-message-size", "35MiB", "skip (and report) larger messages: bytes or with a unit (KiB, MiB, GiB, KB, MB, GB)")
	f.IntVar(&o.MaxItems, "max-items", mailsync.DefaultMaxItems, "migrate at most the newest N messages of each mailbox")
	f.StringVar(&receivedAfter, "received-after", "", "leave out messages received before this date (2024-01-31 or RFC 3339)")
	f.StringVar(&o.GmailLabels, "gmail-labels", "", "Gmail source: folders (default: each label a folder) or keywords (All Mail only, each message once, labels as keywords)")
	f.BoolVar(&o.DisarmReadReceipts, "disarm-read-receipts", false, "add $MDNSent to copied messages that ask for a read receipt, so that the destination's mail programs do not offer one again (Office 365)")
	schedule.register(f)
	f.StringSliceVar(&o.NotificationEmails, "notify", nil, "addresses to send the batch's reports to (comma-separated)")
	f.StringArrayVar(&o.ExpectMX, "expect-mx", nil, "the destination's MX host, for batch dns and complete --after-mx-switch (repeatable; *.SUFFIX for any host under SUFFIX)")
	f.DurationVar(&interval, "incremental-interval", 24*time.Hour, "time between incremental syncs")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		spec.Name = args[0]
		if spec.SourceEndpoint == "" || spec.DestEndpoint == "" {
			return exitf(ExitUsage, "--source-endpoint and --dest-endpoint are required (see imapmigrate endpoint list)")
		}
		var err error
		if o.MaxMessageSize, err = size.Parse(maxSize); err != nil || o.MaxMessageSize == 0 {
			return exitf(ExitUsage, "--max-message-size %q: want a size above 0, such as 35MiB", maxSize)
		}
		if o.MaxItems < 1 {
			return exitf(ExitUsage, "--max-items must be 1 or more")
		}
		if interval <= 0 {
			return exitf(ExitUsage, "--incremental-interval must be more than 0, such as 24h")
		}
		o.IncrementalIntervalSeconds = int64(interval / time.Second)
		if o.ReceivedAfter, err = parseWhen(receivedAfter, "2006-01-02"); err != nil {
			return exitf(ExitUsage, "--received-after: %w", err)
		}
		if err := schedule.apply(o); err != nil {
			return err
		}
		if spec.CSV, err = readCSV(csvPath); err != nil {
			return err
		}
		b, plan, err := rc.CreateBatch(ctx, spec)
		if err != nil {
			return err
		}
		switch {
		case rc.json && plan != nil:
			return rc.printJSON(plan)
		case rc.json:
			return rc.printJSON(b)
		case plan != nil:
			printPlan(stdout, plan)
		default:
			fmt.Fprintf(stdout, "batch %q created with %d users: %s\n", b.Name, b.Totals.Users, b.State)
			if !spec.Start {
				fmt.Fprintf(stdout, "start it with: imapmigrate batch start %s\n", b.Name)
			}
		}
		return nil
	})
	return cmd
}

// parseWhen reads s as RFC 3339, or as layout in local time; "" is no time.
func parseWhen(s, layout string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.ParseInLocation(layout, s, time.Local); err != nil {
			return nil, fmt.Errorf("%q: want %s or RFC 3339 (%s)", s, layout, time.RFC3339)
		}
	}
	return &t, nil
}

func printPlan(w io.Writer, plan *service.BatchPlan) {
	fmt.Fprintf(w, "Dry run: nothing was created. Batch %q would have %d users:\n\n", plan.Name, len(plan.Users))
	roots := slices.ContainsFunc(plan.Users, func(u service.PlanUser) bool { return u.UserRoot != "" })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "LINE\tEMAIL\tSOURCE LOGIN\tDESTINATION USER"
	if roots {
		header += "\tUSER ROOT"
	}
	fmt.Fprintln(tw, header)
	for _, u := range plan.Users {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s", u.Line, orDash(u.EmailAddress), orDash(u.SourceLogin), orDash(u.DestinationUser))
		if roots {
			fmt.Fprintf(tw, "\t%s", orDash(u.UserRoot))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func newBatchAddUsersCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var csvPath string
	cmd := &cobra.Command{
		Use:   "add-users NAME",
		Short: "Add the users of a CSV file to a batch",
		Long:  "Add the users of a CSV file (the format of batch create) to a batch. A\nstarted batch starts migrating them at once.",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&csvPath, "csv", "", "CSV file of users (required)")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		csv, err := readCSV(csvPath)
		if err != nil {
			return err
		}
		n, err := rc.AddUsers(ctx, args[0], csv)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(map[string]int{"added": n})
		}
		fmt.Fprintf(stdout, "added %d users to batch %q\n", n, args[0])
		return nil
	})
	return cmd
}

func newBatchRemoveCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a batch (mail is never deleted)",
		Long: "Stop the batch's syncs and forget the batch, its users and their sync state.\n" +
			"Mail is never deleted, at the source or at the destination. Removal goes\n" +
			"on in the background; batch list shows the batch as Removing until then.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		if err := rc.RemoveBatch(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "batch %q: removal started: mail is never deleted\n", args[0])
		return nil
	})
	return cmd
}

// userStates orders the users-by-state figures the way a mailbox moves.
var userStates = []string{
	service.UserQueued, service.UserValidating, service.UserSyncing, service.UserSynced,
	service.UserIncrementalSyncing, service.UserCompleting, service.UserCompleted,
	service.UserStopped, service.UserFailed, service.UserBlocked,
}

// byState lists the non-zero counts in userStates order, then any state
// this command does not know (from a newer server).
func byState(m map[string]int) string {
	var parts []string
	for _, s := range userStates {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	for _, s := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(userStates, s) && m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", clean(s), m[s]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// syncedUsers counts the users whose mailbox has been copied once: those
// kept up to date by incremental syncs and those completed.
func syncedUsers(t service.BatchTotals) int {
	return t.UsersByState[service.UserSynced] + t.UsersByState[service.UserIncrementalSyncing] +
		t.UsersByState[service.UserCompleting] + t.UsersByState[service.UserCompleted]
}

func newBatchStatusCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a batch's state, figures and options",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		b, err := rc.Batch(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(b)
		}
		printBatch(stdout, b)
		return nil
	})
	return cmd
}

func printBatch(w io.Writer, b *service.Batch) {
	t, o := b.Totals, b.Options
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(label, format string, args ...any) { fmt.Fprintf(tw, label+":\t"+format+"\n", args...) }
	line("Batch", "%s", clean(b.Name))
	line("State", "%s", clean(b.State))
	line("From", "%s to %s", clean(b.SourceEndpoint), clean(b.DestEndpoint))
	line("Created", "%s", formatTime(&b.Created))
	line("Started", "%s", formatTime(b.Started))
	if b.Completed != nil {
		line("Completed", "%s", formatTime(b.Completed))
	}
	line("Last sync", "%s", formatTime(b.LastSync))
	line("Next sync", "%s", formatTime(b.NextSync))
	if b.Stale && b.StaleSince != nil {
		line("Stale", "synced with no action for %d days: complete it or remove it", staleDays(*b.StaleSince))
	}
	if c := b.Cutover; c != nil {
		line("Completes after", "the MX switch to %s: %s", clean(strings.Join(c.ExpectMX, ", ")), clean(c.Status))
	}
	line("Users", "%d (%s)", t.Users, byState(t.UsersByState))
	line("Items", "%d synced, %d skipped, %d failed", t.ItemsSynced, t.ItemsSkipped, t.ItemsFailed)
	line("Size", "%s", size.Format(t.Bytes))
	if t.ItemsToCopy > 0 {
		line("This pass", "%d of %d messages copied", t.ItemsCopied, t.ItemsToCopy)
	}
	// A line without a tab ends tabwriter's column block, so the options
	// align among themselves.
	fmt.Fprintln(tw, "Options:")
	line("  Include folders", "%s", orDash(strings.Join(o.IncludeFolders, ", ")))
	line("  Exclude folders", "%s", orDash(strings.Join(o.ExcludeFolders, ", ")))
	line("  Max message size", "%s", size.Format(o.MaxMessageSize))
	line("  Max items", "%d", o.MaxItems)
	line("  Received after", "%s", formatTime(o.ReceivedAfter))
	if o.DisarmReadReceipts {
		line("  Read receipts", "%s", "disarmed ($MDNSent added)")
	}
	line("  Start after", "%s", formatIn(o.StartAfter, o))
	line("  Complete after", "%s", formatIn(o.CompleteAfter, o))
	line("  Notify", "%s", orDash(strings.Join(o.NotificationEmails, ", ")))
	line("  Expect MX", "%s", orDash(strings.Join(o.ExpectMX, ", ")))
	line("  Incremental syncs", "every %s", time.Duration(o.IncrementalIntervalSeconds)*time.Second)
	tw.Flush()
}

func newBatchListCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the batches",
		Long:  "List the batches. SYNCED counts the users whose mailbox has been copied\nonce (synced, incrementally syncing, completing or completed); ITEMS the\nmessages at the destination.",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		bs, err := rc.Batches(ctx)
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(bs)
		}
		if len(bs) == 0 {
			fmt.Fprintln(stdout, "No batches. Create one with: imapmigrate batch create NAME --source-endpoint SRC --dest-endpoint DST --csv FILE")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tUSERS\tSYNCED\tFAILED\tBLOCKED\tITEMS\tSKIPPED\tLAST SYNC\tNEXT SYNC")
		for _, b := range bs {
			t := b.Totals
			state := clean(b.State)
			if b.Stale {
				state += " (stale)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", clean(b.Name), state, t.Users, syncedUsers(t),
				t.UsersByState[service.UserFailed], t.UsersByState[service.UserBlocked], t.ItemsSynced, t.ItemsSkipped,
				formatTime(b.LastSync), formatTime(b.NextSync))
		}
		return tw.Flush()
	})
	return cmd
}

func newBatchUsersCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users NAME",
		Short: "List a batch's users with their figures",
		Long:  "List a batch's users with their figures and last error (shortened; see\nuser status for all of it).",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		us, err := rc.Users(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(us)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tSTATUS\tSYNCED\tSKIPPED\tFAILED\tBYTES\tLAST SYNC\tERROR")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", clean(u.EmailAddress), clean(u.Status), u.ItemsSynced, u.ItemsSkipped,
				u.ItemsFailed, size.Format(u.Bytes), formatTime(u.LastSync), truncate(orDash(u.LastError), 60))
		}
		return tw.Flush()
	})
	return cmd
}

func newBatchReportCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var format, output, html string
	cmd := &cobra.Command{
		Use:   "report NAME",
		Short: "Write a batch's report (CSV, JSON or HTML)",
		Long: "Write the report of every user of the batch: per user its figures, per\n" +
			"folder the source and destination counts, and every skipped or failed\n" +
			"message. The CSV form has one row per record, told apart by the Record\n" +
			"column (user, folder, skipped, failed); it opens safely in a spreadsheet.\n\n" +
			"--html FILE writes one self-contained page to send to a customer: the\n" +
			"batch's summary, charts of its progress over time, the users, their\n" +
			"folders and the skipped and failed items. It holds no script and loads\n" +
			"nothing, so it opens offline and in a mail program.",
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv, json or html (--json also chooses json)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&html, "html", "", "write the HTML report to this file (--format html --output FILE)")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		if rc.json && !cmd.Flags().Changed("format") {
			format = "json"
		}
		if html != "" {
			if (cmd.Flags().Changed("format") && format != "html") || (output != "" && output != html) {
				return exitf(ExitUsage, "--html FILE is --format html --output FILE: give one or the other")
			}
			format, output = "html", html
		}
		var data []byte
		switch format {
		case "html":
			b, err := rc.ReportHTML(ctx, args[0])
			if err != nil {
				return err
			}
			data = b
		case "csv":
			b, err := rc.ReportCSV(ctx, args[0])
			if err != nil {
				return err
			}
			data = b
		case "json":
			us, err := rc.Report(ctx, args[0])
			if err != nil {
				return err
			}
			if data, err = indentJSON(us); err != nil {
				return err
			}
		default:
			return exitf(ExitUsage, "--format %q: want csv, json or html", format)
		}
		if output == "" {
			_, err := stdout.Write(data)
			return err
		}
		// Reports name people and their mail: readable by the owner only.
		if err := os.WriteFile(output, data, 0o600); err != nil {
			return exitf(ExitInternal, "write report: %w", err)
		}
		fmt.Fprintf(stdout, "report of batch %q written to %s\n", args[0], output)
		return nil
	})
	return cmd
}
